#!/bin/sh
# check-banned.sh — the source checker (curl style): calls that are banned in
# our C code because a safer checked helper exists.  Exit 1 on any hit.
set -eu
cd "$(dirname "$0")/.."
banned='\b(strcpy|strcat|sprintf|vsprintf|gets|atoi|atol|atoll|system|popen|tmpnam|mktemp|strtok)[[:space:]]*\('
hits=$(grep -rnE "$banned" src --include='*.c' --include='*.h' | grep -v 'check-banned: allow' || true)
# strtol/strtoll/strtoul only inside the checked helpers in src/common/util.c
raw=$(grep -rnE '\bstrto(l|ll|ul|ull)[[:space:]]*\(' src --include='*.c' | grep -v '^src/common/util.c:' | grep -v 'check-banned: allow' || true)
if [ -n "$hits$raw" ]; then
	echo "banned calls (use the checked helpers in src/common/util.h):"
	[ -n "$hits" ] && echo "$hits"
	[ -n "$raw" ] && echo "$raw"
	exit 1
fi
echo "check-banned: ok"
