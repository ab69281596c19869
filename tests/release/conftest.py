"""Release-test harness: the system-test Server/Client (tests/system/conftest.py),
loaded under another name, plus a launcher for any server binary (the static
builds, the arm64 one under qemu-aarch64-static) and the artefact paths.

Environment:
  RM_RELEASE_VERSION / RM_RELEASE_COMMIT / RM_RELEASE_DATE  what scripts/check.d/release.sh
      built the artefacts with (the --version checks compare against them when set)
"""
import hashlib
import importlib.util
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_spec = importlib.util.spec_from_file_location("system_conftest", os.path.join(ROOT, "tests", "system", "conftest.py"))
sc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sc)

wait_for = sc.wait_for
Client = sc.Client
ADMIN_USER = sc.ADMIN_USER
ADMIN_PASSWORD = sc.ADMIN_PASSWORD

DIST = os.path.join(ROOT, "dist")
DIST_TREE = os.path.join(DIST, "opt", "restic-manager", "dist")
AGENTS_DIR = os.path.join(ROOT, "build", "agents")
STATIC_SERVER = {a: os.path.join(ROOT, "build", "server-static", a, "restic-manager-server") for a in ("amd64", "arm64")}
NATIVE_SERVER = os.path.join(ROOT, "bin", "restic-manager-server")
HAVE_WIN_PORT = os.path.exists(os.path.join(ROOT, "src", "agent", "plat_win32.c"))
QEMU_ARM64 = shutil.which("qemu-aarch64-static")

AGENT_FILES = ["restic-manager-agent-linux-amd64", "restic-manager-agent-linux-arm64"] + \
    (["restic-manager-agent-windows-amd64.exe"] if HAVE_WIN_PORT else [])
INSTALL_FILES = {"install.sh": 0o755, "install.ps1": 0o644, "restic-manager-agent.service": 0o644}


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def need(path, how):
    """Fail (not skip) when an artefact the phase should have built is missing."""
    if not os.path.exists(path):
        pytest.fail(f"missing {os.path.relpath(path, ROOT)}: run {how}")
    return path


class AnyServer(sc.Server):
    """sc.Server for an arbitrary binary, optionally behind a runner (qemu)."""

    def __init__(self, tmp_path, binary, runner=(), env=None, args=None):
        super().__init__(tmp_path, env=env, args=args)
        self.binary = binary
        self.runner = list(runner)

    def start(self, expect_fail=False, timeout=60):
        """As sc.Server.start, with self.runner + self.binary as the command."""
        if os.path.exists(self.ready_file):
            os.unlink(self.ready_file)
        env = dict(os.environ)
        env.update({
            "RM_DATA_DIR": self.data_dir,
            "RM_COOKIE_SECURE": "false",
            "RM_LOG_LEVEL": "debug",
            "RM_BUNDLED_ASSETS_DIR": str(self.tmp / "bundled"),
        })
        env.update(self.env_extra)
        with open(self.log_path, "ab") as logf:
            self.proc = subprocess.Popen(
                self.runner + [self.binary, "--listen", "127.0.0.1:0", "--ready-file", self.ready_file] + self.args,
                env=env, stdout=logf, stderr=logf)
        if expect_fail:
            return self.proc.wait(timeout=timeout)
        try:
            wait_for(lambda: os.path.exists(self.ready_file) or self.proc.poll() is not None,
                     timeout=timeout, what="server ready file")
        except AssertionError:
            self.kill9()  # never leave a half-started server behind
            raise
        if self.proc.poll() is not None:
            raise AssertionError("server exited early:\n" + self.log_text())
        self.addr = open(self.ready_file).read().strip()
        self.url = "http://" + self.addr
        return 0


def bootstrap_admin(server):
    tok = server.bootstrap_token()
    r = server.post("/api/v1/bootstrap", json={"token": tok, "username": ADMIN_USER, "password": ADMIN_PASSWORD})
    assert r.status_code == 201, r.text
    c = Client(server)
    assert c.login(ADMIN_USER, ADMIN_PASSWORD).status_code == 200
    return c


@pytest.fixture
def dist_server(tmp_path):
    """The static amd64 server serving the `make dist` tree as its bundled assets."""
    need(STATIC_SERVER["amd64"], "make server-static TARGET=amd64")
    need(DIST_TREE, "make dist")
    s = AnyServer(tmp_path, STATIC_SERVER["amd64"], env={"RM_BUNDLED_ASSETS_DIR": DIST_TREE})
    s.start()
    yield s
    rc = s.stop()
    if rc not in (None, 0):
        pytest.fail(f"server exited with {rc}:\n{s.log_text()[-4000:]}")


@pytest.fixture
def native(tmp_path):
    """The native server (make build) on a fresh data directory."""
    s = AnyServer(tmp_path, need(NATIVE_SERVER, "make build"))
    s.start()
    yield s
    rc = s.stop()
    if rc not in (None, 0):
        pytest.fail(f"server exited with {rc}:\n{s.log_text()[-4000:]}")


def host_by_name(admin, name):
    return next((h for h in admin.get("/api/v1/hosts").json()["items"] if h["name"] == name), None)


def wait_job(admin, job_id, agent, timeout=120):
    """The job once it left queued/running; on a timeout the agent's log tail is in the failure."""
    def done():
        j = admin.get(f"/api/v1/jobs/{job_id}").json()
        return j if j["status"] not in ("queued", "running") else None
    try:
        return wait_for(done, timeout=timeout, interval=0.1, what=f"job {job_id}")
    except AssertionError:
        raise AssertionError(f"job {job_id} did not finish; agent log:\n{agent.log()[-3000:]}")


def run(cmd, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 120)
    return subprocess.run(cmd, **kw)
