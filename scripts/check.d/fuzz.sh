#!/usr/bin/env bash
# fuzz.sh — extra check phase: replay every fuzz harness's corpus.
# For each tests/fuzz/fuzz_<name>.c (sources listed on its "fuzz-sources:"
# line) and corpus tests/fuzz/corpus/<name>/:
#   * replay the corpus with gcc + ASan/UBSan and tests/fuzz/replay_main.c;
#   * if clang is present, also build the libFuzzer binary
#     (clang -fsanitize=fuzzer,address,undefined) and, when FUZZ_SECONDS > 0,
#     fuzz for that long (new inputs go to build/fuzz/new-<name>/, not the corpus).
# Ends with "N passed, N failed" (one count per harness and step).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
FUZZ_SECONDS=${FUZZ_SECONDS:-0}
out=build/fuzz
mkdir -p "$out"
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
flags="-std=c17 -D_GNU_SOURCE -g -O1 -Isrc -Wall -Wextra -Werror"

for h in tests/fuzz/fuzz_*.c; do
	[ -f "$h" ] || continue
	name=$(basename "$h" .c)
	name=${name#fuzz_}
	srcs=$(sed -n 's/.*fuzz-sources:\(.*\)$/\1/p' "$h" | head -n 1)
	corpus=tests/fuzz/corpus/$name
	# shellcheck disable=SC2086
	if gcc $flags -fsanitize=address,undefined -fno-sanitize-recover=all \
		-o "$out/replay-$name" "$h" tests/fuzz/replay_main.c $srcs; then
		if [ -d "$corpus" ] && "$out/replay-$name" "$corpus"; then
			ok "replay $name (gcc asan,ubsan)"
		else
			bad "replay $name (gcc asan,ubsan)"
		fi
	else
		bad "build replay $name"
	fi
	if command -v clang >/dev/null 2>&1; then
		# shellcheck disable=SC2086
		if clang $flags -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
			-o "$out/fuzz-$name" "$h" $srcs; then
			ok "build libfuzzer $name"
			if [ "$FUZZ_SECONDS" -gt 0 ]; then
				mkdir -p "$out/new-$name"
				if "$out/fuzz-$name" -max_total_time="$FUZZ_SECONDS" -max_len=4096 -artifact_prefix="$out/" \
					"$out/new-$name" "$corpus" >"$out/fuzz-$name.log" 2>&1; then
					ok "fuzz $name ${FUZZ_SECONDS}s"
				else
					tail -n 30 "$out/fuzz-$name.log"
					bad "fuzz $name ${FUZZ_SECONDS}s"
				fi
			fi
		else
			bad "build libfuzzer $name"
		fi
	fi
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
