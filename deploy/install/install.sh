#!/bin/sh
# restic-manager agent installer for Linux (amd64, arm64).  POSIX sh.
#
#   curl -fsSL https://SERVER/install/install.sh | sudo sh -s -- --server https://SERVER --token TOKEN
#   RM_SERVER=https://SERVER RM_ENROL_TOKEN=TOKEN sh install.sh
#
# Downloads the agent for this machine's architecture from the server
# (/agent/binary), checks that it runs, installs it as /usr/local/bin/restic-manager-agent,
# installs the systemd unit, enrols the host (first run only), enables and starts the
# service.  Re-running upgrades the binary and the unit in place and keeps the
# enrolment.  Existing restic cron jobs and systemd timers are listed, never touched.
#
# Options (environment equivalent in brackets):
#   --server URL      server base URL                         [RM_SERVER]
#   --token TOKEN     one-time enrolment token                [RM_ENROL_TOKEN]
#   --ca-file FILE    CA bundle for an HTTPS server with a private CA [RM_CA_FILE]
#   --uninstall       stop and remove the service and binary (config and state stay)
#   --purge           with --uninstall: also remove /etc/restic-manager and /var/lib/restic-manager
#   --root DIR        install below DIR instead of /         [RM_INSTALL_ROOT] (tests, images)
#   --no-systemctl    do not call systemctl; print what would be run [RM_NO_SYSTEMCTL=1]
#   -h, --help
# RM_SYSTEMCTL names the systemctl command (default: systemctl).
set -eu

server=${RM_SERVER:-}
token=${RM_ENROL_TOKEN:-}
ca_file=${RM_CA_FILE:-}
root=${RM_INSTALL_ROOT:-}
no_systemctl=${RM_NO_SYSTEMCTL:-0}
systemctl_cmd=${RM_SYSTEMCTL:-systemctl}
action=install
purge=0

say() { printf '%s\n' "$*"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,/^set -eu/p' "$0" 2>/dev/null | sed -e '/^set -eu/d' -e 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
	case $1 in
	--server) [ $# -ge 2 ] || die "--server needs a value"; server=$2; shift 2 ;;
	--server=*) server=${1#*=}; shift ;;
	--token) [ $# -ge 2 ] || die "--token needs a value"; token=$2; shift 2 ;;
	--token=*) token=${1#*=}; shift ;;
	--ca-file) [ $# -ge 2 ] || die "--ca-file needs a value"; ca_file=$2; shift 2 ;;
	--ca-file=*) ca_file=${1#*=}; shift ;;
	--root) [ $# -ge 2 ] || die "--root needs a value"; root=$2; shift 2 ;;
	--root=*) root=${1#*=}; shift ;;
	--uninstall) action=uninstall; shift ;;
	--purge) purge=1; shift ;;
	--no-systemctl) no_systemctl=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) die "unknown option '$1' (see --help)" ;;
	esac
done

root=${root%/}
BIN=$root/usr/local/bin/restic-manager-agent
UNIT_NAME=restic-manager-agent.service
UNIT=$root/etc/systemd/system/$UNIT_NAME
CONF_DIR=$root/etc/restic-manager
STATE_DIR=$root/var/lib/restic-manager
done_list=""
did() { done_list="$done_list
  - $*"; }

run_systemctl() {
	if [ "$no_systemctl" = 1 ]; then
		say "  (no-systemctl) would run: systemctl $*"
		return 0
	fi
	"$systemctl_cmd" "$@"
}

# Enrolled = the agent's token file exists (src/agent/agent_store.c writes
# agent.token first, then agent.json).
is_enrolled() {
	[ -s "$CONF_DIR/agent.token" ]
}

# ---- uninstall ----
if [ "$action" = uninstall ]; then
	if [ -f "$UNIT" ]; then
		run_systemctl disable --now "$UNIT_NAME" || say "  warning: could not stop/disable $UNIT_NAME"
		rm -f "$UNIT"
		run_systemctl daemon-reload || true
		did "stopped, disabled and removed $UNIT"
	fi
	if [ -f "$BIN" ]; then
		rm -f "$BIN"
		did "removed $BIN"
	fi
	if [ "$purge" = 1 ]; then
		rm -rf "$CONF_DIR" "$STATE_DIR"
		did "removed $CONF_DIR and $STATE_DIR (enrolment, spool, state)"
	fi
	say "restic-manager agent uninstalled:${done_list:-
  - nothing was installed}"
	if [ "$purge" != 1 ]; then
		say "kept $CONF_DIR and $STATE_DIR (the enrolment); remove them with --uninstall --purge."
	fi
	say "the host still exists on the server: delete it there if it is gone for good."
	exit 0
fi

# ---- install / upgrade ----
[ -n "$server" ] || die "no server: pass --server URL or set RM_SERVER"
case $server in
http://* | https://*) ;;
*) die "server '$server' must start with http:// or https://" ;;
esac
server=${server%/}
if [ -n "$ca_file" ] && [ ! -r "$ca_file" ]; then
	die "cannot read CA file '$ca_file'"
fi
if [ -z "$root" ] && [ "$(id -u)" -ne 0 ]; then
	die "must run as root (the agent is a system service)"
fi

if ! is_enrolled && [ -z "$token" ]; then
	die "not enrolled yet: pass --token TOKEN or set RM_ENROL_TOKEN (create one in the web UI)"
fi

case $(uname -m) in
x86_64 | amd64) arch=amd64 ;;
aarch64 | arm64) arch=arm64 ;;
*) die "unsupported architecture '$(uname -m)' (agents exist for amd64 and arm64)" ;;
esac
[ "$(uname -s)" = Linux ] || die "this installer is for Linux; on Windows use install.ps1"

fetch() { # URL OUTFILE
	if command -v curl >/dev/null 2>&1; then
		if [ -n "$ca_file" ]; then
			curl -fsSL --proto '=http,https' --retry 3 --cacert "$ca_file" -o "$2" "$1"
		else
			curl -fsSL --proto '=http,https' --retry 3 -o "$2" "$1"
		fi
	elif command -v wget >/dev/null 2>&1; then
		if [ -n "$ca_file" ]; then
			wget -q --ca-certificate="$ca_file" -O "$2" "$1"
		else
			wget -q -O "$2" "$1"
		fi
	else
		die "neither curl nor wget is installed"
	fi
}

mkdir -p "$root/usr/local/bin" "$root/etc/systemd/system"
upgrade=0
[ -f "$BIN" ] && upgrade=1

# Download next to the target so the final rename is atomic (a running agent
# keeps its old inode; the restart below picks up the new one).
tmp_bin=$root/usr/local/bin/.restic-manager-agent.new.$$
tmp_unit=$root/etc/systemd/system/.$UNIT_NAME.new.$$
trap 'rm -f "$tmp_bin" "$tmp_unit"' EXIT HUP INT TERM

say "downloading the linux-$arch agent from $server ..."
fetch "$server/agent/binary?os=linux&arch=$arch" "$tmp_bin" ||
	die "cannot download the agent from $server/agent/binary?os=linux&arch=$arch"
chmod 0755 "$tmp_bin"
if ! version=$("$tmp_bin" --version 2>&1); then
	die "the downloaded agent does not run on this machine: $version"
fi
version=$(printf '%s\n' "$version" | head -n 1)
old_version=""
if [ "$upgrade" = 1 ]; then
	old_version=$("$BIN" --version 2>/dev/null | head -n 1 || true)
fi
mv -f "$tmp_bin" "$BIN"
if [ "$upgrade" = 1 ]; then
	did "upgraded $BIN (${old_version:-unknown} -> $version)"
else
	did "installed $BIN ($version)"
fi

fetch "$server/install/$UNIT_NAME" "$tmp_unit" ||
	die "cannot download the unit from $server/install/$UNIT_NAME"
grep -q '^ExecStart=' "$tmp_unit" || die "the downloaded unit file is not a systemd unit"
chmod 0644 "$tmp_unit"
mv -f "$tmp_unit" "$UNIT"
did "wrote $UNIT"

mkdir -p "$CONF_DIR" "$STATE_DIR"
chmod 0700 "$CONF_DIR" "$STATE_DIR"
enrolled_now=0
if is_enrolled; then
	say "already enrolled ($CONF_DIR/agent.token exists): keeping the enrolment"
	if [ -n "$token" ]; then
		say "  (the token given was not used; to enrol again run --uninstall --purge first)"
	fi
else
	# The token goes through the environment, not argv (other users can read
	# argv in ps): `enroll --server URL` with RM_ENROL_TOKEN set.
	set -- enroll --server "$server"
	if [ -n "$ca_file" ]; then
		set -- "$@" --ca-file "$ca_file"
	fi
	if [ -n "$root" ]; then
		set -- "$@" --config-dir "$CONF_DIR" --state-dir "$STATE_DIR"
	fi
	RM_ENROL_TOKEN=$token "$BIN" "$@" ||
		die "enrolment failed (is the token still valid? tokens expire after one hour)"
	enrolled_now=1
	did "enrolled this host with $server (config in $CONF_DIR)"
fi

run_systemctl daemon-reload
if [ "$upgrade" = 1 ] && [ "$enrolled_now" = 0 ]; then
	run_systemctl enable "$UNIT_NAME"
	run_systemctl restart "$UNIT_NAME"
	did "enabled and restarted $UNIT_NAME"
else
	run_systemctl enable --now "$UNIT_NAME"
	did "enabled and started $UNIT_NAME"
fi

# ---- existing restic jobs: list, never disable ----
found=""
for f in "$root/etc/crontab" "$root"/etc/cron.d/* "$root"/etc/cron.hourly/* "$root"/etc/cron.daily/* \
	"$root"/etc/cron.weekly/* "$root"/etc/cron.monthly/* "$root"/var/spool/cron/crontabs/* \
	"$root"/var/spool/cron/*; do
	[ -f "$f" ] || continue
	if grep -q restic "$f" 2>/dev/null; then
		lines=$(grep -n restic "$f" | grep -v '^[0-9]*:[[:space:]]*#' | sed 's/^/      /')
		[ -n "$lines" ] || continue
		found="$found
  cron: ${f#"$root"}
$lines"
	fi
done
for f in "$root"/etc/systemd/system/*.timer "$root"/lib/systemd/system/*.timer "$root"/usr/lib/systemd/system/*.timer; do
	[ -f "$f" ] || continue
	svc=${f%.timer}.service
	if case ${f##*/} in *restic*) true ;; *) false ;; esac ||
		{ [ -f "$svc" ] && grep -q restic "$svc" 2>/dev/null; }; then
		case ${f##*/} in restic-manager-agent*) continue ;; esac
		found="$found
  systemd timer: ${f#"$root"}"
	fi
done
if [ "$no_systemctl" != 1 ] && [ -z "$root" ] && command -v "$systemctl_cmd" >/dev/null 2>&1; then
	timers=$("$systemctl_cmd" list-timers --all --no-legend 2>/dev/null | grep -i restic | grep -v restic-manager-agent || true)
	if [ -n "$timers" ]; then
		found="$found
  active timers:
$(printf '%s\n' "$timers" | sed 's/^/      /')"
	fi
fi

say ""
say "restic-manager agent installed:$done_list"
if [ -n "$found" ]; then
	say ""
	say "existing restic jobs on this host (left as they are; disable them yourself once"
	say "restic-manager schedules the same backups, or both will run):$found"
fi
say ""
say "to undo: curl -fsSL $server/install/install.sh | sh -s -- --uninstall   (as root; add --purge"
say "         to also remove the enrolment and state), or by hand:"
say "         systemctl disable --now $UNIT_NAME; rm $BIN $UNIT; systemctl daemon-reload"
