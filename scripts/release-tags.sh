#!/bin/sh
# release-tags.sh EVENT REF_NAME SHA IMAGE — the image tags and version of a release
# build (DESIGN.md §9).  Prints exactly two lines, fit for $GITHUB_OUTPUT:
#   version=<version>
#   tags=<IMAGE:tag>[,<IMAGE:tag>...]
# EVENT push + REF_NAME vX.Y.Z    → version X.Y.Z; tags vX.Y.Z, X.Y, X, and latest only when X ≥ 1
# EVENT workflow_dispatch         → version 0.0.0-snapshot-<sha7>; tag snapshot-<sha7> only
# Anything else (malformed tag, unknown event, short/non-hex SHA, empty IMAGE) is an
# error: non-zero exit, message on stderr, nothing on stdout.
set -eu

die() { printf 'release-tags: %s\n' "$*" >&2; exit 2; }
[ $# -eq 4 ] || die "usage: release-tags.sh EVENT REF_NAME SHA IMAGE"
event=$1 ref=$2 sha=$3 image=$4

[ -n "$image" ] || die "empty IMAGE"
case $image in *[[:space:],]*) die "malformed IMAGE '$image'" ;; esac
case $sha in
"" | *[!0-9a-f]*) die "malformed SHA '$sha' (want lowercase hex)" ;;
esac
[ ${#sha} -ge 7 ] || die "SHA '$sha' is shorter than 7 characters"
short=$(printf '%s' "$sha" | cut -c1-7)

# A decimal number without leading zeros (0 itself allowed).
is_num() {
	case $1 in
	"" | *[!0-9]*) return 1 ;;
	0) return 0 ;;
	0*) return 1 ;;
	*) return 0 ;;
	esac
}

case $event in
push)
	case $ref in v*) ;; *) die "tag '$ref' does not match vMAJOR.MINOR.PATCH" ;; esac
	rest=${ref#v}
	major=${rest%%.*}
	rest=${rest#*.}
	minor=${rest%%.*}
	patch=${rest#*.}
	# Exactly three dot-separated numbers: v1.2 and v1.2.3-rc1 fail here.
	if ! is_num "$major" || ! is_num "$minor" || ! is_num "$patch" ||
		[ "v$major.$minor.$patch" != "$ref" ]; then
		die "tag '$ref' does not match vMAJOR.MINOR.PATCH"
	fi
	version=$major.$minor.$patch
	tags="$image:v$version,$image:$major.$minor,$image:$major"
	if [ "$major" -ge 1 ]; then
		tags="$tags,$image:latest"
	fi
	;;
workflow_dispatch)
	version=0.0.0-snapshot-$short
	tags="$image:snapshot-$short"
	;;
*)
	die "unknown event '$event' (push or workflow_dispatch)"
	;;
esac
printf 'version=%s\ntags=%s\n' "$version" "$tags"
