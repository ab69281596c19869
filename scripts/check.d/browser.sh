#!/usr/bin/env bash
# browser.sh — the web UI's browser tests (tests/browser): headless Debian
# Chromium driven by playwright-core against the real server (and a real
# agent where a scenario needs one).  Screenshots go to build/screenshots/.
# Last line: "N passed, N failed" (node's runner prints "# pass N"/"# fail N").
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
extra=chromium
command -v node >/dev/null 2>&1 || extra="$extra nodejs npm"
if ! RM_EXTRA_PKGS="$extra" sh scripts/deps.sh test; then
	echo "browser: cannot install chromium/node"
	echo "0 passed, 1 failed"
	exit 1
fi
if [ ! -x "${RM_BIN_DIR:-bin}/restic-manager-server" ] && ! make -s -j"${JOBS:-2}" build; then
	echo "0 passed, 1 failed"
	exit 1
fi
if ! (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error); then
	echo "browser: npm ci failed"
	echo "0 passed, 1 failed"
	exit 1
fi
mkdir -p build/reports build/screenshots
out=build/reports/browser.tap
(cd tests/browser && node --test --test-concurrency=1 --test-reporter=tap .) > "$out" 2>&1
rc=$?
grep -Ev '^\s+at ' "$out" | tail -n 80
pass=$(grep -Eo '^# pass [0-9]+' "$out" | tail -n 1 | cut -d' ' -f3)
fail=$(grep -Eo '^# fail [0-9]+' "$out" | tail -n 1 | cut -d' ' -f3)
cancelled=$(grep -Eo '^# cancelled [0-9]+' "$out" | tail -n 1 | cut -d' ' -f3)
skipped=$(grep -Eo '^# skipped [0-9]+' "$out" | tail -n 1 | cut -d' ' -f3)
pass=${pass:-0}
fail=$((${fail:-0} + ${cancelled:-0}))
[ "$rc" -eq 0 ] || [ "$fail" -gt 0 ] || fail=1
[ "${skipped:-0}" -eq 0 ] || echo "browser: ${skipped} scenario(s) skipped (backend not available yet)"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
