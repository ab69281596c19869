"""The windows-amd64 release agent under wine64 against the real native server.

* A stand-in restic.exe (tests/release/restic_standin_win.c, built here with
  x86_64-w64-mingw32-gcc) replays restic 0.14's recorded JSON: a Linux restic
  started from a wine process runs but its output is not captured (NOTES), so
  Windows job tests need a Windows program.  It logs its arguments and whether
  the repository credentials reached it through the environment.
* enrol → hello → long-poll → a backup job queued by the server runs the stand-in
  → events delivered → the job succeeded with restic's summary in the API, the
  snapshots event lists the snapshot; a source group with use_fs_snapshot adds
  --use-fs-snapshot (VSS) on Windows.
* cancel of a long-running stand-in job ends it as cancelled (the process tree is
  in a job object; CTRL_BREAK first, TerminateJobObject as the fallback).
* the platform files' unit tests (tests/release/unit_plat_win32.c) under wine.
* `service install|start|stop|uninstall` through wine's service control manager,
  checked with wine's own `sc query`; the installed service really runs the agent
  loop (the host polls the server again from the service process).

Paths handed to the agent are Windows paths on wine's Z: drive (the Linux root).
WINEPREFIX is a fresh temporary directory per module (first start ~8 s);
wineserver is killed at the end.  Skipped only when wine64 is not installed
(scripts/deps.sh test installs it).
"""
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import AGENTS_DIR, ROOT, bootstrap_admin, host_by_name, need, run, wait_for, wait_job

WINE = shutil.which("wine64") or ("/usr/lib/wine/wine64" if os.path.exists("/usr/lib/wine/wine64") else None)
WINESERVER = shutil.which("wineserver") or next(
    (p for p in ("/usr/lib/wine/wineserver64", "/usr/lib/wine/wineserver") if os.path.exists(p)), None)
MINGW_CC = shutil.which("x86_64-w64-mingw32-gcc")
HERE = os.path.dirname(os.path.abspath(__file__))
PASSWORD = "windows-e2e-repo-password"

pytestmark = pytest.mark.skipif(WINE is None, reason="wine64 is not installed (scripts/deps.sh test installs it)")


def winpath(p):
    """A Linux path as wine sees it on its Z: drive."""
    return "Z:" + str(p).replace("/", "\\")


class Wine:
    def __init__(self, prefix):
        # TZ: wine maps the zone to a Windows zone key; the agent maps it back to IANA
        self.env = dict(os.environ, WINEPREFIX=str(prefix), WINEDEBUG="-all", WINEDLLOVERRIDES="mscoree,mshtml=",
                        TZ="Europe/Berlin")

    def run(self, *args, timeout=120, env=None):
        """Output through files, not pipes: wine's own services (services.exe, winedevice,
        started by the first call that needs them) inherit the standard handles and
        would hold a pipe open long after the command ended."""
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            p = subprocess.run([WINE] + [str(a) for a in args], env=dict(self.env, **(env or {})), timeout=timeout,
                               stdin=subprocess.DEVNULL, stdout=out, stderr=err)
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(p.args, p.returncode, out.read().decode(errors="replace"),
                                               err.read().decode(errors="replace"))

    def kill_server(self):
        if WINESERVER:
            subprocess.run([WINESERVER, "-k"], env=self.env, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def wine(tmp_path_factory):
    agent = need(os.path.join(AGENTS_DIR, "restic-manager-agent-windows-amd64.exe"), "make agents")
    if not MINGW_CC:
        pytest.fail("x86_64-w64-mingw32-gcc missing (scripts/deps.sh static)")
    root = tmp_path_factory.mktemp("wine")
    w = Wine(root / "prefix")
    w.agent = agent
    w.restic = root / "restic.exe"
    r = run([MINGW_CC, "-std=c17", "-O2", "-Wall", "-Wextra", "-Werror", "-static", "-s", "-o", str(w.restic),
             os.path.join(HERE, "restic_standin_win.c"), "-lshell32"])
    assert r.returncode == 0, r.stderr
    # the first start creates the prefix (slow); every later start is ~1 s
    r = w.run(agent, "--version", timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "restic-manager-agent version" in r.stdout
    yield w
    w.kill_server()


class WinAgent:
    def __init__(self, wine, tmp_path):
        self.wine = wine
        self.dir = tmp_path / "win-agent"
        self.dir.mkdir()
        self.conf = winpath(self.dir / "conf")
        self.state = winpath(self.dir / "state")
        self.standin_log = self.dir / "standin.log"
        self.log_path = self.dir / "agent.log"
        self.env = {"STANDIN_LOG": winpath(self.standin_log)}
        self.proc = None

    def args(self, *a):
        return [self.wine.agent] + list(a) + ["--config-dir", self.conf, "--state-dir", self.state,
                                              "--restic", winpath(self.wine.restic)]

    def cli(self, *a, env=None, timeout=120):
        return self.wine.run(*self.args(*a), env=dict(self.env, **(env or {})), timeout=timeout)

    def start(self):
        with open(self.log_path, "ab") as logf:
            self.proc = subprocess.Popen([WINE] + [str(x) for x in self.args("run")],
                                         env=dict(self.wine.env, **self.env), stdin=subprocess.DEVNULL,
                                         stdout=logf, stderr=logf)

    def stop(self):
        """SIGINT: wine delivers it as CTRL_C_EVENT, the agent stops cleanly (exit 0)."""
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return "killed"

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def calls(self):
        try:
            return self.standin_log.read_text(encoding="utf-8", errors="replace").splitlines()
        except FileNotFoundError:
            return []


def enrol(admin, native, agent, hostname):
    r = admin.post("/api/v1/enrollment-tokens", json={
        "hostname": hostname, "repository": {"url": "C:\\restic-repo", "password": PASSWORD},
        "paths": ["C:\\data"]})
    assert r.status_code == 201, r.text
    assert "install.ps1" in r.json()["install"]["windows"]
    r = agent.cli("enroll", "--server", native.url, env={"RM_ENROL_TOKEN": r.json()["token"]})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "enrolled as host" in r.stdout
    assert "warning" not in r.stderr, r.stderr  # the DACL was applied (wine accepts it)


def test_windows_agent_backup_and_cancel(wine, native, tmp_path):
    admin = bootstrap_admin(native)
    a = WinAgent(wine, tmp_path)
    enrol(admin, native, a, "win-e2e")
    a.start()
    try:
        # enrolment alone makes the host online: wait for the running agent's own hello
        wait_for(lambda: " connected to " in a.log() or (a.proc.poll() is not None), timeout=120,
                 what="windows agent connected")
        assert a.proc.poll() is None, a.log()[-3000:]
        host = host_by_name(admin, "win-e2e")
        assert host and host["status"] == "online", host
        h = admin.get(f"/api/v1/hosts/{host['id']}").json()
        assert h.get("os") == "windows" and h.get("arch") == "amd64", h
        assert h.get("restic_version") == "0.14.0", h  # the probe ran the stand-in through the pumps
        # LockFileEx on the state directory: a second agent (here: enroll) is refused
        r = a.cli("enroll", "--server", native.url, env={"RM_ENROL_TOKEN": "x" * 43})
        assert r.returncode != 0 and "an agent is running" in r.stderr, r.stdout + r.stderr

        # a backup queued by the server runs the stand-in; events reach the API
        r = admin.post(f"/api/v1/hosts/{host['id']}/jobs", json={"kind": "backup", "paths": ["C:\\data"]})
        assert r.status_code == 201, r.text
        j = wait_job(admin, r.json()["id"], a)
        assert j["status"] == "succeeded", (j, a.log()[-2000:])
        assert j["exit_code"] == 0
        assert j["summary"]["snapshot_id"] == "7e3a9b1c" and j["summary"]["files_new"] == 2, j
        log = admin.get(f"/api/v1/jobs/{j['id']}/log").text
        assert "backup --json" in log, log
        snaps = wait_for(lambda: admin.get(f"/api/v1/hosts/{host['id']}/snapshots").json()["items"], timeout=60,
                         what="snapshots in the API")
        # TZ=Europe/Berlin: wine picks a Windows zone key, the agent maps it back to IANA (a zone
        # with Berlin's rules); the server shows next runs in it
        tz = admin.get(f"/api/v1/hosts/{host['id']}/schedules").json().get("timezone")
        assert tz in ("Europe/Berlin", "Europe/Budapest", "Europe/Paris", "Europe/Warsaw"), tz
        assert snaps[0]["short_id"] == "7e3a9b1c", snaps
        calls = a.calls()
        assert any(c.startswith("backup --json") and c.endswith("-- C:\\data") for c in calls), calls
        assert "env-ok" in calls, calls  # credentials through the environment, not argv
        assert not any(PASSWORD in c for c in calls)
        assert not any("--use-fs-snapshot" in c for c in calls), calls

        # MSVCRT quoting: spaces, quotes, trailing backslashes and UTF-8 arrive intact
        odd = ["C:\\My Files\\", 'C:\\say "hi"\\x', "C:\\a\\\\b c", "C:\\ü ñ"]
        r = admin.post(f"/api/v1/hosts/{host['id']}/jobs", json={"kind": "backup", "paths": odd})
        assert r.status_code == 201, r.text
        j = wait_job(admin, r.json()["id"], a)
        assert j["status"] == "succeeded", (j, a.log()[-2000:])
        want = "args=<backup><--json><-->" + "".join(f"<{p}>" for p in odd)
        assert want in a.calls(), (want, a.calls())

        # cancel: a long-running stand-in ends, the job is cancelled
        r = admin.post(f"/api/v1/hosts/{host['id']}/jobs", json={"kind": "backup", "paths": ["C:\\slow"]})
        assert r.status_code == 201, r.text
        jid = r.json()["id"]
        wait_for(lambda: admin.get(f"/api/v1/jobs/{jid}").json()["status"] == "running" and
                 any(c.endswith("C:\\slow") for c in a.calls()), timeout=60, what="slow job running")
        t0 = time.monotonic()
        r = admin.post(f"/api/v1/jobs/{jid}/cancel")
        assert r.status_code in (200, 202), r.text
        j = wait_job(admin, jid, a, timeout=60)
        assert j["status"] == "cancelled", (j, a.log()[-2000:])
        # well before the stand-in's own 120 s: the agent ended it
        assert time.monotonic() - t0 < 45, a.log()[-2000:]
        graceful = "interrupted" in a.calls()
        print(f"windows cancel: {'CTRL_BREAK reached the stand-in' if graceful else 'job object terminated it'}")
        # a source group with use_fs_snapshot: restic backup --use-fs-snapshot (VSS) on Windows
        r = admin.post(f"/api/v1/hosts/{host['id']}/sources",
                       json={"name": "vss", "paths": ["C:\\vss-data"], "use_fs_snapshot": True})
        assert r.status_code == 201, r.text
        assert r.json()["use_fs_snapshot"] is True
        r = admin.post(f"/api/v1/hosts/{host['id']}/jobs", json={"kind": "backup", "group": "vss"})
        assert r.status_code == 201, r.text
        j = wait_job(admin, r.json()["id"], a)
        assert j["status"] == "succeeded", (j, a.log()[-2000:])
        assert any(c.startswith("backup --json") and "--use-fs-snapshot" in c and c.endswith("C:\\vss-data")
                   for c in a.calls()), a.calls()

    finally:
        rc = a.stop()
    assert rc == 0, a.log()[-3000:]
    assert "stopped" in a.log()
    r = a.cli("status")  # state written by the Windows file helpers reads back
    assert r.returncode == 0 and "host id: " in r.stdout and "running job: none" in r.stdout, r.stdout + r.stderr


def test_windows_platform_unit(wine, tmp_path):
    """tests/release/unit_plat_win32.c: the Windows platform files' unit tests, run under wine
    (quoting round trips through CommandLineToArgvW, files, lock, time-zone rule, children)."""
    src = ["src/agent/plat_win32.c", "src/agent/plat_win32_service.c", "src/agent/plat_win32_tz.c", "src/agent/ca_paths.c",
           "src/common/plat_fs_win32.c", "src/common/util.c", "src/common/tz.c", "src/common/log.c"]
    exe = tmp_path / "unit_plat_win32.exe"
    r = run([MINGW_CC, "-std=c17", "-D_GNU_SOURCE", "-D_POSIX_THREAD_SAFE_FUNCTIONS=200112L",
             "-D__USE_MINGW_ANSI_STDIO=1", "-Wall", "-Wextra", "-Werror", "-O1", "-static", "-I", os.path.join(ROOT, "src"),
             "-o", str(exe), os.path.join(HERE, "unit_plat_win32.c")] + [os.path.join(ROOT, f) for f in src] +
            ["-lws2_32", "-lbcrypt", "-ladvapi32", "-lshell32", "-pthread"])
    assert r.returncode == 0, r.stderr
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    r = wine.run(exe, winpath(scratch), timeout=120)
    assert r.returncode == 0 and "5 passed, 0 failed" in r.stdout, r.stdout + r.stderr


def test_windows_service_commands(wine, native, tmp_path):
    """service install/start/stop/uninstall through wine's SCM; the service runs the agent loop."""
    admin = bootstrap_admin(native)
    a = WinAgent(wine, tmp_path)

    def svc_log():  # the service logs to <state>\agent.log (it has no stderr)
        try:
            return (a.dir / "state" / "agent.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""
    enrol(admin, native, a, "win-svc")
    r = a.cli("service", "install")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "installed" in r.stdout and "service run" in r.stdout, r.stdout
    try:
        q = wine.run("sc", "query", "restic-manager-agent", timeout=60)
        assert "restic-manager-agent" in q.stdout and "STOPPED" in q.stdout, q.stdout + q.stderr
        r = a.cli("service", "install")  # idempotent: updates the existing service
        assert r.returncode == 0 and "updated" in r.stdout, r.stdout + r.stderr

        r = a.cli("service", "start", env={"STANDIN_LOG": winpath(a.standin_log)})
        assert r.returncode == 0, r.stdout + r.stderr + svc_log()
        q = wine.run("sc", "query", "restic-manager-agent", timeout=60)
        assert "RUNNING" in q.stdout, q.stdout
        # the service process is the agent: it comes online and runs a job
        wait_for(lambda: " connected to " in svc_log(), timeout=120, what="service agent connected")
        host = host_by_name(admin, "win-svc")
        r = admin.post(f"/api/v1/hosts/{host['id']}/jobs", json={"kind": "snapshots"})
        assert r.status_code == 201, r.text
        j = wait_job(admin, r.json()["id"], a)
        assert j["status"] == "succeeded", j
        # cancel from the service: it allocated a console its children share, so the
        # graceful stop (CTRL_BREAK) is possible there
        r = admin.post(f"/api/v1/hosts/{host['id']}/jobs", json={"kind": "backup", "paths": ["C:\\slow-svc"]})
        assert r.status_code == 201, r.text
        jid = r.json()["id"]
        svc_calls = wine.restic.parent / "standin.log"
        wait_for(lambda: admin.get(f"/api/v1/jobs/{jid}").json()["status"] == "running" and svc_calls.exists() and
                 "slow-svc" in svc_calls.read_text(errors="replace"), timeout=60, what="slow job running")
        assert admin.post(f"/api/v1/jobs/{jid}/cancel").status_code in (200, 202)
        j = wait_job(admin, jid, a, timeout=60)
        assert j["status"] == "cancelled", j
        print("service cancel:", "CTRL_BREAK reached the stand-in" if "interrupted" in svc_calls.read_text(
            errors="replace") else "job object terminated it")

        r = a.cli("service", "stop")
        assert r.returncode == 0, r.stdout + r.stderr
        q = wine.run("sc", "query", "restic-manager-agent", timeout=60)
        assert "STOPPED" in q.stdout, q.stdout
        assert "stopped" in svc_log()
    finally:
        r = a.cli("service", "uninstall")
    assert r.returncode == 0, r.stdout + r.stderr
    q = wine.run("sc", "query", "restic-manager-agent", timeout=60)
    assert "STOPPED" not in q.stdout and "RUNNING" not in q.stdout, q.stdout
