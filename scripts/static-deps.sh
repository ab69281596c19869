#!/usr/bin/env bash
# static-deps.sh — build the third-party libraries of the static release binaries
# from Debian's own source packages, once per machine, and link them into
# build/deps/<target>/{include,lib}.
#
#   targets  x86_64-linux-musl, aarch64-linux-musl : mbedtls, curl (over mbedTLS,
#            minimal features), jansson (agents) + libevent (no OpenSSL), sqlite3,
#            libsodium (server)
#            + a second curl for the server (over mbedTLS, HTTP(S) and SMTP(S), -O2,
#              in <target>/server-curl: alert notifications, docs/ARCHITECTURE.md)
#            x86_64-w64-mingw32                    : mbedtls, jansson, curl (Schannel)
#
# Nothing third-party enters the clone: `apt-get source` unpacks into a cache,
#   ${RM_DEPS_CACHE:-/var/cache/restic-manager/deps}/<key>/
# where <key> names the Debian source versions (plus RECIPE, bumped whenever a build
# flag below changes).  build/deps/<target> is a symlink into that cache.  Every
# library has a stamp file, so a second run with the cache present takes seconds and
# an interrupted run resumes where it stopped.
#
# usage: scripts/static-deps.sh [TARGET...]   (default: all three)
# env:   RM_DEPS_CACHE (cache root), J (make -j, default nproc), RM_DEPS_NO_INSTALL=1
#        (do not call scripts/deps.sh static; the toolchain must already be there)
#
# Based on the verified recipe in shared/recipes/static-deps.sh: curl needs Debian's
# gnutls/nss flavour patches reversed and autoreconf; libevent, libsodium and sqlite3
# need autoreconf after Debian's patches; SQLite's amalgamation is generated natively.
set -euo pipefail
RECIPE=1
cd "$(dirname "$0")/.."
REPO=$(pwd)
ALL_TARGETS="x86_64-linux-musl aarch64-linux-musl x86_64-w64-mingw32"
TARGETS=${*:-$ALL_TARGETS}
J=${J:-$(nproc)}
PKGS="mbedtls curl jansson libevent sqlite3 libsodium"

say() { printf 'static-deps: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo

for t in $TARGETS; do
	case " $ALL_TARGETS " in *" $t "*) ;; *) die "unknown target '$t' (one of: $ALL_TARGETS)" ;; esac
done

# ---------- 0. packages and a deb-src entry ----------
[ "${RM_DEPS_NO_INSTALL:-0}" = 1 ] || sh scripts/deps.sh static

# Derive deb-src entries from the machine's own apt sources when `apt-get source`
# has none (deb822 .sources files and one-line sources.list both handled).
ensure_deb_src() {
	apt-get source --print-uris -qq mbedtls >/dev/null 2>&1 && return 0
	local out=/etc/apt/sources.list.d/restic-manager-deb-src
	say "no deb-src entries: deriving $out.* from the apt sources"
	local f tmp
	tmp=$(mktemp)
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		case $f in "$out".*) continue ;; esac
		sed -e 's/^Types:.*/Types: deb-src/' "$f" >>"$tmp"
		printf '\n' >>"$tmp"
	done
	if [ -s "$tmp" ]; then
		$SUDO install -m 0644 "$tmp" "$out.sources"
	fi
	: >"$tmp"
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		sed -n -e 's/^[[:space:]]*deb[[:space:]]/deb-src /p' "$f" >>"$tmp"
	done
	if [ -s "$tmp" ]; then
		$SUDO install -m 0644 "$tmp" "$out.list"
	fi
	rm -f "$tmp"
	$SUDO apt-get update -qq
	apt-get source --print-uris -qq mbedtls >/dev/null 2>&1 || die "apt-get source still finds no sources"
}
ensure_deb_src

# ---------- 1. the cache key: the .dsc names apt would fetch ----------
dscs=$(for p in $PKGS; do apt-get source --print-uris -qq "$p" | awk '{print $2}' | grep '\.dsc$'; done)
[ "$(echo "$dscs" | wc -l)" -eq 6 ] || die "cannot resolve Debian source versions: $dscs"
KEY=r$RECIPE-$(echo "$dscs" | sha256sum | cut -c1-12)
CACHE_ROOT=${RM_DEPS_CACHE:-/var/cache/restic-manager/deps}
ROOT=$CACHE_ROOT/$KEY
SRC=$ROOT/src BLD=$ROOT/build BIN=$ROOT/bin SYS=$ROOT/sysroot
if [ ! -w "$CACHE_ROOT" ] 2>/dev/null; then
	mkdir -p "$CACHE_ROOT" 2>/dev/null || $SUDO install -d -m 0755 -o "$(id -u)" "$CACHE_ROOT"
fi
mkdir -p "$ROOT"
echo "$dscs" >"$ROOT/sources.txt"
export PATH=$BIN:$PATH
LOG=$ROOT/timings.txt
touch "$LOG"

step() { # name stamp cmd... — run once; the stamp records success
	local name=$1 stamp=$2
	shift 2
	[ -f "$stamp" ] && return 0
	local t0 t1
	t0=$(date +%s)
	"$@"
	t1=$(date +%s)
	mkdir -p "$(dirname "$stamp")"
	touch "$stamp"
	printf '%-45s %5d s\n' "$name" $((t1 - t0)) | tee -a "$LOG" >&2
}
quiet() { local log=$1; shift; "$@" >"$log" 2>&1 || { say "FAILED: $* (see $log)"; tail -40 "$log" >&2; exit 1; }; }
srcdir() { local d; for d in "$SRC/$1"-[0-9]*/; do [ -d "$d" ] && { echo "${d%/}"; return 0; }; done; die "no source tree for $1"; }

# ---------- 2. sources (Debian patches applied by dpkg-source) ----------
get_sources() {
	rm -rf "$SRC"; mkdir -p "$SRC"; cd "$SRC"
	# shellcheck disable=SC2086
	quiet "$ROOT/apt-source.log" apt-get source $PKGS
	# curl: dpkg-source applied the whole series including the gnutls/nss flavour
	# renames; undo them as debian/rules does for the OpenSSL flavour.
	local c p
	c=$(srcdir curl); cd "$c"
	for p in 99_nss.patch 90_gnutls.patch; do
		[ -f "debian/patches/$p" ] || continue
		if patch -R -p1 --dry-run -s <"debian/patches/$p" >/dev/null 2>&1; then
			patch -R -p1 -s <"debian/patches/$p" >/dev/null
		fi
	done
	quiet "$ROOT/curl-autoreconf.log" autoreconf -fi
	cd "$(srcdir libevent)" && quiet "$ROOT/libevent-autoreconf.log" autoreconf -fi
	cd "$(srcdir libsodium)" && quiet "$ROOT/libsodium-autoreconf.log" autoreconf -fi
	cd "$(srcdir sqlite3)" && quiet "$ROOT/sqlite-autoreconf.log" autoreconf -fi
}

# ---------- 3. toolchain wrappers: <triplet>-gcc, -pkg-config, cmake files ----------
wrappers() {
	mkdir -p "$BIN"
	local a t T sn cpu ar
	for a in x86_64 aarch64; do
		printf '#!/bin/sh\nexec %s-linux-gnu-gcc "$@" -specs /usr/lib/%s-linux-musl/musl-gcc.specs\n' $a $a >"$BIN/$a-linux-musl-gcc"
		for t in ar ranlib strip nm objdump objcopy readelf ld as; do ln -sf "/usr/bin/$a-linux-gnu-$t" "$BIN/$a-linux-musl-$t"; done
	done
	for T in $ALL_TARGETS; do
		printf '#!/bin/sh\nPKG_CONFIG_LIBDIR=%s/lib/pkgconfig exec pkg-config --static "$@"\n' "$SYS/$T" >"$BIN/$T-pkg-config"
		mkdir -p "$SYS/$T/include" "$SYS/$T/lib"
		case $T in
		x86_64-linux-musl) sn=Linux; cpu=x86_64; ar=$BIN/$T-ar ;;
		aarch64-linux-musl) sn=Linux; cpu=aarch64; ar=$BIN/$T-ar ;;
		x86_64-w64-mingw32) sn=Windows; cpu=AMD64; ar=/usr/bin/$T-ar ;;
		esac
		cat >"$BIN/$T.cmake" <<TC
set(CMAKE_SYSTEM_NAME $sn)
set(CMAKE_SYSTEM_PROCESSOR $cpu)
set(CMAKE_C_COMPILER $T-gcc)
set(CMAKE_AR $ar)
set(CMAKE_RANLIB ${ar%-ar}-ranlib)
set(CMAKE_RC_COMPILER $T-windres)
set(CMAKE_FIND_ROOT_PATH $SYS/$T)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
TC
	done
	chmod +x "$BIN"/*-gcc "$BIN"/*-pkg-config
}

# Agent libraries are built for size (the agents link with --gc-sections);
# server libraries for speed.
AGENT_CF="-Os -ffunction-sections -fdata-sections"
SERVER_CF="-O2 -ffunction-sections -fdata-sections"

# ---------- 4. libraries ----------
b_mbedtls() { local T=$1 B=$BLD/$1/mbedtls PF=$SYS/$1
	rm -rf "$B"; mkdir -p "$BLD/$T"; cp -a "$(srcdir mbedtls)" "$B"; cd "$B"
	quiet build.log make -j"$J" lib CC="$T-gcc" AR="$T-ar" CFLAGS="$AGENT_CF"
	cp -r include/mbedtls include/psa "$PF/include/"; cp library/libmbed*.a "$PF/lib/"; }

b_jansson() { local T=$1 B=$BLD/$1/jansson PF=$SYS/$1
	rm -rf "$B"; mkdir -p "$B"; cd "$B"
	quiet cmake.log cmake "$(srcdir jansson)" -DCMAKE_TOOLCHAIN_FILE="$BIN/$T.cmake" -DCMAKE_BUILD_TYPE=MinSizeRel \
		-DCMAKE_C_FLAGS="$AGENT_CF" -DCMAKE_INSTALL_PREFIX="$PF" -DJANSSON_BUILD_SHARED_LIBS=OFF \
		-DJANSSON_EXAMPLES=OFF -DJANSSON_BUILD_DOCS=OFF -DJANSSON_WITHOUT_TESTS=ON
	quiet build.log make -j"$J" install; }

# The agents' curl (HTTP/HTTPS only, -Os).  b_curl_server overrides, through the
# CURL_* variables, the build dir, prefix, flags and the SMTP switch.
b_curl() { local T=$1 B=$BLD/$1/${CURL_BUILD:-curl} PF=${CURL_PF:-$SYS/$1}; shift   # rest: --with-mbedtls=PREFIX | --with-schannel
	rm -rf "$B"; mkdir -p "$B"; cd "$B"
	quiet configure.log "$(srcdir curl)/configure" --host="$T" --prefix="$PF" --disable-shared --enable-static \
		--disable-dependency-tracking CFLAGS="${CURL_CF:-$AGENT_CF}" "$@" \
		--without-zlib --without-brotli --without-zstd --without-libpsl --without-libidn2 \
		--without-nghttp2 --without-ngtcp2 --without-nghttp3 --without-quiche --without-msh3 --without-hyper \
		--without-libssh2 --without-libssh --without-wolfssh --without-librtmp --without-gssapi --without-libgsasl \
		--disable-ldap --disable-ldaps --disable-rtsp --disable-dict --disable-telnet --disable-tftp \
		--disable-pop3 --disable-imap --disable-smb "${CURL_SMTP:---disable-smtp}" --disable-gopher --disable-mqtt \
		--disable-ftp --disable-file --disable-manual --disable-ntlm --disable-ntlm-wb --disable-tls-srp \
		--disable-netrc --disable-alt-svc --disable-doh --disable-dnsshuffle --disable-progress-meter \
		--disable-cookies --disable-mime --disable-hsts \
		--without-ca-bundle --without-ca-path --without-ca-fallback
	quiet build.log make -j"$J" -C lib
	quiet install.log sh -c 'make -C lib install && make -C include install && make install-pkgconfigDATA'; }
# The server's curl: notifications by webhook/ntfy (HTTPS) and e-mail (SMTP, STARTTLS/TLS).
b_curl_server() { CURL_BUILD=curl-server CURL_PF="$SYS/$1/server-curl" CURL_CF="$SERVER_CF" CURL_SMTP=--enable-smtp \
	b_curl "$@"; }

b_libevent() { local T=$1 B=$BLD/$1/libevent PF=$SYS/$1
	rm -rf "$B"; mkdir -p "$B"; cd "$B"
	quiet configure.log "$(srcdir libevent)/configure" --host="$T" --prefix="$PF" --disable-shared --enable-static \
		--disable-dependency-tracking --disable-openssl --disable-libevent-regress --disable-samples CFLAGS="$SERVER_CF"
	quiet build.log make -j"$J"
	quiet install.log make install; }

b_libsodium() { local T=$1 B=$BLD/$1/libsodium PF=$SYS/$1
	rm -rf "$B"; mkdir -p "$B"; cd "$B"
	quiet configure.log "$(srcdir libsodium)/configure" --host="$T" --prefix="$PF" --disable-shared --enable-static \
		--disable-dependency-tracking
	quiet build.log make -j"$J"
	quiet install.log make install; }

sqlite_amalgamation() { local B=$BLD/sqlite-amalgamation   # native; needs tclsh
	rm -rf "$B"; mkdir -p "$B"; cd "$B"
	quiet configure.log "$(srcdir sqlite3)/configure" --disable-tcl
	quiet build.log make sqlite3.c; }

b_sqlite() { local T=$1 B=$BLD/$1/sqlite PF=$SYS/$1 A=$BLD/sqlite-amalgamation
	rm -rf "$B"; mkdir -p "$B"; cd "$B"
	# shellcheck disable=SC2086
	"$T-gcc" $SERVER_CF -c "$A/sqlite3.c" -o sqlite3.o -DSQLITE_THREADSAFE=1 -DSQLITE_OMIT_LOAD_EXTENSION \
		-DSQLITE_ENABLE_FTS5 -DSQLITE_DQS=0 -DSQLITE_DEFAULT_FOREIGN_KEYS=1 -DSQLITE_USE_URI=1
	"$T-ar" rcs "$PF/lib/libsqlite3.a" sqlite3.o
	cp "$A/sqlite3.h" "$A/sqlite3ext.h" "$PF/include/"; }

ST=$ROOT/stamps
step "apt-get source + prepare"            "$ST/sources"   get_sources
wrappers   # cheap; always rewritten so the cache can move
mkdir -p "$REPO/build/deps"
ln -sfn "$BIN" "$REPO/build/deps/bin"
for T in $TARGETS; do
	case $T in
	*-linux-musl)
		step "sqlite amalgamation (native)" "$ST/sqlite-amalgamation" sqlite_amalgamation
		step "$T mbedtls"   "$ST/$T/mbedtls"   b_mbedtls "$T"
		step "$T curl"      "$ST/$T/curl"      b_curl "$T" --with-mbedtls="$SYS/$T"
		step "$T curl (server)" "$ST/$T/curl-server" b_curl_server "$T" --with-mbedtls="$SYS/$T"
		step "$T jansson"   "$ST/$T/jansson"   b_jansson "$T"
		step "$T libevent"  "$ST/$T/libevent"  b_libevent "$T"
		step "$T libsodium" "$ST/$T/libsodium" b_libsodium "$T"
		step "$T sqlite3"   "$ST/$T/sqlite3"   b_sqlite "$T"
		;;
	x86_64-w64-mingw32)
		step "$T mbedtls"          "$ST/$T/mbedtls" b_mbedtls "$T"
		step "$T jansson"          "$ST/$T/jansson" b_jansson "$T"
		step "$T curl (schannel)"  "$ST/$T/curl"    b_curl "$T" --with-schannel
		;;
	esac
	mkdir -p "$REPO/build/deps"
	ln -sfn "$SYS/$T" "$REPO/build/deps/$T"
done
echo "$KEY" >"$REPO/build/deps/KEY"
say "ready: build/deps/{$(echo "$TARGETS" | tr ' ' ',')} -> $ROOT"
