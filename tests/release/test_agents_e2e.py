"""The static release agents against real servers.

* linux-amd64 (static musl build from `make agents`): enrols against the native
  development server, says hello, long-polls, receives `init` and `backup` jobs and
  runs them with the real restic (Debian's); the job results, log and snapshots are
  visible in the API.
* linux-arm64: the same under qemu-aarch64-static.  Its restic is a recorded-output
  stand-in (a small sh script replaying restic 0.14's JSON): an arm64 restic would
  need binfmt_misc registration, which this machine's tests cannot rely on, and
  Debian's restic:arm64 would replace the amd64 one.  What is being tested is the
  arm64 agent binary: TLS/HTTP stack, protocol, child process handling, spooling.
* install.sh with the real static agent, served by the static server from the
  `make dist` tree, in a scratch root with a fake systemctl: it enrols for real.
"""
import json
import os
import shutil
import subprocess

import pytest

from conftest import (AGENTS_DIR, DIST_TREE, QEMU_ARM64, ROOT, STATIC_SERVER, AnyServer, bootstrap_admin,
                      host_by_name, need, run, wait_for, wait_job)

RESTIC = shutil.which("restic")
PASSWORD = "release-e2e-repo-password"

STANDIN_RESTIC = r"""#!/bin/sh
# Recorded-output stand-in for restic 0.14.0 (see the module docstring).
printf '%s\n' "$*" >> "$STANDIN_LOG"
cmd=""
for a in "$@"; do case $a in -*) ;; *) cmd=$a; break ;; esac; done
case $cmd in
version) echo "restic 0.14.0 compiled with go1.19.8 on linux/arm64" ;;
init) echo "created restic repository 5f1e2d3c4b at $RESTIC_REPOSITORY" ;;
backup)
	[ -n "$RESTIC_PASSWORD" ] || { echo "Fatal: no password" >&2; exit 1; }
	echo '{"message_type":"status","percent_done":0,"total_files":2,"total_bytes":12}'
	echo '{"message_type":"status","percent_done":0.5,"total_files":2,"files_done":1,"total_bytes":12,"bytes_done":6,"current_files":["/data/a.txt"]}'
	echo '{"message_type":"summary","files_new":2,"files_changed":0,"files_unmodified":0,"dirs_new":1,"dirs_changed":0,"dirs_unmodified":0,"data_blobs":2,"tree_blobs":1,"data_added":1071,"total_files_processed":2,"total_bytes_processed":12,"total_duration":0.21,"snapshot_id":"9c1b2a3d"}'
	;;
snapshots) echo '[{"time":"2026-11-25T21:00:00.123456789Z","tree":"aa11","paths":["/data"],"hostname":"arm64-host","username":"root","id":"9c1b2a3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9","short_id":"9c1b2a3d"}]' ;;
stats) echo '{"total_size":1071,"total_file_count":3,"snapshots_count":1,"total_blob_count":3}' ;;
*) echo "stand-in: unsupported command '$cmd'" >&2; exit 1 ;;
esac
"""


class Agent:
    def __init__(self, tmp_path, binary, runner=(), restic=None, env=None):
        self.binary = binary
        self.runner = list(runner)
        self.conf = str(tmp_path / "agent-conf")
        self.state = str(tmp_path / "agent-state")
        self.restic = restic
        self.env = dict(os.environ, **(env or {}))
        self.log_path = str(tmp_path / "agent.log")
        self.proc = None

    def argv(self, *args):
        a = self.runner + [self.binary] + list(args) + ["--config-dir", self.conf, "--state-dir", self.state]
        if self.restic:
            a += ["--restic", self.restic]
        return a

    def enroll(self, url, token):
        return run(self.argv("enroll", "--server", url), env=dict(self.env, RM_ENROL_TOKEN=token), timeout=120)

    def start(self):
        logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv("run"), env=self.env, stdout=logf, stderr=logf)
        logf.close()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                return self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return "killed"
        return self.proc.returncode if self.proc else None

    def log(self):
        try:
            return open(self.log_path, errors="replace").read()
        except FileNotFoundError:
            return ""


def enrolment_token(admin, hostname, repo, paths):
    r = admin.post("/api/v1/enrollment-tokens",
                   json={"hostname": hostname, "repository": {"url": repo, "password": PASSWORD}, "paths": paths})
    assert r.status_code == 201, r.text
    body = r.json()
    assert "install.sh" in body["install"]["linux"]
    return body["token"]


def drive(admin, agent, hostname, data_dir):
    """online → init → backup → snapshots; returns the backup job."""
    wait_for(lambda: (host_by_name(admin, hostname) or {}).get("status") == "online", timeout=90,
             what=f"{hostname} online; agent log:\n{agent.log()[-2000:]}")
    host = host_by_name(admin, hostname)
    r = admin.post(f"/api/v1/hosts/{host['id']}/jobs", json={"kind": "init"})
    assert r.status_code == 201, r.text
    j = wait_job(admin, r.json()["id"], agent)
    assert j["status"] == "succeeded", (j, agent.log()[-2000:])
    r = admin.post(f"/api/v1/hosts/{host['id']}/jobs", json={"kind": "backup", "paths": [data_dir]})
    assert r.status_code == 201, r.text
    j = wait_job(admin, r.json()["id"], agent)
    assert j["status"] == "succeeded", (j, agent.log()[-2000:])
    assert j["exit_code"] == 0
    assert j["summary"] and j["summary"].get("files_new", 0) >= 1, j
    log = admin.get(f"/api/v1/jobs/{j['id']}/log")
    assert log.status_code == 200
    snaps = wait_for(lambda: admin.get(f"/api/v1/hosts/{host['id']}/snapshots").json()["items"], timeout=60,
                     what="snapshots in the API")
    assert any(s["short_id"] and j["summary"]["snapshot_id"].startswith(s["short_id"][:8]) or
               s["id"].startswith(j["summary"]["snapshot_id"]) for s in snaps), (snaps, j["summary"])
    return host, j


def test_static_amd64_agent_real_restic(native, tmp_path):
    agent_bin = need(os.path.join(AGENTS_DIR, "restic-manager-agent-linux-amd64"), "make agents")
    if not RESTIC:
        pytest.fail("restic missing (scripts/deps.sh test)")
    admin = bootstrap_admin(native)
    data = tmp_path / "data-to-back-up"
    data.mkdir()
    (data / "a.txt").write_text("hello amd64\n")
    (data / "b.bin").write_bytes(os.urandom(4096))
    repo = str(tmp_path / "repo")
    token = enrolment_token(admin, "rel-amd64", repo, [str(data)])
    a = Agent(tmp_path, agent_bin, restic=RESTIC, env={"RESTIC_CACHE_DIR": str(tmp_path / "cache")})
    r = a.enroll(native.url, token)
    assert r.returncode == 0, r.stdout + r.stderr
    a.start()
    try:
        host, job = drive(admin, a, "rel-amd64", str(data))
        # a real repository really holds the snapshot
        out = subprocess.run([RESTIC, "-r", repo, "snapshots", "--json"], env=dict(os.environ, RESTIC_PASSWORD=PASSWORD),
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert len(json.loads(out.stdout)) == 1
        h = admin.get(f"/api/v1/hosts/{host['id']}").json()
        assert h["status"] == "online"
    finally:
        assert a.stop() == 0, a.log()[-2000:]


def test_arm64_agent_under_qemu_with_standin_restic(native, tmp_path):
    agent_bin = need(os.path.join(AGENTS_DIR, "restic-manager-agent-linux-arm64"), "make agents")
    if not QEMU_ARM64:
        pytest.fail("qemu-aarch64-static missing (scripts/deps.sh static)")
    restic = tmp_path / "restic-standin"
    restic.write_text(STANDIN_RESTIC)
    restic.chmod(0o755)
    standin_log = tmp_path / "standin.log"
    admin = bootstrap_admin(native)
    token = enrolment_token(admin, "rel-arm64", "/srv/restic/arm64", ["/data"])
    a = Agent(tmp_path, agent_bin, runner=[QEMU_ARM64], restic=str(restic), env={"STANDIN_LOG": str(standin_log)})
    r = a.enroll(native.url, token)
    assert r.returncode == 0, r.stdout + r.stderr
    a.start()
    try:
        host, job = drive(admin, a, "rel-arm64", "/data")
        assert job["summary"]["snapshot_id"] == "9c1b2a3d"
        calls = standin_log.read_text().splitlines()
        assert any(c.startswith("backup --json") and c.endswith("-- /data") for c in calls), calls
        assert any(c.startswith("init") for c in calls), calls
        h = admin.get(f"/api/v1/hosts/{host['id']}").json()
        assert "arm64" in json.dumps(h), h  # the agent reported its architecture
    finally:
        assert a.stop() == 0, a.log()[-2000:]


def test_install_sh_with_real_static_agent(tmp_path):
    """install.sh downloads the real static agent from the static server (make dist
    tree), verifies it, enrols it for real; the installed agent then runs and
    comes online."""
    need(os.path.join(DIST_TREE, "agent-binaries", "restic-manager-agent-linux-amd64"), "make dist")
    server = AnyServer(tmp_path, need(STATIC_SERVER["amd64"], "make server-static TARGET=amd64"),
                       env={"RM_BUNDLED_ASSETS_DIR": DIST_TREE})
    server.start()
    agent = None
    try:
        admin = bootstrap_admin(server)
        token = enrolment_token(admin, "rel-install", str(tmp_path / "repo"), [str(tmp_path)])
        root = tmp_path / "root"
        fakebin = tmp_path / "fakebin"
        fakebin.mkdir()
        (fakebin / "systemctl").write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{tmp_path}/systemctl.log"\n')
        (fakebin / "systemctl").chmod(0o755)
        env = dict(os.environ, PATH=f"{fakebin}:{os.environ['PATH']}", RM_SYSTEMCTL=str(fakebin / "systemctl"))
        r = run(["sh", os.path.join(ROOT, "deploy/install/install.sh"), "--server", server.url, "--token", token,
                 "--root", str(root)], env=env)
        assert r.returncode == 0, r.stdout + r.stderr
        binp = root / "usr/local/bin/restic-manager-agent"
        assert binp.read_bytes() == open(os.path.join(DIST_TREE, "agent-binaries",
                                                     "restic-manager-agent-linux-amd64"), "rb").read()
        assert oct(binp.stat().st_mode & 0o777) == "0o755"
        assert oct((root / "etc/systemd/system/restic-manager-agent.service").stat().st_mode & 0o777) == "0o644"
        conf = root / "etc/restic-manager"
        assert oct(conf.stat().st_mode & 0o777) == "0o700"
        files = [conf / f for f in os.listdir(conf)]
        assert (conf / "agent.token").is_file(), files  # what install.sh takes as "enrolled"
        for f in files:  # the agent token file is private
            if f.is_file():
                assert f.stat().st_mode & 0o077 == 0, f
        assert (tmp_path / "systemctl.log").read_text().splitlines() == [
            "daemon-reload", "enable --now restic-manager-agent.service"]
        h = host_by_name(admin, "rel-install")
        assert h is not None
        # what systemd would start: the installed binary with the installed config
        agent = Agent(tmp_path, str(binp), restic=RESTIC)
        agent.conf, agent.state = str(conf), str(root / "var/lib/restic-manager")
        agent.start()
        wait_for(lambda: (host_by_name(admin, "rel-install") or {}).get("status") == "online", timeout=60,
                 what="installed agent online")
        # re-running upgrades in place and keeps that enrolment (no token now)
        r = run(["sh", os.path.join(ROOT, "deploy/install/install.sh"), "--server", server.url,
                 "--root", str(root)], env=env)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "keeping the enrolment" in r.stdout
        assert [x["name"] for x in admin.get("/api/v1/hosts").json()["items"]].count("rel-install") == 1
    finally:
        if agent:
            agent.stop()
        server.stop()


def test_the_servers_install_one_liner_runs_verbatim(tmp_path):
    """The exact `install.linux` command the API hands out (curl … | sudo
    RM_SERVER=… RM_ENROL_TOKEN=… sh) installs and enrols the real static agent;
    only sudo is a stand-in (it execs through env, as sudo VAR=value does) and the
    installation root comes from RM_INSTALL_ROOT.  Then the printed undo command
    (--uninstall) removes it again."""
    need(os.path.join(DIST_TREE, "agent-binaries", "restic-manager-agent-linux-amd64"), "make dist")
    server = AnyServer(tmp_path, need(STATIC_SERVER["amd64"], "make server-static TARGET=amd64"),
                       env={"RM_BUNDLED_ASSETS_DIR": DIST_TREE})
    server.start()
    try:
        admin = bootstrap_admin(server)
        r = admin.post("/api/v1/enrollment-tokens",
                       json={"hostname": "one-liner", "repository": {"url": str(tmp_path / "repo"), "password": PASSWORD},
                             "paths": [str(tmp_path)]})
        assert r.status_code == 201, r.text
        cmd = r.json()["install"]["linux"]
        assert cmd.startswith(f"curl -fsSL '{server.url}/install/install.sh' | sudo ")
        fakebin = tmp_path / "fakebin"
        fakebin.mkdir()
        for name, body in (("systemctl", f'printf "%s\\n" "$*" >> "{tmp_path}/systemctl.log"'),
                           ("sudo", 'exec env "$@"')):
            (fakebin / name).write_text(f"#!/bin/sh\n{body}\n")
            (fakebin / name).chmod(0o755)
        root = tmp_path / "root"
        env = dict(os.environ, PATH=f"{fakebin}:{os.environ['PATH']}", RM_SYSTEMCTL=str(fakebin / "systemctl"),
                   RM_INSTALL_ROOT=str(root))
        out = run(["sh", "-c", cmd], env=env)
        assert out.returncode == 0, out.stdout + out.stderr
        assert r.json()["token"] not in out.stdout + out.stderr  # the token is not echoed back
        binp = root / "usr/local/bin/restic-manager-agent"
        assert binp.read_bytes() == open(os.path.join(DIST_TREE, "agent-binaries",
                                                     "restic-manager-agent-linux-amd64"), "rb").read()
        assert (root / "etc/restic-manager/agent.token").is_file()
        assert host_by_name(admin, "one-liner") is not None
        assert "enable --now restic-manager-agent.service" in (tmp_path / "systemctl.log").read_text()
        # the undo the installer printed
        undo = next(ln for ln in out.stdout.splitlines() if "to undo:" in ln).split("to undo:", 1)[1]
        undo = undo.split("(as root")[0].strip()
        assert "--uninstall" in undo
        u = run(["sh", "-c", undo], env=env)
        assert u.returncode == 0, u.stdout + u.stderr
        assert not binp.exists() and not (root / "etc/systemd/system/restic-manager-agent.service").exists()
    finally:
        server.stop()
