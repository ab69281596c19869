#!/bin/sh
# check-banned.sh — the source checker (curl style): calls that are banned in
# our C code because a safer checked helper exists.  Exit 1 on any hit.
#
# Only code is checked: comments and the contents of string and character
# literals are blanked first (line numbers kept), so prose such as "the
# system (cron)" or a log message naming a call is not a hit.  A line whose
# original text carries the marker `check-banned: allow` is exempt.
set -eu
cd "$(dirname "$0")/.."

# strip FILE... — print "file:line:code" for every line with comments and
# literal contents replaced by spaces; lines marked allowed are dropped.
strip() {
	awk '
	FNR == 1 { incomment = 0 }
	{
		line = $0; out = ""; n = length(line); i = 1; instr = ""
		while (i <= n) {
			c = substr(line, i, 1); c2 = substr(line, i, 2)
			if (incomment) {
				if (c2 == "*/") { incomment = 0; out = out "  "; i += 2 } else { out = out " "; i++ }
			} else if (instr != "") {
				if (c == "\\") { out = out "  "; i += 2 }
				else if (c == instr) { out = out c; instr = ""; i++ }
				else { out = out " "; i++ }
			} else if (c2 == "/*") { incomment = 1; out = out "  "; i += 2
			} else if (c2 == "//") { break
			} else if (c == "\"" || c == "\047") { instr = c; out = out c; i++
			} else { out = out c; i++ }
		}
		if (index(line, "check-banned: allow") == 0)
			print FILENAME ":" FNR ":" out
	}' "$@"
}

files=$(find src -name '*.c' -o -name '*.h' | sort)
# shellcheck disable=SC2086
code=$(strip $files)
banned='\b(strcpy|strcat|sprintf|vsprintf|gets|atoi|atol|atoll|system|popen|tmpnam|mktemp|strtok)[[:space:]]*\('
hits=$(printf '%s\n' "$code" | grep -E "^[^:]*:[0-9]+:.*$banned" || true)
# strtol/strtoll/strtoul only inside the checked helpers in src/common/util.c
raw=$(printf '%s\n' "$code" | grep -E '^[^:]*:[0-9]+:.*\bstrto(l|ll|ul|ull)[[:space:]]*\(' |
	grep -v '^src/common/util.c:' || true)
if [ -n "$hits$raw" ]; then
	echo "banned calls (use the checked helpers in src/common/util.h):"
	[ -n "$hits" ] && echo "$hits"
	[ -n "$raw" ] && echo "$raw"
	exit 1
fi
echo "check-banned: ok"
