#!/bin/sh
# gen-config-doc.sh — regenerate the option table in docs/configuration.md
# from the server's own table (`restic-manager-server --help-markdown`).
# Only the block between the BEGIN/END markers is replaced.
# Usage: scripts/gen-config-doc.sh [path/to/restic-manager-server]
set -eu
cd "$(dirname "$0")/.."
bin=${1:-bin/restic-manager-server}
doc=docs/configuration.md
tmp=$(mktemp "$doc.XXXXXX")
trap 'rm -f "$tmp" "$tmp.table"' EXIT
"$bin" --help-markdown >"$tmp.table"
awk -v table="$tmp.table" '
	/^<!-- BEGIN GENERATED/ { print; while ((getline l < table) > 0) print l; skip = 1; next }
	/^<!-- END GENERATED/ { skip = 0 }
	!skip { print }
' "$doc" >"$tmp"
cat "$tmp" >"$doc" # keeps the file's mode
echo "updated $doc"
