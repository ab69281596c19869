"""deploy/install/install.sh end to end in a scratch root (--root), with a fake
systemctl (RM_SYSTEMCTL) and the real curl against the real static server.

The agent served here is a recorded stand-in (a small sh script that answers
--version and records its arguments, `enroll` writing a config file the way the
real agent does), so these tests pin install.sh's own contract: download by
architecture, verify it runs, modes, unit, enrol once, upgrade in place keeping the
enrolment, list — never disable — existing restic cron jobs and timers, uninstall.
test_agents_e2e.py runs install.sh with the real static agent.
"""
import os
import shutil
import stat

import pytest

from conftest import ROOT, STATIC_SERVER, AnyServer, need, run

INSTALL_SH = os.path.join(ROOT, "deploy", "install", "install.sh")
UNIT = "restic-manager-agent.service"

STANDIN = """#!/bin/sh
# stand-in agent ({tag}): records argv, answers --version, enroll writes its config
printf '%s\\n' "$*" >> "$RM_TEST_AGENT_LOG"
case $1 in
--version) echo "restic-manager-agent {tag}"; echo "commit none"; echo "date unknown"; exit 0 ;;
enroll)
	conf=/etc/restic-manager
	tok=$RM_ENROL_TOKEN
	while [ $# -gt 0 ]; do
		case $1 in --config-dir) conf=$2; shift ;; --token) tok=$2; shift ;; esac
		shift
	done
	if [ "$tok" != good-token ]; then echo "enrolment refused" >&2; exit 1; fi
	mkdir -p "$conf" && echo "agent-token-$tok" > "$conf/agent.token" && chmod 600 "$conf/agent.token"
	echo '{{"host_id": 7}}' > "$conf/agent.json"
	;;
esac
"""


def write_exe(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o755)


class Env:
    def __init__(self, tmp_path, server, bundled):
        self.tmp = tmp_path
        self.server = server
        self.bundled = bundled
        self.root = str(tmp_path / "root")
        os.makedirs(self.root)
        self.bin = str(tmp_path / "fakebin")
        self.systemctl_log = str(tmp_path / "systemctl.log")
        self.agent_log = str(tmp_path / "agent.log")
        write_exe(os.path.join(self.bin, "systemctl"),
                  f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{self.systemctl_log}"\n')
        self.uname_m = None

    def set_agent(self, arch, tag):
        write_exe(os.path.join(self.bundled, "agent-binaries", f"restic-manager-agent-linux-{arch}"),
                  STANDIN.replace("{tag}", tag).replace("{{", "{").replace("}}", "}"))

    def fake_uname(self, machine):
        write_exe(os.path.join(self.bin, "uname"),
                  f'#!/bin/sh\ncase "$1" in -m) echo {machine} ;; *) exec /bin/uname "$@" ;; esac\n')

    def run(self, *args, env=None, use_flags=True):
        e = {"PATH": self.bin + ":" + os.environ["PATH"], "RM_TEST_AGENT_LOG": self.agent_log,
             "RM_SYSTEMCTL": os.path.join(self.bin, "systemctl"), "HOME": str(self.tmp)}
        e.update(env or {})
        argv = ["sh", INSTALL_SH]
        if use_flags:
            argv += ["--root", self.root]
        return run(argv + list(args), env=e)

    def p(self, rel):
        return os.path.join(self.root, rel.lstrip("/"))

    def systemctl_calls(self):
        return open(self.systemctl_log).read().splitlines() if os.path.exists(self.systemctl_log) else []

    def agent_calls(self):
        return open(self.agent_log).read().splitlines() if os.path.exists(self.agent_log) else []


@pytest.fixture
def env(tmp_path):
    """A static server whose bundled tree holds stand-in agents and the real install files."""
    binary = need(STATIC_SERVER["amd64"], "make server-static TARGET=amd64")
    bundled = str(tmp_path / "bundled")
    os.makedirs(os.path.join(bundled, "install"))
    for n in ("install.sh", "install.ps1", UNIT):
        shutil.copy(os.path.join(ROOT, "deploy", "install", n), os.path.join(bundled, "install", n))
    s = AnyServer(tmp_path, binary, env={"RM_BUNDLED_ASSETS_DIR": bundled})
    e = Env(tmp_path, s, bundled)
    e.set_agent("amd64", "v1-amd64")
    e.set_agent("arm64", "v1-arm64")
    e.fake_uname("x86_64")
    s.start()
    try:
        yield e
    finally:
        assert s.stop() in (0, None)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_fresh_install(env):
    r = env.run("--server", env.server.url, "--token", "good-token")
    assert r.returncode == 0, r.stdout + r.stderr
    agent = env.p("/usr/local/bin/restic-manager-agent")
    unit = env.p("/etc/systemd/system/" + UNIT)
    assert mode(agent) == 0o755 and "v1-amd64" in open(agent).read()
    assert mode(unit) == 0o644
    assert open(unit).read() == open(os.path.join(ROOT, "deploy/install", UNIT)).read()
    assert mode(env.p("/etc/restic-manager")) == 0o700
    assert mode(env.p("/var/lib/restic-manager")) == 0o700
    assert os.path.exists(env.p("/etc/restic-manager/agent.token"))
    # verified (--version) before enrolling with the given server and token
    calls = env.agent_calls()
    assert calls[0] == "--version"
    enrol = [c for c in calls if c.startswith("enroll")]
    # the token travels in the environment, never in argv
    assert enrol == [f"enroll --server {env.server.url} "
                     f"--config-dir {env.p('/etc/restic-manager')} --state-dir {env.p('/var/lib/restic-manager')}"]
    assert not any("good-token" in c for c in calls)
    assert env.systemctl_calls() == ["daemon-reload", f"enable --now {UNIT}"]
    assert "installed" in r.stdout and "to undo" in r.stdout and "--uninstall" in r.stdout
    # no leftovers from the atomic download
    assert sorted(os.listdir(env.p("/usr/local/bin"))) == ["restic-manager-agent"]
    assert sorted(os.listdir(env.p("/etc/systemd/system"))) == [UNIT]


def test_rerun_upgrades_in_place_and_keeps_enrolment(env):
    assert env.run("--server", env.server.url, "--token", "good-token").returncode == 0
    conf = open(env.p("/etc/restic-manager/agent.token")).read()
    env.set_agent("amd64", "v2-amd64")
    open(env.systemctl_log, "w").close()
    open(env.agent_log, "w").close()
    r = env.run("--server", env.server.url)  # no token needed any more
    assert r.returncode == 0, r.stdout + r.stderr
    assert "v2-amd64" in open(env.p("/usr/local/bin/restic-manager-agent")).read()
    assert open(env.p("/etc/restic-manager/agent.token")).read() == conf
    assert not any(c.startswith("enroll") for c in env.agent_calls())
    assert "upgraded" in r.stdout and "keeping the enrolment" in r.stdout
    assert env.systemctl_calls() == ["daemon-reload", f"enable {UNIT}", f"restart {UNIT}"]


def test_environment_variables_and_arm64(env):
    env.fake_uname("aarch64")
    r = env.run(env={"RM_SERVER": env.server.url + "/", "RM_ENROL_TOKEN": "good-token",
                     "RM_INSTALL_ROOT": env.root}, use_flags=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "v1-arm64" in open(env.p("/usr/local/bin/restic-manager-agent")).read()
    assert any(c.startswith(f"enroll --server {env.server.url} ") for c in env.agent_calls())


def test_unsupported_arch_and_missing_arguments(env):
    env.fake_uname("mips")
    r = env.run("--server", env.server.url, "--token", "good-token")
    assert r.returncode != 0 and "unsupported architecture" in r.stderr
    env.fake_uname("x86_64")
    r = env.run("--token", "good-token")
    assert r.returncode != 0 and "--server" in r.stderr
    r = env.run("--server", env.server.url)
    assert r.returncode != 0 and "--token" in r.stderr
    r = env.run("--server", "ftp://x", "--token", "t")
    assert r.returncode != 0
    r = env.run("--bogus")
    assert r.returncode != 0 and "unknown option" in r.stderr
    assert not os.path.exists(env.p("/etc/systemd/system/" + UNIT))


def test_enrolment_failure_is_reported(env):
    r = env.run("--server", env.server.url, "--token", "bad-token")
    assert r.returncode != 0 and "enrolment failed" in r.stderr
    assert env.systemctl_calls() == []  # never started unenrolled


def test_binary_that_does_not_run_is_refused(env):
    with open(os.path.join(env.bundled, "agent-binaries", "restic-manager-agent-linux-amd64"), "wb") as f:
        f.write(b"\x7fELF garbage")
    r = env.run("--server", env.server.url, "--token", "good-token")
    assert r.returncode != 0 and "does not run" in r.stderr
    assert not os.path.exists(env.p("/usr/local/bin/restic-manager-agent"))
    assert os.listdir(env.p("/usr/local/bin")) == []


def test_download_failure(env):
    os.unlink(os.path.join(env.bundled, "agent-binaries", "restic-manager-agent-linux-amd64"))
    r = env.run("--server", env.server.url, "--token", "good-token")
    assert r.returncode != 0 and "cannot download" in r.stderr


def test_lists_existing_restic_jobs_never_disables(env):
    cron = env.p("/etc/cron.d/restic-nightly")
    os.makedirs(os.path.dirname(cron))
    cron_text = "# nightly backup\n15 2 * * * root restic -r /srv/repo backup /etc\n"
    open(cron, "w").write(cron_text)
    spool = env.p("/var/spool/cron/crontabs/alice")
    os.makedirs(os.path.dirname(spool))
    open(spool, "w").write("0 * * * * /usr/bin/restic backup ~/docs\n")
    other = env.p("/etc/cron.d/unrelated")
    open(other, "w").write("0 0 * * * root /usr/bin/true\n")
    timer = env.p("/etc/systemd/system/backup.timer")
    os.makedirs(os.path.dirname(timer), exist_ok=True)
    open(timer, "w").write("[Timer]\nOnCalendar=daily\n")
    open(env.p("/etc/systemd/system/backup.service"), "w").write("[Service]\nExecStart=/usr/bin/restic backup /\n")
    r = env.run("--server", env.server.url, "--token", "good-token")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "/etc/cron.d/restic-nightly" in out and "restic -r /srv/repo backup /etc" in out
    assert "/var/spool/cron/crontabs/alice" in out
    assert "/etc/systemd/system/backup.timer" in out
    assert "unrelated" not in out
    assert open(cron).read() == cron_text  # untouched
    assert os.path.exists(timer)
    assert not any("disable" in c or "stop" in c or "mask" in c for c in env.systemctl_calls())


def test_no_systemctl_mode(env):
    r = env.run("--server", env.server.url, "--token", "good-token", "--no-systemctl")
    assert r.returncode == 0, r.stderr
    assert env.systemctl_calls() == []
    assert f"would run: systemctl enable --now {UNIT}" in r.stdout


def test_uninstall_keeps_enrolment_unless_purged(env):
    assert env.run("--server", env.server.url, "--token", "good-token").returncode == 0
    open(env.systemctl_log, "w").close()
    r = env.run("--uninstall")
    assert r.returncode == 0, r.stderr
    assert not os.path.exists(env.p("/usr/local/bin/restic-manager-agent"))
    assert not os.path.exists(env.p("/etc/systemd/system/" + UNIT))
    assert os.path.exists(env.p("/etc/restic-manager/agent.token"))
    assert env.systemctl_calls() == [f"disable --now {UNIT}", "daemon-reload"]
    # installing again re-uses the kept enrolment
    open(env.agent_log, "w").close()
    assert env.run("--server", env.server.url).returncode == 0
    assert not any(c.startswith("enroll") for c in env.agent_calls())
    r = env.run("--uninstall", "--purge")
    assert r.returncode == 0
    assert not os.path.exists(env.p("/etc/restic-manager"))
    assert not os.path.exists(env.p("/var/lib/restic-manager"))


def test_leftovers_without_token_file_are_not_an_enrolment(env):
    """A config dir with files but no agent.token (an enrolment that failed half
    way) must not make install.sh skip enrolling."""
    os.makedirs(env.p("/etc/restic-manager"))
    open(env.p("/etc/restic-manager/agent.json"), "w").write("{}")
    r = env.run("--server", env.server.url)
    assert r.returncode != 0 and "not enrolled yet" in r.stderr
    r = env.run("--server", env.server.url, "--token", "good-token")
    assert r.returncode == 0, r.stderr
    assert any(c.startswith("enroll") for c in env.agent_calls())
