#!/usr/bin/env bash
# check.d/release.sh — the release phase of make check (scripts/check.sh runs it and
# reads the last "N passed, N failed" line).
#   1. static dependencies from Debian sources (cached outside the clone; ~5-15 min
#      the first time on a machine, seconds afterwards)
#   2. make agents, server-static for amd64 and arm64, dist — with a known
#      VERSION/COMMIT/DATE that the tests find again in --version
#   3. pytest tests/release (tags table, dist layout + static server serving it,
#      unit verify, shellcheck, install.sh end to end, agents under qemu, the
#      windows agent under wine64: ~40 s including the wine prefix)
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
PY=/usr/bin/python3
JOBS=${JOBS:-$(nproc)}
pass=0
fail=0
mkdir -p build/reports

step() { # name cmd...
	local name=$1
	shift
	echo "-- $name"
	if "$@"; then pass=$((pass + 1)); else echo "FAILED: $name"; fail=$((fail + 1)); fi
}

export RM_RELEASE_VERSION=0.0.0-check
RM_RELEASE_COMMIT=$(git rev-parse --short=12 HEAD 2>/dev/null || echo none)
RM_RELEASE_DATE=$(git log -1 --format=%cd --date=format:%Y-%m-%dT%H:%M:%SZ 2>/dev/null || echo unknown)
export RM_RELEASE_COMMIT RM_RELEASE_DATE
MV=(VERSION="$RM_RELEASE_VERSION" COMMIT="$RM_RELEASE_COMMIT" DATE="$RM_RELEASE_DATE")

if ! step "static dependencies" bash scripts/static-deps.sh; then
	echo "release: $pass passed, $((fail + 1)) failed"
	exit 1
fi
step "make agents" make -s -j"$JOBS" "${MV[@]}" agents
step "make server-static TARGET=amd64" make -s -j"$JOBS" "${MV[@]}" server-static TARGET=amd64
step "make server-static TARGET=arm64" make -s -j"$JOBS" "${MV[@]}" server-static TARGET=arm64
step "make dist" make -s "${MV[@]}" dist
step "make size-report" make -s "${MV[@]}" size-report

xml=build/reports/release.xml
rm -f "$xml"
$PY -m pytest -p no:cacheprovider -q --junitxml="$xml" tests/release
rc=$?
if [ -f "$xml" ]; then
	read -r p f < <($PY - "$xml" <<'PYX'
import sys, xml.etree.ElementTree as ET
r = ET.parse(sys.argv[1]).getroot()
suites = [r] if r.tag == "testsuite" else list(r)
t = sum(int(s.get("tests", 0)) for s in suites)
f = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
sk = sum(int(s.get("skipped", 0)) for s in suites)
print(t - f - sk, f)
PYX
)
	[ "$rc" -eq 0 ] || [ "$f" -gt 0 ] || f=1
	pass=$((pass + p))
	fail=$((fail + f))
else
	fail=$((fail + 1))
fi
echo "release: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
