#!/bin/sh
# test.sh — set everything up on a fresh Debian 12 machine and run every test
# suite (the README's second command; .ci/run calls it).
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh test
exec make check
