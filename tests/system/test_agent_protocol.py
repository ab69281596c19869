"""Agent protocol, hosts and jobs, driven by a fake agent written here in
Python (docs/protocol.md).  The real agent's end-to-end tests live in
test_agent_e2e.py; these pin the server side: enrolment, hello, long-poll,
event ingestion, job lifecycle, logs, SSE streams, liveness, bad input."""
import json
import os
import re
import threading
import time

import pytest
import requests

from conftest import Server, Client, wait_for, error_code, ADMIN_USER, ADMIN_PASSWORD

REPO_PASSWORD = "s3cret-Repo-Passw0rd-for-tests"


class FakeAgent:
    """Speaks protocol v1 like the real agent does."""

    def __init__(self, server, token=None, host_id=None):
        self.server = server
        self.token = token
        self.host_id = host_id
        self.seq = 0
        self.s = requests.Session()

    def headers(self, protocol=1):
        h = {"X-RM-Protocol": str(protocol)}
        if self.token:
            h["Authorization"] = "Bearer " + self.token
        return h

    def enroll(self, enrol_token, protocol=1):
        r = self.s.post(self.server.url + "/api/agent/v1/enroll", headers={"X-RM-Protocol": str(protocol)},
                        json={"token": enrol_token, "protocol_version": protocol, "hostname": "fake",
                              "os": "linux", "arch": "amd64", "agent_version": "test", "restic_version": "0.14.0"},
                        timeout=30)
        if r.status_code == 201:
            self.token = r.json()["agent_token"]
            self.host_id = r.json()["host_id"]
        return r

    def hello(self, running_job_id=None, last_command_seq=0, protocol=1, queued_job_ids=None):
        body = {"protocol_version": protocol, "agent_version": "test", "os": "linux",
                "arch": "amd64", "hostname": "fake", "restic_version": "0.14.0",
                "schedule_version": 0, "running_job_id": running_job_id,
                "last_command_seq": last_command_seq}
        if queued_job_ids is not None:
            body["queued_job_ids"] = queued_job_ids
        return self.s.post(self.server.url + "/api/agent/v1/hello", headers=self.headers(protocol),
                           json=body, timeout=30)

    def poll(self, after=0, wait=0, timeout=90):
        return self.s.get(self.server.url + f"/api/agent/v1/commands?after={after}&wait={wait}",
                          headers=self.headers(), timeout=timeout)

    def send(self, events, raw=None):
        """Send a batch; events get fresh seqs unless they carry one."""
        for e in events or []:
            if "seq" not in e:
                self.seq += 1
                e["seq"] = self.seq
            e.setdefault("time", "2026-11-25T21:00:00Z")
        if raw is not None:
            return self.s.post(self.server.url + "/api/agent/v1/events", headers=dict(self.headers(), **{
                "Content-Type": "application/json"}), data=raw, timeout=60)
        return self.s.post(self.server.url + "/api/agent/v1/events", headers=self.headers(),
                           json={"events": events}, timeout=60)


def enrol_token(client, hostname="web-1", password=REPO_PASSWORD, paths=("/srv/data",)):
    body = {"hostname": hostname, "repository": {"url": "/tmp/repo-" + hostname}, "paths": list(paths)}
    if password is not None:
        body["repository"]["password"] = password
    r = client.post("/api/v1/enrollment-tokens", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def new_agent(server, admin, hostname="web-1"):
    tok = enrol_token(admin, hostname)["token"]
    a = FakeAgent(server)
    r = a.enroll(tok)
    assert r.status_code == 201, r.text
    assert a.hello().status_code == 200
    return a


def wait_polling(admin, hid, want=True):
    """Wait until the server holds (or no longer holds) a long-poll of host hid."""
    wait_for(lambda: admin.get(f"/api/v1/hosts/{hid}").json()["polling"] is want, what="held poll")


def create_job(admin, hid, **body):
    r = admin.post(f"/api/v1/hosts/{hid}/jobs", json=body)
    assert r.status_code == 201, r.text
    return r.json()


# ---- enrolment ----

def test_enrolment_token_and_install_commands(server, admin):
    t = enrol_token(admin)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", t["token"])
    assert t["expires_at"].endswith("Z")
    for osname in ("linux", "windows"):
        cmd = t["install"][osname]
        assert server.url in cmd and t["token"] in cmd
    assert "install.sh" in t["install"]["linux"] and "install.ps1" in t["install"]["windows"]
    # The operator's password is never echoed.
    assert REPO_PASSWORD not in json.dumps(t)


def test_enrolment_validation_and_roles(server, admin):
    r = admin.post("/api/v1/enrollment-tokens", json={"hostname": "a b", "repository": {"url": "/r"}})
    assert r.status_code == 400 and error_code(r) == "invalid_field"
    r = admin.post("/api/v1/enrollment-tokens", json={"hostname": "ok"})
    assert r.status_code == 400
    r = requests.post(server.url + "/api/v1/enrollment-tokens", json={"hostname": "x", "repository": {"url": "/r"}})
    assert r.status_code == 401
    assert admin.post("/api/v1/users", json={"username": "viewer1", "password": "viewer password 1",
                                             "role": "viewer"}).status_code == 201
    v = Client(server)
    assert v.login("viewer1", "viewer password 1").status_code == 200
    r = v.post("/api/v1/enrollment-tokens", json={"hostname": "x", "repository": {"url": "/r"}})
    assert r.status_code == 403
    assert v.get("/api/v1/hosts").status_code == 200


def test_enrol_wrong_expired_reused(server, admin):
    a = FakeAgent(server)
    assert a.enroll("x" * 43).status_code == 401
    assert error_code(a.enroll("not-a-token")) == "invalid_token"
    tok = enrol_token(admin)["token"]
    assert a.enroll(tok).status_code == 201
    b = FakeAgent(server)
    r = b.enroll(tok)
    assert r.status_code == 401 and error_code(r) == "invalid_token"
    # Expired: age the row in the database (the server reads it on every enrol).
    tok2 = enrol_token(admin, "web-2")["token"]
    import sqlite3
    db = sqlite3.connect(os.path.join(server.data_dir, "restic-manager.db"))
    db.execute("UPDATE enrollment_tokens SET expires_at = 1 WHERE used_at IS NULL")
    db.commit()
    db.close()
    assert FakeAgent(server).enroll(tok2).status_code == 401
    # Only one host exists.
    items = admin.get("/api/v1/hosts").json()["items"]
    assert [h["name"] for h in items] == ["web-1"]


def test_hello_config_and_password_never_leaks(server, admin):
    a = new_agent(server, admin)
    r = a.hello()
    assert r.status_code == 200
    body = r.json()
    assert body["host_id"] == a.host_id
    assert body["config"]["repository"]["password"] == REPO_PASSWORD
    assert body["config"]["repository"]["url"] == "/tmp/repo-web-1"
    assert "version" in body["schedule"] and body["last_event_seq"] == 0
    # Never in operator API answers or the log.
    for path in ("/api/v1/hosts", f"/api/v1/hosts/{a.host_id}", "/api/v1/fleet/summary",
                 f"/api/v1/hosts/{a.host_id}/snapshots", "/api/v1/jobs"):
        r = admin.get(path)
        assert r.status_code == 200, path
        assert REPO_PASSWORD not in r.text
    assert REPO_PASSWORD not in server.log_text()
    h = admin.get(f"/api/v1/hosts/{a.host_id}").json()
    assert h["name"] == "web-1" and h["status"] == "online" and h["os"] == "linux"
    assert h["restic_version"] == "0.14.0"


def test_generated_password(server, admin):
    t = enrol_token(admin, "gen-1", password="")
    assert len(t["generated_password"]) >= 32
    a = FakeAgent(server)
    assert a.enroll(t["token"]).status_code == 201
    assert a.hello().json()["config"]["repository"]["password"] == t["generated_password"]


def test_old_protocol_426(server, admin):
    tok = enrol_token(admin)["token"]
    a = FakeAgent(server)
    r = a.enroll(tok, protocol=0)
    assert r.status_code == 426 and error_code(r) == "protocol_too_old"
    assert "upgrade" in r.json()["error"]["message"]
    assert a.enroll(tok).status_code == 201  # the token was not burnt
    r = a.hello(protocol=0)
    assert r.status_code == 426 and error_code(r) == "protocol_too_old"


def test_agent_auth_required(server, admin):
    r = requests.get(server.url + "/api/agent/v1/commands?wait=0", headers={"X-RM-Protocol": "1"})
    assert r.status_code == 401
    r = requests.get(server.url + "/api/agent/v1/commands?wait=0",
                     headers={"X-RM-Protocol": "1", "Authorization": "Bearer " + "A" * 43})
    assert r.status_code == 401 and error_code(r) == "invalid_token"


# ---- long-poll ----

def test_longpoll_wakes_on_job_and_times_out_empty(server, admin):
    a = new_agent(server, admin)
    t0 = time.monotonic()
    r = a.poll(after=0, wait=1)
    assert r.status_code == 200 and r.json() == {"commands": []}
    assert time.monotonic() - t0 >= 0.9

    result = {}

    def poller():
        t = time.monotonic()
        result["r"] = a.poll(after=0, wait=30)
        result["t"] = time.monotonic()
    th = threading.Thread(target=poller)
    th.start()
    wait_polling(admin, a.host_id)
    queued = time.monotonic()
    job = create_job(admin, a.host_id, kind="init")
    th.join(timeout=40)
    assert "r" in result
    # Woken by the enqueue, not after the full 30 s wait (generous bound).
    assert result["t"] - queued < 5.0
    cmds = result["r"].json()["commands"]
    assert len(cmds) == 1
    c = cmds[0]
    assert c["type"] == "run" and c["job_id"] == job["id"] and c["kind"] == "init" and c["seq"] >= 1
    # Same commands again until acknowledged by after=seq.
    assert a.poll(after=0, wait=0).json()["commands"][0]["seq"] == c["seq"]
    assert a.poll(after=c["seq"], wait=0).json()["commands"] == []
    assert a.poll(after=0, wait=0).json()["commands"] == []  # acknowledged ones are gone


def test_newer_poll_replaces_older(server, admin):
    a = new_agent(server, admin)
    result = {}

    def poller():
        result["r"] = a.poll(after=0, wait=30)
        result["t"] = time.monotonic()
    th = threading.Thread(target=poller)
    th.start()
    wait_polling(admin, a.host_id)
    b = FakeAgent(server, token=a.token)
    t2 = time.monotonic()
    r2 = {}

    def poller2():
        r2["r"] = b.poll(after=0, wait=3)
    th2 = threading.Thread(target=poller2)
    th2.start()
    th.join(timeout=20)
    assert result["r"].status_code == 200 and result["r"].json() == {"commands": []}
    assert result["t"] - t2 < 5.0
    th2.join(timeout=20)
    assert r2["r"].json() == {"commands": []}


# ---- jobs and events ----

def test_job_lifecycle_via_events(server, admin):
    a = new_agent(server, admin)
    job = create_job(admin, a.host_id, kind="backup", paths=["/etc"], tags=["daily"])
    assert job["status"] == "queued" and job["actor"] == "user" and job["kind"] == "backup"
    cmd = a.poll(wait=0).json()["commands"][0]
    assert cmd["args"]["paths"] == ["/etc"] and cmd["args"]["tags"] == ["daily"]
    jid = job["id"]
    r = a.send([{"type": "job.started", "job_id": jid, "kind": "backup", "actor": "user", "args": cmd["args"]}])
    assert r.status_code == 200 and r.json()["acked_seq"] == 1
    assert admin.get(f"/api/v1/jobs/{jid}").json()["status"] == "running"
    r = a.send([{"type": "job.progress", "job_id": jid, "percent": 0.5, "files_done": 5, "total_files": 10,
                 "bytes_done": 50, "total_bytes": 100},
                {"type": "job.log", "job_id": jid, "lines": [
                    {"t": "2026-11-25T21:00:01Z", "stream": "stdout", "text": "first line"},
                    {"t": "2026-11-25T21:00:02Z", "stream": "stderr", "text": "second line"}]}])
    assert r.status_code == 200 and r.json()["acked_seq"] == 3
    j = admin.get(f"/api/v1/jobs/{jid}").json()
    assert j["progress"]["percent"] == 0.5 and j["log_lines"] == 2
    summary = {"files_new": 10, "snapshot_id": "abcd1234"}
    r = a.send([{"type": "job.finished", "job_id": jid, "status": "succeeded", "exit_code": 0, "summary": summary},
                {"type": "snapshots", "snapshots": [
                    {"id": "ab" * 32, "short_id": "abababab", "time": "2026-11-25T21:00:03Z", "paths": ["/etc"],
                     "tags": ["daily"], "hostname": "fake", "tree": "cd" * 32}]}])
    assert r.status_code == 200
    j = admin.get(f"/api/v1/jobs/{jid}").json()
    assert j["status"] == "succeeded" and j["exit_code"] == 0 and j["summary"] == summary
    assert j["started_at"] and j["finished_at"]
    log = admin.get(f"/api/v1/jobs/{jid}/log")
    assert log.status_code == 200 and log.headers["Content-Type"].startswith("text/plain")
    assert log.text == "first line\nsecond line\n"
    nd = admin.get(f"/api/v1/jobs/{jid}/log?format=ndjson")
    lines = [json.loads(x) for x in nd.text.splitlines()]
    assert [x["text"] for x in lines] == ["first line", "second line"]
    assert lines[1]["stream"] == "stderr" and lines[0]["line"] == 1
    h = admin.get(f"/api/v1/hosts/{a.host_id}").json()
    assert h["last_backup"]["status"] == "succeeded" and h["last_backup"]["job_id"] == jid
    assert h["snapshot_count"] == 1
    snaps = admin.get(f"/api/v1/hosts/{a.host_id}/snapshots").json()["items"]
    assert snaps[0]["short_id"] == "abababab" and snaps[0]["paths"] == ["/etc"] and snaps[0]["tags"] == ["daily"]
    lst = admin.get(f"/api/v1/jobs?host={a.host_id}").json()
    # the first successful backup also queued a `stats` system job (repository size)
    assert [(j["kind"], j["actor"]) for j in lst["items"][:1]] == [("stats", "system")]
    assert lst["items"][1]["id"] == jid and lst["items"][1]["actor"] == "user"
    assert admin.get("/api/v1/jobs?status=succeeded&kind=backup").json()["items"][0]["id"] == jid
    assert admin.get("/api/v1/jobs?status=failed").json()["items"] == []
    s = admin.get("/api/v1/fleet/summary").json()
    assert s["hosts"]["total"] == 1 and s["hosts"]["online"] == 1 and s["snapshots"] == 1


def test_exit_code_3_is_warning_and_schedule_adoption(server, admin):
    a = new_agent(server, admin)
    jid = "0123456789abcdef0123456789abcdef"
    r = a.send([{"type": "job.started", "job_id": jid, "kind": "backup", "actor": "schedule", "group": "default"},
                {"type": "job.finished", "job_id": jid, "status": "succeeded", "exit_code": 3, "summary": None}])
    assert r.status_code == 200, r.text
    j = admin.get(f"/api/v1/jobs/{jid}").json()
    assert j["status"] == "warning" and j["exit_code"] == 3 and j["actor"] == "schedule"
    assert j["host_id"] == a.host_id


def test_events_idempotent_on_replay(server, admin):
    a = new_agent(server, admin)
    job = create_job(admin, a.host_id, kind="check")
    jid = job["id"]
    batch = [{"seq": 1, "type": "job.started", "job_id": jid, "kind": "check", "actor": "user"},
             {"seq": 2, "type": "job.log", "job_id": jid, "lines": [{"stream": "stdout", "text": "once"}]},
             {"seq": 3, "type": "job.finished", "job_id": jid, "status": "failed", "exit_code": 1, "summary": None,
              "error": "boom"}]
    r1 = a.send(json.loads(json.dumps(batch)))
    r2 = a.send(json.loads(json.dumps(batch)))
    assert r1.json() == r2.json() == {"acked_seq": 3}
    assert admin.get(f"/api/v1/jobs/{jid}/log").text == "once\n"
    j = admin.get(f"/api/v1/jobs/{jid}").json()
    assert j["status"] == "failed" and j["error"] == "boom" and j["log_lines"] == 1
    assert a.hello().json()["last_event_seq"] == 3


def test_malformed_events_store_nothing(server, admin):
    a = new_agent(server, admin)
    job = create_job(admin, a.host_id, kind="prune")
    jid = job["id"]
    good = {"seq": 1, "type": "job.log", "job_id": jid, "lines": [{"stream": "stdout", "text": "x"}]}
    for bad in ({"seq": 2, "type": "no.such.type"},
                {"seq": 2, "type": "job.log", "job_id": "XYZ", "lines": []},
                {"seq": 2, "type": "job.finished", "job_id": jid, "status": "great"},
                {"seq": "2", "type": "schedule.ack", "version": 1},
                {"seq": 2, "type": "job.log", "job_id": jid, "lines": [{"stream": "weird", "text": "y"}]}):
        r = a.send([dict(good), bad])
        assert r.status_code == 400, bad
        assert error_code(r) == "invalid_event"
    r = a.send(None, raw="{not json")
    assert r.status_code == 400
    r = a.send(None, raw=json.dumps({"events": 5}))
    assert r.status_code == 400
    assert admin.get(f"/api/v1/jobs/{jid}").json()["log_lines"] == 0
    assert a.hello().json()["last_event_seq"] == 0


def test_oversized_batch_413(server, admin):
    a = new_agent(server, admin)
    too_many = [{"seq": i + 1, "type": "schedule.ack", "version": 1} for i in range(1001)]
    r = a.send(too_many)
    assert r.status_code == 413
    big = json.dumps({"events": [{"seq": 1, "type": "tree.result", "request_id": "r",
                                  "pad": "x" * (4 * 1024 * 1024 + 10)}]})
    r = a.send(None, raw=big)
    assert r.status_code == 413
    assert a.hello().json()["last_event_seq"] == 0
    assert server.get("/healthz").status_code == 200


def test_other_hosts_job_rejected(server, admin):
    a = new_agent(server, admin, "host-a")
    b = new_agent(server, admin, "host-b")
    job = create_job(admin, a.host_id, kind="stats")
    r = b.send([{"type": "job.finished", "job_id": job["id"], "status": "succeeded", "exit_code": 0,
                 "summary": None}])
    assert r.status_code in (403, 404)
    assert admin.get(f"/api/v1/jobs/{job['id']}").json()["status"] == "queued"
    # B never sees A's commands.
    assert b.poll(wait=0).json()["commands"] == []
    assert len(a.poll(wait=0).json()["commands"]) == 1


def test_revoked_agent_token_after_delete(server, admin):
    a = new_agent(server, admin)
    result = {}

    def poller():
        result["r"] = a.poll(wait=30)
    th = threading.Thread(target=poller)
    th.start()
    wait_polling(admin, a.host_id)
    r = admin.delete(f"/api/v1/hosts/{a.host_id}")
    assert r.status_code == 204
    th.join(timeout=20)
    assert result["r"].json() == {"commands": []}  # the held poll was answered
    assert a.poll(wait=0).status_code == 401
    assert a.hello().status_code == 401
    assert admin.get(f"/api/v1/hosts/{a.host_id}").status_code == 404
    assert admin.get("/api/v1/hosts").json()["items"] == []


def test_delete_host_needs_admin(server, admin):
    a = new_agent(server, admin)
    assert admin.post("/api/v1/users", json={"username": "op1", "password": "operator password",
                                             "role": "operator"}).status_code == 201
    op = Client(server)
    assert op.login("op1", "operator password").status_code == 200
    assert op.delete(f"/api/v1/hosts/{a.host_id}").status_code == 403
    assert create_job(op, a.host_id, kind="snapshots")["actor"] == "user"


def test_job_validation(server, admin):
    a = new_agent(server, admin)
    hid = a.host_id
    bad = [
        {"kind": "explode"},
        {"kind": "diff", "snapshots": ["abcdef12"]},
        {"kind": "restore"},
        {"kind": "restore", "snapshot": "zzz"},
        {"kind": "restore", "snapshot": "abcdef12", "target": "relative/dir"},
        {"kind": "restore", "snapshot": "abcdef12", "target": "/a/../etc"},
        {"kind": "restore", "snapshot": "abcdef12", "in_place": True},
        {"kind": "restore", "snapshot": "abcdef12", "in_place": True, "confirm": "other-host"},
        {"kind": "forget"},
        {"kind": "stats", "mode": "bogus"},
        {"kind": "backup", "paths": "/etc"},
    ]
    for b in bad:
        r = admin.post(f"/api/v1/hosts/{hid}/jobs", json=b)
        assert r.status_code == 400, (b, r.text)
    assert admin.post("/api/v1/hosts/999/jobs", json={"kind": "init"}).status_code == 404
    assert admin.post(f"/api/v1/hosts/{hid}/jobs", json={"kind": "backup", "group": "nope"}).status_code == 404
    ok = create_job(admin, hid, kind="restore", snapshot="abcdef12", in_place=True, confirm="web-1")
    assert ok["args"]["in_place"] is True
    ok = create_job(admin, hid, kind="restore", snapshot="latest", paths=["/etc/hosts"])
    assert "target" not in ok["args"]
    ok = create_job(admin, hid, kind="forget", keep_daily=7, keep_within="30d")
    assert ok["args"]["keep_daily"] == 7
    ok = create_job(admin, hid, kind="backup", group="default")
    assert ok["args"]["paths"] == ["/srv/data"] and ok["group"] == "default"
    ok = create_job(admin, hid, kind="diff", snapshots=["abcdef12", "12345678"])
    # Another host of the same repository restores there.
    tok = admin.post("/api/v1/enrollment-tokens", json={"hostname": "web-2", "repository": {
        "url": "/tmp/repo-web-1", "password": REPO_PASSWORD}}).json()["token"]
    b = FakeAgent(server)
    assert b.enroll(tok).status_code == 201
    ok = create_job(admin, hid, kind="restore", snapshot="abcdef12", host_id=b.host_id)
    assert ok["host_id"] == b.host_id and ok["args"]["source_host_id"] == hid
    assert b.poll(wait=0).json()["commands"][0]["job_id"] == ok["id"]


def test_cancel_queued_and_running(server, admin):
    a = new_agent(server, admin)
    q = create_job(admin, a.host_id, kind="check")
    r = admin.post(f"/api/v1/jobs/{q['id']}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert admin.post(f"/api/v1/jobs/{q['id']}/cancel").status_code == 409
    # The undelivered run command is gone.
    assert a.poll(wait=0).json()["commands"] == []
    run = create_job(admin, a.host_id, kind="backup", paths=["/x"])
    cmds = a.poll(wait=0).json()["commands"]
    a.send([{"type": "job.started", "job_id": run["id"], "kind": "backup", "actor": "user"}])
    r = admin.post(f"/api/v1/jobs/{run['id']}/cancel")
    assert r.status_code == 202 and r.json()["status"] == "running"
    cmds = a.poll(after=cmds[-1]["seq"], wait=0).json()["commands"]
    assert cmds[-1]["type"] == "cancel" and cmds[-1]["job_id"] == run["id"]
    a.send([{"type": "job.finished", "job_id": run["id"], "status": "cancelled", "exit_code": None,
             "summary": None}])
    assert admin.get(f"/api/v1/jobs/{run['id']}").json()["status"] == "cancelled"


def test_agent_restart_fails_running_job(server, admin):
    a = new_agent(server, admin)
    job = create_job(admin, a.host_id, kind="backup", paths=["/x"])
    a.send([{"type": "job.started", "job_id": job["id"], "kind": "backup", "actor": "user"}])
    assert a.hello(running_job_id=job["id"]).status_code == 200
    assert admin.get(f"/api/v1/jobs/{job['id']}").json()["status"] == "running"
    assert a.hello(running_job_id=None).status_code == 200
    j = admin.get(f"/api/v1/jobs/{job['id']}").json()
    assert j["status"] == "failed" and "restarted" in j["error"]
    # A job that really ended while the server was away: the agent's spooled
    # job.finished arrives after the hello and its true status wins.
    job2 = create_job(admin, a.host_id, kind="backup", paths=["/x"])
    a.send([{"type": "job.started", "job_id": job2["id"], "kind": "backup", "actor": "user"}])
    assert a.hello(running_job_id=None).status_code == 200
    assert admin.get(f"/api/v1/jobs/{job2['id']}").json()["status"] == "failed"
    a.send([{"type": "job.finished", "job_id": job2["id"], "status": "succeeded", "exit_code": 0, "summary": {}}])
    j2 = admin.get(f"/api/v1/jobs/{job2['id']}").json()
    assert j2["status"] == "succeeded" and j2["error"] is None
    assert admin.get(f"/api/v1/hosts/{a.host_id}").json()["last_backup"]["status"] == "succeeded"
    # Other final states are never overwritten.
    a.send([{"type": "job.finished", "job_id": job2["id"], "status": "failed", "exit_code": 1, "summary": None}])
    assert admin.get(f"/api/v1/jobs/{job2['id']}").json()["status"] == "succeeded"


def test_agent_restart_fails_fetched_but_lost_job(server, admin):
    """A run command is redelivered until the agent acknowledges it; a job
    acknowledged but no longer in the queue the agent lists at hello was lost
    before it started: it ends failed with a reason, not queued forever."""
    a = new_agent(server, admin)
    lost = create_job(admin, a.host_id, kind="backup", paths=["/x"])["id"]
    kept = create_job(admin, a.host_id, kind="snapshots")["id"]
    status = lambda jid: admin.get(f"/api/v1/jobs/{jid}").json()  # noqa: E731
    cmds = [c for c in a.poll(wait=0).json()["commands"] if c["type"] == "run"]
    assert [c["job_id"] for c in cmds] == [lost, kept]
    last = cmds[-1]["seq"]

    # Fetched but never acknowledged (killed before its queue was on disk):
    # the restarted agent gets both again, and both stay queued.
    assert a.hello(last_command_seq=0, queued_job_ids=[]).status_code == 200
    assert [c["job_id"] for c in a.poll(wait=0).json()["commands"] if c["type"] == "run"] == [lost, kept]
    assert status(lost)["status"] == status(kept)["status"] == "queued"

    # Acknowledged (after=); an agent that does not list its queue tells
    # nothing, so nothing changes.
    assert a.poll(after=last, wait=0).json()["commands"] == []
    assert a.hello(last_command_seq=last).status_code == 200
    assert status(lost)["status"] == "queued"

    # Restarted holding only `kept`: `lost` fails with the reason, `kept` waits.
    assert a.hello(last_command_seq=last, queued_job_ids=[kept]).status_code == 200
    j = status(lost)
    assert j["status"] == "failed" and "never started" in j["error"], j
    assert status(kept)["status"] == "queued"
    assert a.poll(after=last, wait=0).json()["commands"] == []  # not redelivered
    # The running job is not "lost" either.
    a.send([{"type": "job.started", "job_id": kept, "kind": "snapshots", "actor": "user"}])
    assert a.hello(running_job_id=kept, last_command_seq=last, queued_job_ids=[]).status_code == 200
    assert status(kept)["status"] == "running"
    # Nor one that just ended on the agent, its job.finished still in the
    # spool (listed, not running): only a job the agent does not hold fails.
    assert a.hello(running_job_id=None, last_command_seq=last, queued_job_ids=[kept]).status_code == 200
    assert status(kept)["status"] == "running"
    assert a.hello(running_job_id=None, last_command_seq=last, queued_job_ids=[]).status_code == 200
    assert "restarted" in status(kept)["error"]
    # If the agent had the job after all, its own job.finished wins.
    a.send([{"type": "job.finished", "job_id": lost, "status": "succeeded", "exit_code": 0, "summary": {}}])
    assert status(lost)["status"] == "succeeded"

    for bad in ("x", ["nothex"], [lost, 3], [lost] * 1001):
        r = a.hello(last_command_seq=last, queued_job_ids=bad)
        assert r.status_code == 400 and error_code(r) == "invalid_field", (bad, r.text)


def test_jobs_pagination(server, admin):
    a = new_agent(server, admin)
    ids = [create_job(admin, a.host_id, kind="snapshots")["id"] for _ in range(5)]
    p1 = admin.get("/api/v1/jobs?limit=2").json()
    assert [j["id"] for j in p1["items"]] == ids[::-1][:2]
    p2 = admin.get(f"/api/v1/jobs?limit=2&cursor={p1['next']}").json()
    assert [j["id"] for j in p2["items"]] == ids[::-1][2:4]
    p3 = admin.get(f"/api/v1/jobs?limit=2&cursor={p2['next']}").json()
    assert [j["id"] for j in p3["items"]] == ids[:1] and p3["next"] is None


# ---- SSE ----

def read_sse(resp, stop, out):
    """Parse SSE events from a streaming response into out until stop(out) is true."""
    ev = {}
    for raw in resp.iter_lines(decode_unicode=True):
        if raw is None:
            continue
        if raw == "":
            if "event" in ev or "data" in ev:
                out.append(ev)
                if stop(out):
                    return
            ev = {}
            continue
        if raw.startswith(":"):
            continue
        k, _, v = raw.partition(":")
        ev[k] = v[1:] if v.startswith(" ") else v


def test_job_stream_live_and_resume(server, admin):
    a = new_agent(server, admin)
    job = create_job(admin, a.host_id, kind="backup", paths=["/x"])
    jid = job["id"]
    a.send([{"type": "job.started", "job_id": jid, "kind": "backup", "actor": "user"}])
    resp = admin.s.get(server.url + f"/api/v1/jobs/{jid}/stream", stream=True, timeout=30)
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
    events = []
    th = threading.Thread(target=read_sse, args=(resp, lambda o: any(e.get("event") == "log" and
                                                                      json.loads(e["data"])["text"] == "l2"
                                                                      for e in o), events))
    th.start()
    a.send([{"type": "job.progress", "job_id": jid, "percent": 0.25},
            {"type": "job.log", "job_id": jid, "lines": [{"stream": "stdout", "text": "l1"},
                                                         {"stream": "stdout", "text": "l2"}]}])
    th.join(timeout=20)
    resp.close()
    kinds = [e["event"] for e in events]
    assert kinds[0] == "state" and "progress" in kinds and kinds.count("log") == 2
    assert all("id" in e for e in events)
    # The job is still running: events arrived before it finished.
    assert admin.get(f"/api/v1/jobs/{jid}").json()["status"] == "running"
    # Resume after line 1: state, then line 2 only, then live lines and the end.
    last_id = [e for e in events if e["event"] == "log"][0]["id"]
    resp = admin.s.get(server.url + f"/api/v1/jobs/{jid}/stream", stream=True, timeout=30,
                       headers={"Last-Event-ID": last_id})
    events2 = []
    th = threading.Thread(target=read_sse, args=(resp, lambda o: any(e.get("event") == "end" for e in o), events2))
    th.start()
    a.send([{"type": "job.log", "job_id": jid, "lines": [{"stream": "stdout", "text": "l3"}]},
            {"type": "job.finished", "job_id": jid, "status": "succeeded", "exit_code": 0, "summary": {}}])
    th.join(timeout=20)
    resp.close()
    logs = [json.loads(e["data"])["text"] for e in events2 if e["event"] == "log"]
    assert logs == ["l2", "l3"]
    finals = [json.loads(e["data"]) for e in events2 if e["event"] == "state"]
    assert finals[-1]["status"] == "succeeded"
    assert events2[-1]["event"] == "end"


def test_fleet_stream_job_and_host_events(server, admin):
    a = new_agent(server, admin)
    resp = admin.s.get(server.url + "/api/v1/events", stream=True, timeout=30)
    assert resp.status_code == 200
    events = []
    th = threading.Thread(target=read_sse, args=(resp, lambda o: any(e.get("event") == "job" for e in o), events))
    th.start()
    job = create_job(admin, a.host_id, kind="init")
    th.join(timeout=20)
    resp.close()
    ev = [e for e in events if e["event"] == "job"][0]
    assert json.loads(ev["data"])["id"] == job["id"] and ev["id"]
    # Resume from before that event replays it.
    resp = admin.s.get(server.url + "/api/v1/events", stream=True, timeout=30,
                       headers={"Last-Event-ID": str(int(ev["id"]) - 1)})
    events2 = []
    th = threading.Thread(target=read_sse, args=(resp, lambda o: any(e.get("event") == "job" for e in o), events2))
    th.start()
    th.join(timeout=20)
    resp.close()
    assert [e for e in events2 if e["event"] == "job"][0]["id"] == ev["id"]


# ---- liveness and durability ----

@pytest.fixture
def fast_offline_server(tmp_path):
    # RM_TEST_OFFLINE_AFTER is a test-only knob (docs/api.md); production uses 90 s.
    s = Server(tmp_path, env={"RM_TEST_OFFLINE_AFTER": "2"})
    s.start()
    yield s
    assert s.stop() in (None, 0)


def test_offline_after_silence(fast_offline_server):
    server = fast_offline_server
    tok = server.bootstrap_token()
    assert server.post("/api/v1/bootstrap", json={"token": tok, "username": ADMIN_USER,
                                                  "password": ADMIN_PASSWORD}).status_code == 201
    admin = Client(server)
    assert admin.login(ADMIN_USER, ADMIN_PASSWORD).status_code == 200
    a = new_agent(server, admin)
    assert admin.get(f"/api/v1/hosts/{a.host_id}").json()["status"] == "online"
    wait_for(lambda: admin.get(f"/api/v1/hosts/{a.host_id}").json()["status"] == "offline", timeout=15,
             what="host offline")
    assert admin.get("/api/v1/fleet/summary").json()["hosts"]["offline"] == 1
    a.poll(wait=0)
    assert admin.get(f"/api/v1/hosts/{a.host_id}").json()["status"] == "online"
    # A held poll keeps the host online past the threshold ...
    import socket
    host, port = server.addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=5)
    s.sendall((f"GET /api/agent/v1/commands?after=0&wait=10 HTTP/1.1\r\nHost: x\r\nX-RM-Protocol: 1\r\n"
               f"Authorization: Bearer {a.token}\r\n\r\n").encode())
    wait_polling(admin, a.host_id)
    t0 = time.monotonic()
    wait_for(lambda: time.monotonic() - t0 > 3, what="threshold passed")
    assert admin.get(f"/api/v1/hosts/{a.host_id}").json()["status"] == "online"
    # ... until the agent vanishes: its poll is dropped and the host goes offline.
    s.close()
    wait_polling(admin, a.host_id, False)
    wait_for(lambda: admin.get(f"/api/v1/hosts/{a.host_id}").json()["status"] == "offline", timeout=15,
             what="host offline after the agent vanished")


def test_kill9_restart_keeps_jobs_and_events(server, admin):
    a = new_agent(server, admin)
    job = create_job(admin, a.host_id, kind="backup", paths=["/x"])
    jid = job["id"]
    r = a.send([{"type": "job.started", "job_id": jid, "kind": "backup", "actor": "user"},
                {"type": "job.log", "job_id": jid, "lines": [{"stream": "stdout", "text": "before kill"}]}])
    assert r.json()["acked_seq"] == 2
    server.kill9()
    server.start()
    assert admin.get(f"/api/v1/jobs/{jid}").json()["status"] == "running"
    # Replay of acknowledged events plus new ones: nothing duplicated.
    r = a.send([{"seq": 2, "type": "job.log", "job_id": jid, "lines": [{"stream": "stdout", "text": "before kill"}]},
                {"seq": 3, "type": "job.log", "job_id": jid, "lines": [{"stream": "stdout", "text": "after"}]},
                {"seq": 4, "type": "job.finished", "job_id": jid, "status": "succeeded", "exit_code": 0,
                 "summary": None}])
    assert r.status_code == 200 and r.json()["acked_seq"] == 4
    assert admin.get(f"/api/v1/jobs/{jid}/log").text == "before kill\nafter\n"
    assert admin.get(f"/api/v1/jobs/{jid}").json()["status"] == "succeeded"
    assert a.hello().json()["last_event_seq"] == 4


# ---- connection edge cases ----

def test_client_gone_during_held_poll(server, admin):
    import socket
    a = new_agent(server, admin)
    host, port = server.addr.rsplit(":", 1)
    for _ in range(3):
        s = socket.create_connection((host, int(port)), timeout=5)
        s.sendall((f"GET /api/agent/v1/commands?after=0&wait=30 HTTP/1.1\r\nHost: x\r\nX-RM-Protocol: 1\r\n"
                   f"Authorization: Bearer {a.token}\r\n\r\n").encode())
        wait_polling(admin, a.host_id)  # this socket's poll: the previous one was dropped below
        s.close()
        wait_polling(admin, a.host_id, False)  # the close was noticed and the poll dropped
    job = create_job(admin, a.host_id, kind="init")
    assert a.poll(wait=5).json()["commands"][0]["job_id"] == job["id"]
    assert server.get("/healthz").status_code == 200


def test_slow_stream_client_is_dropped(server, admin):
    import socket
    a = new_agent(server, admin)
    job = create_job(admin, a.host_id, kind="backup", paths=["/x"])
    jid = job["id"]
    a.send([{"type": "job.started", "job_id": jid, "kind": "backup", "actor": "user"}])
    cookie = "; ".join(f"{k}={v}" for k, v in admin.s.cookies.items())
    host, port = server.addr.rsplit(":", 1)
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.connect((host, int(port)))
    slow.sendall((f"GET /api/v1/jobs/{jid}/stream HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\n\r\n").encode())
    slow.settimeout(10)
    assert slow.recv(64).startswith(b"HTTP/1.1 200")  # the stream is registered
    line = "y" * 4000
    for _ in range(6):  # ~20 MB of log lines, never read by the slow client
        r = a.send([{"type": "job.log", "job_id": jid, "lines": [{"stream": "stdout", "text": line}] * 800}])
        assert r.status_code == 200
    assert "dropping slow event-stream client" in server.log_text()
    # The server keeps serving everyone else.
    assert admin.get(f"/api/v1/jobs/{jid}").json()["log_lines"] == 4800
    slow.close()


def test_shutdown_answers_held_polls(server, admin):
    a = new_agent(server, admin)
    result = {}

    def poller():
        try:
            result["r"] = a.poll(wait=30)
        except requests.RequestException as e:  # connection closed by the exiting server
            result["e"] = e
        result["t"] = time.monotonic()
    th = threading.Thread(target=poller)
    th.start()
    wait_polling(admin, a.host_id)
    t0 = time.monotonic()
    assert server.stop() == 0
    th.join(timeout=20)
    assert result["t"] - t0 < 10
    if "r" in result:
        assert result["r"].json() == {"commands": []}


def test_fleet_stream_reset_and_head(server, admin):
    r = admin.s.head(server.url + "/api/v1/events", timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/event-stream")
    resp = admin.s.get(server.url + "/api/v1/events", stream=True, timeout=30, headers={"Last-Event-ID": "5"})
    events = []
    th = threading.Thread(target=read_sse, args=(resp, lambda o: any(e.get("event") == "reset" for e in o), events))
    th.start()
    th.join(timeout=10)
    resp.close()
    assert events and events[0]["event"] == "reset" and int(events[0]["id"]) > 5
    r = requests.get(server.url + "/api/v1/events", timeout=10)
    assert r.status_code == 401
    r = admin.get("/api/v1/jobs/" + "f" * 32 + "/stream")
    assert r.status_code == 404 and error_code(r) == "not_found"


def test_job_stream_replays_a_long_log(server, admin):
    a = new_agent(server, admin)
    job = create_job(admin, a.host_id, kind="backup", paths=["/x"])
    jid = job["id"]
    a.send([{"type": "job.started", "job_id": jid, "kind": "backup", "actor": "user"}])
    text = "z" * 3000
    for b in range(4):  # 4800 lines, ~14 MB of events: far beyond the 1 MiB slow-client cap
        r = a.send([{"type": "job.log", "job_id": jid,
                     "lines": [{"stream": "stdout", "text": f"{b}-{i}-{text}"} for i in range(1200)]}])
        assert r.status_code == 200
    a.send([{"type": "job.finished", "job_id": jid, "status": "succeeded", "exit_code": 0, "summary": None}])
    resp = admin.s.get(server.url + f"/api/v1/jobs/{jid}/stream", stream=True, timeout=60)
    events = []
    th = threading.Thread(target=read_sse, args=(resp, lambda o: o[-1].get("event") == "end", events))
    th.start()
    th.join(timeout=60)
    resp.close()
    logs = [e for e in events if e["event"] == "log"]
    assert len(logs) == 4800
    assert [int(e["id"]) for e in logs] == list(range(1, 4801))
    assert events[-1]["event"] == "end" and json.loads(events[-2]["data"])["status"] == "succeeded"
    assert "dropping slow event-stream client" not in server.log_text()


def test_audit_trail_has_enrolment_and_jobs_without_secrets(server, admin):
    t = enrol_token(admin)
    a = FakeAgent(server)
    assert a.enroll(t["token"]).status_code == 201
    job = create_job(admin, a.host_id, kind="check")
    assert admin.post(f"/api/v1/jobs/{job['id']}/cancel").status_code == 200
    assert FakeAgent(server).enroll(t["token"]).status_code == 401
    audit_dir = os.path.join(server.data_dir, "audit")
    text = "".join(open(os.path.join(audit_dir, f), encoding="utf-8").read()
                   for f in sorted(os.listdir(audit_dir)) if f.endswith(".jsonl"))
    records = [json.loads(line) for line in text.splitlines() if line.strip()]
    actions = [(r["action"], r["outcome"]) for r in records]
    for want in [("enrollment_token.create", "ok"), ("host.enroll", "ok"), ("host.enroll", "denied"),
                 ("job.create", "ok"), ("job.cancel", "ok")]:
        assert want in actions, want
    enrol = [r for r in records if r["action"] == "host.enroll" and r["outcome"] == "ok"][0]
    assert enrol["actor"].startswith("agent:") and enrol["target"] == f"host:{a.host_id}"
    create = [r for r in records if r["action"] == "job.create"][0]
    assert create["actor"] == ADMIN_USER and create["details"]["job_id"] == job["id"]
    for secret in (REPO_PASSWORD, t["token"], a.token):
        assert secret not in text
        assert secret not in server.log_text()


def test_huge_log_batch_is_stored_in_parts(server, admin):
    a = new_agent(server, admin)
    job = create_job(admin, a.host_id, kind="backup", paths=["/x"])
    jid = job["id"]
    evs = [{"type": "job.started", "job_id": jid, "kind": "backup", "actor": "user"}]
    evs += [{"type": "job.log", "job_id": jid, "lines": [{"stream": "stdout", "text": f"{k}.{i}"} for i in range(200)]}
            for k in range(300)]  # 60000 lines in one batch
    spool = list(evs)
    a.send(spool)  # assigns seqs 1..301
    sent = 0
    while spool:
        r = a.send(None, raw=json.dumps({"events": spool}))
        assert r.status_code == 200
        acked = r.json()["acked_seq"]
        spool = [e for e in spool if e["seq"] > acked]  # what the agent does
        sent += 1
        assert sent < 10
    assert sent > 1  # it took more than one request
    log = admin.get(f"/api/v1/jobs/{jid}/log").text.splitlines()
    assert len(log) == 60000 and log[0] == "0.0" and log[-1] == "299.199"
    assert admin.get(f"/api/v1/jobs/{jid}").json()["log_lines"] == 60000
