"""Issue 3 points that had no test of their own, with the real server, the
real agent and (where a job runs) the real restic:

* `restic-manager-agent status` shows server, host id, last contact, queued
  events and the schedule version it applied;
* the event spool's cap: a clear log line when reached, results still
  delivered (test hook RM_TEST_SPOOL_CAP_BYTES makes the cap small);
* credentials embedded in a repository URL are scrubbed from restic's
  output (a wrapper echoes the URL restic gets), the agent log and the API;
* bad input on the agent endpoints and the operator job/host endpoints:
  a clear 4xx with the JSON error body, nothing stored, the server alive."""
import json
import os
import shutil
import stat
import subprocess

import pytest
import requests

from conftest import wait_for, error_code, enrol_agent, run_job, SANITIZED

RESTIC = shutil.which("restic")
PASSWORD = "repo-pass-Gaps3-Xy7Q"
FINAL = ("succeeded", "warning", "failed", "cancelled")
TIMEOUT = 240 if SANITIZED else 120
needs_restic = pytest.mark.skipif(RESTIC is None, reason="restic is not installed")


def wrapper(tmp_path, name, before):
    """The real restic behind a shell prelude (then exec: same process)."""
    p = tmp_path / name
    p.write_text(f'#!/bin/sh\n{before}\nexec "{RESTIC}" "$@"\n')
    p.chmod(p.stat().st_mode | stat.S_IXUSR)
    return str(p)


def enrol(admin, make_agent, name, repo, paths=(), restic=None, env=None, run=True):
    return enrol_agent(admin, make_agent, name, repo, PASSWORD, paths, restic=restic, env=env, run=run)


def status_fields(agent):
    r = agent.cli("status")
    assert r.returncode == 0, r.stdout + r.stderr
    out = {}
    for line in r.stdout.splitlines():
        k, _, v = line.partition(": ")
        out[k] = v
    return out, r.stdout


# ---- agent status ----

def test_agent_status_shows_server_host_contact_queue_and_schedule_version(admin, make_agent, tmp_path, server):
    agent = enrol(admin, make_agent, "status-1", str(tmp_path / "repo"), paths=[str(tmp_path)], run=False)
    token = open(os.path.join(agent.config_dir, "agent.token")).read().strip()
    f, text = status_fields(agent)
    assert f["server"] == server.url and f["host id"] == str(agent.host_id)
    assert f["last contact"] == "never" and f["queued events"] == "0" and f["schedule version"] == "0"
    assert token not in text and PASSWORD not in text

    agent.run()
    hid = agent.host_id
    r = admin.post(f"/api/v1/hosts/{hid}/schedules", json={"cron": "0 3 * * *", "groups": ["default"]})
    assert r.status_code == 201, r.text
    sched = wait_for(lambda: (lambda s: s if not s["drift"] and s["applied_version"] >= 1 else None)(
        admin.get(f"/api/v1/hosts/{hid}/schedules").json()), timeout=TIMEOUT, what="schedule applied")
    wait_for(lambda: status_fields(agent)[0]["queued events"] == "0", timeout=TIMEOUT, what="spool drained")
    f, text = status_fields(agent)
    assert f["server"] == server.url and f["host id"] == str(hid)
    assert f["last contact"].startswith("20") and f["last contact"].endswith("Z"), f
    assert f["schedule version"] == str(sched["applied_version"]) == str(sched["version"]), (f, sched)
    assert int(f["queued events"]) == 0 and f["running job"] == "none"
    assert token not in text and PASSWORD not in text



# ---- spool cap ----

@needs_restic
def test_spool_cap_logged_and_results_kept(admin, make_agent, tmp_path):
    noisy = wrapper(tmp_path, "restic-noisy",
                    'i=0; while [ $i -lt 450 ]; do echo "noise line $i: padding padding padding padding" >&2; '
                    'i=$((i+1)); done')
    agent = enrol(admin, make_agent, "cap-1", str(tmp_path / "repo"), paths=[str(tmp_path / "src")],
                  restic=noisy, env={"RM_TEST_SPOOL_CAP_BYTES": "4096"})
    assert "RM_TEST_SPOOL_CAP_BYTES=4096" in agent.log_text()
    j = run_job(admin, agent.host_id, {"kind": "init"})
    # A 200-line log batch is larger than the whole spool: it is dropped, with a clear line.
    log = wait_for(lambda: (lambda t: t if "reached its cap of 4096 bytes" in t else None)(agent.log_text()),
                   timeout=TIMEOUT, what="the spool cap log line")
    line = [l for l in log.splitlines() if "reached its cap" in l][0]
    assert "spool.ndjson" in line and "dropping progress and log events" in line, line
    # The job's result still arrived (results are never dropped) and the log
    # holds what fit, not the 450 noise lines.
    assert j["exit_code"] == 0
    assert j["log_lines"] < 450, j
    # and the repository really exists
    assert os.path.exists(tmp_path / "repo" / "config")
    wait_for(lambda: status_fields(agent)[0]["queued events"] == "0", timeout=TIMEOUT, what="spool drained")


# ---- URL credentials ----

@needs_restic
def test_url_credentials_scrubbed_everywhere(admin, make_agent, tmp_path, server):
    url_pass = "UrlPass-9xQ2zK"
    repo = f"rest:http://alice:{url_pass}@127.0.0.1:9/repo"
    echo = wrapper(tmp_path, "restic-echo", 'echo "repository is $RESTIC_REPOSITORY"; '
                                            'echo "stderr: $RESTIC_REPOSITORY" >&2')
    agent = enrol(admin, make_agent, "url-1", repo, restic=echo)
    hid = agent.host_id
    j = run_job(admin, hid, {"kind": "check"}, expect="failed")  # output as log lines
    log = admin.get(f"/api/v1/jobs/{j['id']}/log").text
    assert "repository is rest:http://alice:***@127.0.0.1:9/repo" in log, log
    assert "stderr: rest:http://alice:***@127.0.0.1:9/repo" in log, log
    texts = {"job log": log,
             "job": json.dumps(admin.get(f"/api/v1/jobs/{j['id']}").json()),
             "ndjson": admin.get(f"/api/v1/jobs/{j['id']}/log", params={"format": "ndjson"}).text,
             "host": admin.get(f"/api/v1/hosts/{hid}").text,
             "hosts": admin.get("/api/v1/hosts").text,
             "agent log": agent.log_text(),
             "server log": server.log_text(),
             "audit": admin.get("/api/v1/audit", params={"limit": 500}).text}
    for where, t in texts.items():
        assert url_pass not in t, where
        assert PASSWORD not in t, where
    assert "alice:***@" in admin.get(f"/api/v1/hosts/{hid}").json()["repository"]["url"]


# ---- bad input: agent endpoints ----

class Raw:
    def __init__(self, server, token=None):
        self.server = server
        self.token = token

    def h(self, extra=None):
        h = {"X-RM-Protocol": "1"}
        if self.token:
            h["Authorization"] = "Bearer " + self.token
        h.update(extra or {})
        return h

    def get(self, path, **kw):
        return requests.get(self.server.url + path, headers=self.h(), timeout=30, **kw)

    def post(self, path, body=None, raw=None, **kw):
        if raw is not None:
            return requests.post(self.server.url + path, headers=self.h({"Content-Type": "application/json"}),
                                 data=raw, timeout=30, **kw)
        return requests.post(self.server.url + path, headers=self.h(), json=body, timeout=30, **kw)


def fake_enrol(server, admin, name):
    tok = admin.post("/api/v1/enrollment-tokens",
                     json={"hostname": name, "repository": {"url": "/tmp/repo-" + name, "password": PASSWORD},
                           "paths": ["/srv"]}).json()["token"]
    a = Raw(server)
    r = a.post("/api/agent/v1/enroll", {"token": tok, "protocol_version": 1, "hostname": name, "os": "linux",
                                        "arch": "amd64", "agent_version": "t", "restic_version": "0.14.0"})
    assert r.status_code == 201, r.text
    a.token = r.json()["agent_token"]
    a.host_id = r.json()["host_id"]
    return a


def hello_body(**kw):
    b = {"protocol_version": 1, "agent_version": "t", "os": "linux", "arch": "amd64", "hostname": "h",
         "restic_version": "0.14.0", "schedule_version": 0, "running_job_id": None, "last_command_seq": 0}
    b.update(kw)
    return b


def is_clear_4xx(r, status=None):
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    if status is not None:
        assert r.status_code == status, (r.status_code, r.text)
    error_code(r)  # the JSON error body
    return r


def test_agent_endpoints_bad_input(server, admin):
    a = fake_enrol(server, admin, "bad-agent")
    assert a.post("/api/agent/v1/hello", hello_body()).status_code == 200
    # enroll: not JSON, not an object, missing/odd token
    anon = Raw(server)
    is_clear_4xx(anon.post("/api/agent/v1/enroll", raw="{nope"), 400)
    is_clear_4xx(anon.post("/api/agent/v1/enroll", raw="[1]"), 400)
    is_clear_4xx(anon.post("/api/agent/v1/enroll", {"protocol_version": 1, "hostname": "x"}))
    is_clear_4xx(anon.post("/api/agent/v1/enroll", {"token": 5, "protocol_version": 1}))
    is_clear_4xx(anon.post("/api/agent/v1/enroll", {"token": "x" * 5000, "protocol_version": 1}))
    # hello: bad JSON and wrong types
    is_clear_4xx(a.post("/api/agent/v1/hello", raw="{nope"), 400)
    is_clear_4xx(a.post("/api/agent/v1/hello", hello_body(last_command_seq="three")), 400)
    is_clear_4xx(a.post("/api/agent/v1/hello", hello_body(last_command_seq=-1)), 400)
    is_clear_4xx(a.post("/api/agent/v1/hello", hello_body(queued_job_ids=["x"])), 400)
    is_clear_4xx(a.post("/api/agent/v1/hello", hello_body(running_job_id="not-hex")), 400)
    # commands: bad parameters
    for q in ("after=-1", "after=abc", "wait=61", "wait=-1", "wait=x", "after=99999999999999999999"):
        is_clear_4xx(a.get(f"/api/agent/v1/commands?{q}"), 400)
    # events: no bearer, a wrong one, bad JSON shapes
    is_clear_4xx(Raw(server).post("/api/agent/v1/events", {"events": []}), 401)
    is_clear_4xx(Raw(server, "A" * 43).post("/api/agent/v1/events", {"events": []}), 401)
    is_clear_4xx(a.post("/api/agent/v1/events", raw="[]"), 400)
    is_clear_4xx(a.post("/api/agent/v1/events", {"events": [{"type": "schedule.ack", "version": 1}]}), 400)  # no seq
    is_clear_4xx(a.post("/api/agent/v1/events", {"events": [{"seq": 0, "type": "schedule.ack", "version": 1}]}),
                 400)
    is_clear_4xx(a.post("/api/agent/v1/events", {"events": [{"seq": 1, "type": "job.progress",
                                                              "job_id": "0" * 32, "percent": "lots"}]}), 400)
    # Nothing was stored by the refused requests; the agent and server still work.
    assert admin.get("/api/v1/jobs").json()["items"] == []
    assert admin.get("/api/v1/hosts").json()["items"][0]["name"] == "bad-agent"
    assert len(admin.get("/api/v1/hosts").json()["items"]) == 1
    assert a.post("/api/agent/v1/hello", hello_body()).status_code == 200
    assert server.get("/healthz").status_code == 200


def test_operator_job_and_host_endpoints_bad_input(server, admin):
    a = fake_enrol(server, admin, "bad-op")
    hid = a.host_id
    unknown = "0123456789abcdef" * 2
    # job ids: malformed or unknown
    for jid in ("zzz", unknown, "../etc", "A" * 32):
        assert admin.get(f"/api/v1/jobs/{jid}").status_code in (400, 404), jid
        assert admin.post(f"/api/v1/jobs/{jid}/cancel").status_code in (400, 404), jid
        assert admin.get(f"/api/v1/jobs/{jid}/log").status_code in (400, 404), jid
        assert admin.get(f"/api/v1/jobs/{jid}/stream", timeout=10).status_code in (400, 404), jid
    is_clear_4xx(admin.get(f"/api/v1/jobs/{unknown}"), 404)
    # list filters
    for q in ({"status": "bogus"}, {"kind": "explode"}, {"host": "abc"}, {"limit": 0}, {"limit": 501},
              {"cursor": "not-a-cursor"}):
        is_clear_4xx(admin.get("/api/v1/jobs", params=q), 400)
    # job bodies: not JSON, oversized, unknown host
    is_clear_4xx(admin.post(f"/api/v1/hosts/{hid}/jobs", data="{", headers={"Content-Type": "application/json"}),
                 400)
    r = admin.post(f"/api/v1/hosts/{hid}/jobs", json={"kind": "backup", "paths": ["/x" * 1000] * 2000})
    assert r.status_code in (400, 413), r.status_code
    is_clear_4xx(admin.post("/api/v1/hosts/424242/jobs", json={"kind": "init"}), 404)
    # a job of one host is not reachable as another's: the log/cancel use the job id only,
    # and the agent of another host cannot touch it (test_agent_protocol); the log of a
    # job exists once
    ok = admin.post(f"/api/v1/hosts/{hid}/jobs", json={"kind": "snapshots"})
    assert ok.status_code == 201
    is_clear_4xx(admin.get(f"/api/v1/jobs/{ok.json()['id']}/log", params={"format": "xml"}), 400)
    # hosts
    for path in ("/api/v1/hosts/abc", "/api/v1/hosts/424242", "/api/v1/hosts/424242/snapshots",
                 "/api/v1/hosts/-1"):
        assert admin.get(path).status_code in (400, 404), path
    is_clear_4xx(admin.delete("/api/v1/hosts/424242"), 404)
    is_clear_4xx(admin.get("/api/v1/hosts", params={"status": "sleepy"}), 400)
    # enrolment tokens
    base = {"hostname": "x1", "repository": {"url": "/r", "password": PASSWORD}}
    for body in ({**base, "repository": {"url": "/r", "env": {"bad name": "v"}}},
                 {**base, "repository": {"url": "/r", "env": {f"V{i}": "x" for i in range(40)}}},
                 {**base, "repository": {"url": "/r" + "x" * 3000}},
                 {**base, "repository": {"url": ""}},
                 {**base, "paths": "/etc"},
                 {**base, "paths": [5]},
                 {**base, "tags": "prod"},
                 {**base, "hostname": "x" * 300}):
        r = admin.post("/api/v1/enrollment-tokens", json=body)
        is_clear_4xx(r, 400)
    # only the one job was stored; nothing else
    assert len(admin.get("/api/v1/jobs").json()["items"]) == 1
    assert len(admin.get("/api/v1/hosts").json()["items"]) == 1
    assert server.get("/healthz").status_code == 200


# ---- enrolment: install commands from RM_BASE_URL, secrets never stored in clear ----

@pytest.fixture
def based(tmp_path):
    from conftest import Server, Client, ADMIN_USER, ADMIN_PASSWORD
    s = Server(tmp_path, env={"RM_BASE_URL": "https://rm.example.test"})
    s.start()
    tok = s.bootstrap_token()
    assert s.post("/api/v1/bootstrap", json={"token": tok, "username": ADMIN_USER,
                                             "password": ADMIN_PASSWORD}).status_code == 201
    c = Client(s)
    assert c.login(ADMIN_USER, ADMIN_PASSWORD).status_code == 200
    yield s, c
    assert s.stop() in (None, 0), s.log_text()[-4000:]


def db_bytes(server):
    out = b""
    for suffix in ("", "-wal", "-journal"):
        p = os.path.join(server.data_dir, "restic-manager.db" + suffix)
        if os.path.exists(p):
            out += open(p, "rb").read()
    return out


def test_enrolment_install_commands_and_secrets_at_rest(based):
    server, admin = based
    env_secret = "Aws-Secret-Value-77Qq"
    r = admin.post("/api/v1/enrollment-tokens",
                   json={"hostname": "base-1", "paths": ["/etc"], "tags": ["prod"],
                         "repository": {"url": "s3:s3.example.test/b", "password": PASSWORD,
                                        "env": {"AWS_SECRET_ACCESS_KEY": env_secret}}})
    assert r.status_code == 201, r.text
    t = r.json()
    tok = t["token"]
    base = "https://rm.example.test"
    assert t["install"]["linux"] == (f"curl -fsSL '{base}/install/install.sh' | sudo RM_SERVER='{base}' "
                                     f"RM_ENROL_TOKEN='{tok}' sh")
    assert t["install"]["windows"] == (f"$env:RM_SERVER='{base}'; $env:RM_ENROL_TOKEN='{tok}'; "
                                       f"irm '{base}/install/install.ps1' | iex")
    # one hour
    from datetime import datetime, timezone
    exp = datetime.fromisoformat(t["expires_at"].replace("Z", "+00:00"))
    left = (exp - datetime.now(timezone.utc)).total_seconds()
    assert 3500 < left <= 3600, left
    # the token, the password and the env secret are not in the database in clear
    raw = db_bytes(server)
    for s in (tok, PASSWORD, env_secret):
        assert s.encode() not in raw, s
    import hashlib
    assert hashlib.sha256(tok.encode()).hexdigest().encode() in raw or \
        hashlib.sha256(tok.encode()).digest() in raw  # stored as its hash
    # enrol; the agent token is not stored in clear either, and the API never shows secrets
    a = Raw(server)
    r = a.post("/api/agent/v1/enroll", {"token": tok, "protocol_version": 1, "hostname": "base-1", "os": "linux",
                                        "arch": "amd64", "agent_version": "t", "restic_version": "0.14.0"})
    assert r.status_code == 201, r.text
    agent_token = r.json()["agent_token"]
    raw = db_bytes(server)
    for s in (tok, agent_token, PASSWORD, env_secret):
        assert s.encode() not in raw, s
    for path in ("/api/v1/hosts", f"/api/v1/hosts/{r.json()['host_id']}", "/api/v1/audit?limit=100"):
        text = admin.get(path).text
        for s in (tok, agent_token, PASSWORD, env_secret):
            assert s not in text, (path, s)
    for s in (tok, agent_token, PASSWORD, env_secret):
        assert s not in server.log_text(), s


# ---- one job at a time per host ----

@needs_restic
def test_jobs_of_one_host_run_one_at_a_time(admin, make_agent, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    slow = tmp_path / "restic-slow"
    slow.write_text(f'#!/bin/sh\nexec "{RESTIC}" --limit-upload=1024 "$@"\n')  # >= 3 s per backup
    slow.chmod(slow.stat().st_mode | stat.S_IXUSR)
    slow = str(slow)
    agent = enrol(admin, make_agent, "serial-1", str(tmp_path / "repo"), paths=[str(src)], restic=slow)
    hid = agent.host_id
    run_job(admin, hid, {"kind": "init"})
    ids = []
    for _ in range(2):
        r = admin.post(f"/api/v1/hosts/{hid}/jobs", json={"kind": "backup", "group": "default"})
        assert r.status_code == 201 and r.json()["status"] == "queued"
        ids.append(r.json()["id"])
    seen_first_running = False
    deadline_state = None

    def step():
        nonlocal seen_first_running, deadline_state
        a, b = (admin.get(f"/api/v1/jobs/{i}").json() for i in ids)
        assert not (a["status"] == "running" and b["status"] == "running"), (a, b)
        if a["status"] == "running":
            seen_first_running = True
            assert b["status"] == "queued", b
        deadline_state = (a, b)
        return a["status"] in FINAL and b["status"] in FINAL
    wait_for(step, timeout=TIMEOUT, interval=0.1, what="both backups")
    a, b = deadline_state
    assert seen_first_running
    assert a["status"] == b["status"] == "succeeded", (a, b)
    assert b["started_at"] >= a["finished_at"], (a, b)


# ---- host detail and fleet summary with a real agent ----

@needs_restic
def test_host_detail_and_fleet_summary_from_a_real_agent(admin, make_agent, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.bin").write_bytes(os.urandom(50000))
    agent = enrol(admin, make_agent, "detail-1", str(tmp_path / "repo"), paths=[str(src)])
    hid = agent.host_id
    h = admin.get(f"/api/v1/hosts/{hid}").json()
    assert h["last_backup"] is None and h["snapshot_count"] == 0 and h["repo_stats"] is None
    assert admin.get("/api/v1/fleet/summary").json()["hosts"]["never_backed_up"] == 1
    run_job(admin, hid, {"kind": "init"})
    b = run_job(admin, hid, {"kind": "backup", "group": "default"})
    run_job(admin, hid, {"kind": "stats"})
    run_job(admin, hid, {"kind": "check"})
    version = agent.cli("--version").stdout.split()[2]
    restic_version = subprocess.run([RESTIC, "version"], capture_output=True, text=True).stdout.split()[1]

    def detail():
        h = admin.get(f"/api/v1/hosts/{hid}").json()
        rs = h["repo_stats"] or {}
        return h if h["snapshot_count"] == 1 and "raw_size" in rs and "check" in rs else None
    h = wait_for(detail, timeout=TIMEOUT, what="host detail filled in")
    assert h["status"] == "online" and h["os"] == "linux" and h["arch"] in ("amd64", "arm64")
    assert h["agent_version"] == version and h["restic_version"] == restic_version, h
    assert h["last_seen"].endswith("Z") and h["protocol_version"] == 1
    assert h["last_backup"]["job_id"] == b["id"] and h["last_backup"]["status"] == "succeeded"
    assert h["last_success_at"] and h["running_job_id"] is None
    rs = h["repo_stats"]
    assert rs["total_size"] >= 50000 and rs["raw_size"] > 0 and rs["snapshots_count"] == 1
    assert rs["check"]["ok"] is True and "no errors" in rs["check"]["message"]
    assert h["paths"] == [str(src)] and h["repository"]["url"] == str(tmp_path / "repo")
    s = admin.get("/api/v1/fleet/summary").json()
    assert s["hosts"]["total"] == 1 and s["hosts"]["online"] == 1 and s["hosts"]["never_backed_up"] == 0
    assert s["hosts"]["backup_failed"] == 0 and s["snapshots"] == 1
    row = [x for x in admin.get("/api/v1/hosts").json()["items"] if x["id"] == hid][0]
    assert row["status"] == "online" and row["last_backup"]["status"] == "succeeded"


# ---- enrol from the environment; defaults ----

def test_enrol_from_environment_and_default_dirs(admin, make_agent, tmp_path, server):
    r = admin.post("/api/v1/enrollment-tokens",
                   json={"hostname": "env-1", "repository": {"url": str(tmp_path / "repo"), "password": PASSWORD},
                         "paths": []})
    tok = r.json()["token"]
    a = make_agent("env-1")
    out = a.cli("enroll", env={"RM_SERVER": server.url, "RM_ENROL_TOKEN": tok})
    assert out.returncode == 0, out.stdout + out.stderr
    assert tok not in out.stdout + out.stderr
    for f in ("agent.json", "agent.token"):  # repository.json follows with the first hello
        p = os.path.join(a.config_dir, f)
        assert stat.S_IMODE(os.stat(p).st_mode) == 0o600, f
    # no temporary files left from the atomic writes
    assert sorted(os.listdir(a.config_dir)) == ["agent.json", "agent.token"], os.listdir(a.config_dir)
    assert json.load(open(os.path.join(a.config_dir, "agent.json")))["server"] == server.url
    assert [h["name"] for h in admin.get("/api/v1/hosts").json()["items"]] == ["env-1"]
    h = a.cli("--help").stdout
    assert "default /etc/restic-manager" in h and "default /var/lib/restic-manager" in h
    assert "RM_SERVER" in h and "RM_ENROL_TOKEN" in h
