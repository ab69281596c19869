"""System-test harness: starts the real restic-manager-server on port 0 in a
temporary data directory and hands tests a small client.  Readiness is the
server's --ready-file (polled), never a sleep.

Environment:
  RM_BIN_DIR   directory holding restic-manager-server / -agent (default: bin/)
"""
import json
import os
import re
import signal
import subprocess
import time

import pytest
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN_DIR = os.environ.get("RM_BIN_DIR", os.path.join(ROOT, "bin"))
SERVER_BIN = os.path.join(BIN_DIR, "restic-manager-server")
AGENT_BIN = os.path.join(BIN_DIR, "restic-manager-agent")
SANITIZED = os.environ.get("RM_SANITIZED") == "1"


def wait_for(pred, timeout=20.0, interval=0.02, what="condition"):
    """Poll pred() until it returns a truthy value; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def sse_events(resp):
    """(event, data) of a text/event-stream response as each event arrives
    (data: its data lines joined); events without an `event:` line are skipped."""
    event, data = None, []
    for line in resp.iter_lines(decode_unicode=True):
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif line == "" and event:
            yield event, "".join(data)
            event, data = None, []


JOB_FINAL = ("succeeded", "warning", "failed", "cancelled")
JOB_TIMEOUT = 240 if SANITIZED else 120


def enrol_agent(admin, make_agent, name, repo, password, paths=(), restic=None, env=None, run=True):
    """A real agent (make_agent) enrolled as the new host `name` with repository
    `repo`; its service loop started unless run=False."""
    r = admin.post("/api/v1/enrollment-tokens",
                   json={"hostname": name, "repository": {"url": repo, "password": password}, "paths": list(paths)})
    assert r.status_code == 201, r.text
    agent = make_agent(name, restic=restic, env=env)
    agent.enroll(r.json()["token"])
    if run:
        agent.run()
    return agent


def run_job(admin, hid, body, expect="succeeded", timeout=JOB_TIMEOUT):
    """Creates the job `body` on host hid, waits until it ends and checks that
    it ended `expect` (the job log in the failure)."""
    r = admin.post(f"/api/v1/hosts/{hid}/jobs", json=body)
    assert r.status_code == 201, r.text
    jid = r.json()["id"]
    j = wait_for(lambda: (lambda j: j if j["status"] in JOB_FINAL else None)(admin.get(f"/api/v1/jobs/{jid}").json()),
                 timeout=timeout, interval=0.1, what=f"job {body['kind']}")
    assert j["status"] == expect, (j, admin.get(f"/api/v1/jobs/{jid}/log").text)
    return j


class Server:
    """One real server process.  start()/stop()/kill9()/restart() keep the data dir."""

    def __init__(self, tmp_path, env=None, args=None):
        self.data_dir = str(tmp_path / "data")
        self.tmp = tmp_path
        self.env_extra = dict(env or {})
        self.args = list(args or [])
        self.proc = None
        self.url = None
        self.addr = None
        self.log_path = str(tmp_path / "server.log")
        self.ready_file = str(tmp_path / "ready")
        self.http = requests.Session()

    def start(self, expect_fail=False, timeout=30):
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
        logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [SERVER_BIN, "--listen", "127.0.0.1:0", "--ready-file", self.ready_file] + self.args,
            env=env, stdout=logf, stderr=logf)
        logf.close()
        if expect_fail:
            rc = self.proc.wait(timeout=timeout)
            return rc
        wait_for(lambda: os.path.exists(self.ready_file) or self.proc.poll() is not None,
                 timeout=timeout, what="server ready file")
        if self.proc.poll() is not None:
            raise AssertionError("server exited early:\n" + self.log_text())
        self.addr = open(self.ready_file).read().strip()
        self.url = "http://" + self.addr
        return 0

    def stop(self, timeout=20):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            rc = self.proc.wait(timeout=timeout)
            self.proc = None
            return rc
        self.proc = None
        return None

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def restart(self):
        self.stop()
        self.start()

    def log_text(self):
        try:
            return open(self.log_path, encoding="utf-8", errors="replace").read()
        except FileNotFoundError:
            return ""

    def bootstrap_token(self):
        """The one-time token from the bootstrap URL in the log."""
        m = wait_for(lambda: re.search(r"/bootstrap\?token=([A-Za-z0-9_-]+)", self.log_text()),
                     what="bootstrap URL in log")
        return m.group(1)

    # --- HTTP helpers ---
    def req(self, method, path, **kw):
        kw.setdefault("timeout", 30)
        return self.http.request(method, self.url + path, **kw)

    def get(self, path, **kw):
        return self.req("GET", path, **kw)

    def post(self, path, **kw):
        return self.req("POST", path, **kw)


class Client:
    """A logged-in API client (cookie session + CSRF, or Bearer token)."""

    def __init__(self, server, token=None):
        self.server = server
        self.s = requests.Session()
        self.csrf = None
        if token:
            self.s.headers["Authorization"] = "Bearer " + token

    def login(self, username, password):
        r = self.s.post(self.server.url + "/api/v1/auth/login",
                        json={"username": username, "password": password}, timeout=30)
        if r.status_code == 200:
            self.csrf = r.json()["csrf_token"]
        return r

    def req(self, method, path, **kw):
        kw.setdefault("timeout", 30)
        headers = kw.pop("headers", {})
        if self.csrf and method not in ("GET", "HEAD"):
            headers.setdefault("X-CSRF-Token", self.csrf)
        return self.s.request(method, self.server.url + path, headers=headers, **kw)

    def get(self, path, **kw):
        return self.req("GET", path, **kw)

    def post(self, path, **kw):
        return self.req("POST", path, **kw)

    def put(self, path, **kw):
        return self.req("PUT", path, **kw)

    def patch(self, path, **kw):
        return self.req("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.req("DELETE", path, **kw)


ADMIN_USER = "admin"
ADMIN_PASSWORD = "correct horse battery staple"


@pytest.fixture
def server(tmp_path):
    s = Server(tmp_path)
    s.start()
    yield s
    rc = s.stop()
    # A sanitizer report or a crash makes the run fail even if the test passed.
    if rc not in (None, 0):
        pytest.fail(f"server exited with {rc}:\n{s.log_text()[-4000:]}")
    assert "ERROR: AddressSanitizer" not in s.log_text()
    assert "runtime error:" not in s.log_text()
    # No test's admin password ever reaches the log (test_no_secrets.py checks every kind).
    assert ADMIN_PASSWORD not in s.log_text(), "the admin password is in the server log"


def agent_secrets(agent):
    """The agent's bearer token and repository credentials (from its 0600 config
    files): values that must never appear in any log."""
    out = []
    try:
        with open(os.path.join(agent.config_dir, "agent.token")) as f:
            out.append(f.read().strip())
    except OSError:
        pass
    try:
        with open(os.path.join(agent.config_dir, "repository.json")) as f:
            repo = json.load(f).get("repository") or {}
        out.append(repo.get("password") or "")
        out += [v for v in (repo.get("env") or {}).values() if isinstance(v, str)]
    except (OSError, ValueError, AttributeError):
        pass
    return [x for x in out if len(x) >= 8]


@pytest.fixture
def admin(server):
    """A logged-in admin client on a bootstrapped server."""
    tok = server.bootstrap_token()
    r = server.post("/api/v1/bootstrap", json={"token": tok, "username": ADMIN_USER, "password": ADMIN_PASSWORD})
    assert r.status_code == 201, r.text
    c = Client(server)
    assert c.login(ADMIN_USER, ADMIN_PASSWORD).status_code == 200
    return c


def error_code(resp):
    """The JSON error code of an error response (asserts the body shape)."""
    body = resp.json()
    assert set(body.keys()) == {"error"}, body
    assert set(body["error"].keys()) >= {"code", "message"}, body
    return body["error"]["code"]


class Agent:
    """One real restic-manager-agent with its own config and state dirs under
    tmp_path/<name>.  enroll() runs the CLI; run() starts the service loop;
    readiness is the agent's own log line "connected to" (polled, counted so a
    reconnect after a restart is seen), never a sleep."""

    def __init__(self, tmp_path, server, name="agent", restic=None, env=None):
        self.base = tmp_path / name
        self.config_dir = str(self.base / "etc")
        self.state_dir = str(self.base / "state")
        self.log_path = str(self.base / "agent.log")
        self.server = server
        self.restic = restic
        self.env_extra = dict(env or {})
        self.proc = None
        os.makedirs(self.base, exist_ok=True)

    def dir_args(self):
        a = ["--config-dir", self.config_dir, "--state-dir", self.state_dir]
        if self.restic:
            a += ["--restic", self.restic]
        return a

    def env(self):
        e = dict(os.environ)
        e.setdefault("RM_LOG_LEVEL", "debug")
        e.update(self.env_extra)
        return e

    def cli(self, *args, env=None, timeout=60):
        """Run the agent CLI once; returns CompletedProcess (text)."""
        e = self.env()
        e.update(env or {})
        r = subprocess.run([AGENT_BIN] + list(args) + self.dir_args(), env=e, capture_output=True,
                           text=True, timeout=timeout)
        assert "Sanitizer" not in r.stderr and "runtime error:" not in r.stderr, r.stderr
        return r

    def enroll(self, token, url=None, check=True):
        r = self.cli("enroll", "--server", url or self.server.url, "--token", token)
        if check:
            assert r.returncode == 0, r.stdout + r.stderr
        return r

    @property
    def host_id(self):
        with open(os.path.join(self.config_dir, "agent.json")) as f:
            return json.load(f)["host_id"]

    def state(self):
        try:
            with open(os.path.join(self.state_dir, "state.json")) as f:
                return json.load(f)
        except FileNotFoundError:
            return {}

    def log_text(self):
        try:
            return open(self.log_path, encoding="utf-8", errors="replace").read()
        except FileNotFoundError:
            return ""

    def connections(self):
        return self.log_text().count(" connected to ")

    def run(self, wait=True, timeout=30):
        before = self.connections()
        logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen([AGENT_BIN, "run"] + self.dir_args(), env=self.env(), stdout=logf,
                                     stderr=logf)
        logf.close()
        if wait:
            self.wait_connected(before, timeout=timeout)
        return self

    def wait_connected(self, before, timeout=30):
        """Wait until the agent logged more connections than `before`."""
        def ok():
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError("agent exited early:\n" + self.log_text()[-4000:])
            return self.connections() > before
        wait_for(ok, timeout=timeout, what="agent connected")

    def stop(self, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            rc = self.proc.wait(timeout=timeout)
            self.proc = None
            return rc
        rc = self.proc.returncode if self.proc else None
        self.proc = None
        return rc

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


@pytest.fixture
def make_agent(tmp_path, server):
    """Factory for agents on the test's server; stops them all at the end and
    fails the test on a sanitizer report in an agent log."""
    made = []

    def make(name="agent", **kw):
        a = Agent(tmp_path, server, name=name, **kw)
        made.append(a)
        return a
    yield make
    for a in made:
        rc = a.stop()
        assert rc in (None, 0), f"agent exited with {rc}:\n" + a.log_text()[-4000:]
        assert "Sanitizer" not in a.log_text(), a.log_text()[-4000:]
        assert "runtime error:" not in a.log_text(), a.log_text()[-4000:]
        # every end-to-end run doubles as a secrets-in-logs check
        for secret in agent_secrets(a):
            assert secret not in a.log_text(), f"a secret of agent {a.base.name} is in its log"
            assert secret not in server.log_text(), f"a secret of agent {a.base.name} is in the server log"
