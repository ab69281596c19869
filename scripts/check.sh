#!/usr/bin/env bash
# check.sh — every test suite (make check).  Phases:
#   lint → native build → unit tests → system tests (pytest, real binaries)
#   → the same with SANITIZE=address,undefined → valgrind on the unit tests
#   → extra phases from scripts/check.d/*.sh (release/static/browser suites).
# Prints one "name: N passed, N failed" line per suite and, last, the total.
# Exit status is non-zero if anything failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
PY=/usr/bin/python3
JOBS=${JOBS:-$(nproc)}
total_pass=0
total_fail=0
failed_suites=()

record() { # suite passed failed
	total_pass=$((total_pass + $2))
	total_fail=$((total_fail + $3))
	[ "$3" -eq 0 ] || failed_suites+=("$1")
	echo "== $1: $2 passed, $3 failed"
}

# Run a pytest suite and record its counts from the junit report.
run_pytest() { # name junit-path args...
	local name=$1 xml=$2
	shift 2
	$PY -m pytest -p no:cacheprovider -q --junitxml="$xml" "$@"
	local rc=$?
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
		record "$name" "$p" "$f"
	else
		record "$name" 0 1
	fi
}

run_unit() { # name variant [wrapper...]
	local name=$1 variant=$2
	shift 2
	local p=0 f=0
	for t in build/"$variant"/unit/test_*; do
		[ -x "$t" ] || continue
		out=$("$@" "$t" 2>&1)
		rc=$?
		echo "$out" | tail -n 20
		line=$(echo "$out" | grep -Eo '[0-9]+ passed, [0-9]+ failed' | tail -n 1)
		if [ -n "$line" ]; then
			p=$((p + $(echo "$line" | cut -d' ' -f1)))
			f=$((f + $(echo "$line" | cut -d' ' -f3)))
		fi
		if [ $rc -ne 0 ] && { [ -z "$line" ] || [ "$(echo "$line" | cut -d' ' -f3)" -eq 0 ]; }; then
			f=$((f + 1))
		fi
	done
	record "$name" "$p" "$f"
}

mkdir -p build/reports
echo "== lint"
if sh scripts/check-banned.sh; then record lint 1 0; else record lint 0 1; fi

echo "== build (native)"
if make -s -j"$JOBS" build unit-build; then
	run_unit unit native
	run_pytest system build/reports/system.xml tests/system
else
	record build 0 1
fi

echo "== build (SANITIZE=address,undefined)"
if make -s -j"$JOBS" SANITIZE=address,undefined build unit-build; then
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
	export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
	run_unit unit-asan san
	RM_BIN_DIR=build/san/bin RM_SANITIZED=1 run_pytest system-asan build/reports/system-asan.xml tests/system
	unset ASAN_OPTIONS UBSAN_OPTIONS
else
	record build-asan 0 1
fi

echo "== valgrind (unit tests)"
run_unit unit-valgrind native valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite

for extra in scripts/check.d/*.sh; do
	[ -f "$extra" ] || continue
	name=$(basename "$extra" .sh)
	echo "== $name"
	# An extra phase prints its own "N passed, N failed" as its last line.
	out=$(bash "$extra" 2>&1)
	rc=$?
	# The whole output is kept; failures are shown with what led up to them.
	mkdir -p build/reports
	printf '%s\n' "$out" >"build/reports/$name.log"
	if [ $rc -ne 0 ]; then
		echo "$out" | grep -n -B 30 -E '^FAILED|[Ee]rror' | head -n 200
		echo "-- (full output: build/reports/$name.log; last lines follow)"
	fi
	echo "$out" | tail -n 40
	line=$(echo "$out" | grep -Eo '[0-9]+ passed, [0-9]+ failed' | tail -n 1)
	p=0
	f=0
	if [ -n "$line" ]; then
		p=$(echo "$line" | cut -d' ' -f1)
		f=$(echo "$line" | cut -d' ' -f3)
	fi
	[ $rc -eq 0 ] || [ "$f" -gt 0 ] || f=1
	record "$name" "$p" "$f"
done

if [ ${#failed_suites[@]} -gt 0 ]; then
	echo "failed suites: ${failed_suites[*]}"
fi
echo "total: $total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
