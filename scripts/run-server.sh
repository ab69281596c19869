#!/bin/sh
# run-server.sh — set everything up on a fresh Debian 12 machine and run a
# development server with its data in ./data (the README's first command).
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh build
make build
exec make run
