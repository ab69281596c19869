#!/bin/sh
# deps.sh [all|build|test] — install the Debian 12 packages that building and
# testing restic-manager need.  Idempotent and quiet when everything is there.
# Must run as root (or with sudo available) on Debian 12 (bookworm).
set -eu
what=${1:-all}

BUILD_PKGS="build-essential make pkg-config libevent-dev libjansson-dev libsqlite3-dev libsodium-dev libcurl4-openssl-dev ca-certificates"
TEST_PKGS="restic python3 python3-pytest python3-requests valgrind sqlite3 curl shellcheck clang-format chromium"
# The windows-amd64 agent's release test runs it under wine (64-bit only: no i386
# architecture needed; the binary is /usr/lib/wine/wine64, no /usr/bin wrapper).
# A test peer, not a build tool: the image's build stage (deps.sh static) skips it.
TEST_PKGS="$TEST_PKGS wine64"
# Browser tests (tests/browser) run on node + npm; take Debian's only when node is missing.
command -v node >/dev/null 2>&1 || TEST_PKGS="$TEST_PKGS nodejs npm"
# Cross/static toolchain for the release artifacts (make agents / dist); see mk/release.mk.
STATIC_PKGS="musl-tools musl-dev:arm64 gcc-aarch64-linux-gnu gcc-mingw-w64-x86-64 qemu-user-static autoconf automake libtool tcl cmake dpkg-dev systemd openssl"

case $what in
build) pkgs=$BUILD_PKGS ;;
test) pkgs="$BUILD_PKGS $TEST_PKGS" ;;
static) pkgs="$BUILD_PKGS $STATIC_PKGS" ;;
all) pkgs="$BUILD_PKGS $TEST_PKGS" ;;
*) echo "usage: $0 [all|build|test|static]" >&2; exit 2 ;;
esac
for extra in ${RM_EXTRA_PKGS:-}; do pkgs="$pkgs $extra"; done

missing=""
for p in $pkgs; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

# musl-dev:arm64 (static arm64 agent/server) needs the arm64 architecture.
case " $missing " in *":arm64 "*)
	if ! dpkg --print-foreign-architectures | grep -qx arm64; then
		if [ "$(id -u)" -eq 0 ]; then dpkg --add-architecture arm64; else sudo dpkg --add-architecture arm64; fi
	fi ;;
esac

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || { echo "deps.sh: need root to install:$missing" >&2; exit 1; }
	SUDO=sudo
fi
echo "deps.sh: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
