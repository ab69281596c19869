"""Host settings and fleet figures (PATCH /api/v1/hosts/{id}, GET
/api/v1/fleet/summary, host list rows).

The API part uses a fake agent speaking the protocol (test_agent_protocol);
the bandwidth-limit part runs the real agent with a restic wrapper that
records every argument vector it is started with and then execs the real
restic, so the test sees exactly what restic was given — for jobs the
operator starts and for jobs the agent's own schedule fires while the
server is down."""
import json
import os
import shutil
import stat
import threading

import pytest

from conftest import Client, wait_for, error_code, enrol_agent, run_job, SANITIZED
from test_agent_protocol import new_agent, read_sse, REPO_PASSWORD

RESTIC = shutil.which("restic")
TIMEOUT = 240 if SANITIZED else 120
PW = "a long enough password 1"


def make_user(admin, server, name, role):
    r = admin.post("/api/v1/users", json={"username": name, "password": PW, "role": role})
    assert r.status_code == 201, r.text
    c = Client(server)
    assert c.login(name, PW).status_code == 200
    return c


# ---- the API: validation, roles, audit, SSE --------------------------------

@pytest.mark.parametrize("body,field", [
    ({"tags": "prod"}, "tags"),
    ({"tags": ["ok", 5]}, "tags"),
    ({"tags": [""]}, "tags"),
    ({"tags": ["x" * 129]}, "tags"),
    ({"tags": ["a,b"]}, "tags"),
    ({"tags": [" padded"]}, "tags"),
    ({"tags": ["line\nbreak"]}, "tags"),
    ({"tags": ["dup", "dup"]}, "tags"),
    ({"tags": [f"t{i}" for i in range(33)]}, "tags"),
    ({"limit_upload_kib": -1}, "limit_upload_kib"),
    ({"limit_upload_kib": "100"}, "limit_upload_kib"),
    ({"limit_upload_kib": 1.5}, "limit_upload_kib"),
    ({"limit_upload_kib": 10 * 1024 * 1024 + 1}, "limit_upload_kib"),
    ({"limit_download_kib": -5}, "limit_download_kib"),
    ({"limit_download_kib": None}, "limit_download_kib"),
    ({"name": ""}, "name"),
    ({"name": "x" * 254}, "name"),
    ({"name": "tab\there"}, "name"),
    ({"name": " lead"}, "name"),
    ({"name": 7}, "name"),
    ({"color": "red"}, "color"),
    ({"tags": ["ok"], "limits": {"upload_kbps": 1}}, "limits"),
])
def test_patch_rejects_bad_fields_naming_them(server, admin, body, field):
    a = new_agent(server, admin, hostname="val-1")
    before = admin.get(f"/api/v1/hosts/{a.host_id}").json()
    r = admin.patch(f"/api/v1/hosts/{a.host_id}", json=body)
    assert r.status_code == 400, r.text
    assert error_code(r) == "invalid_field"
    assert f"'{field}'" in r.json()["error"]["message"], r.text
    # nothing stored
    after = admin.get(f"/api/v1/hosts/{a.host_id}").json()
    for k in ("name", "tags", "limit_upload_kib", "limit_download_kib"):
        assert after[k] == before[k]


def test_enrolment_tags_follow_the_same_rules(server, admin):
    base = {"hostname": "tagged", "repository": {"url": "/tmp/r", "password": REPO_PASSWORD}}
    for bad in (["a,b"], ["dup", "dup"], [" x"], ["y" * 129], "prod"):
        r = admin.post("/api/v1/enrollment-tokens", json=dict(base, tags=bad))
        assert r.status_code == 400 and "'tags'" in r.json()["error"]["message"], (bad, r.text)
    tok = admin.post("/api/v1/enrollment-tokens", json=dict(base, tags=["prod", "z" * 128])).json()["token"]
    from test_agent_protocol import FakeAgent
    a = FakeAgent(server)
    assert a.enroll(tok).status_code == 201
    h = admin.get(f"/api/v1/hosts/{a.host_id}").json()
    assert h["tags"] == ["prod", "z" * 128]
    # What enrolment accepted, PATCH accepts back unchanged.
    assert admin.patch(f"/api/v1/hosts/{a.host_id}", json={"tags": h["tags"]}).status_code == 200


def test_patch_rejects_non_objects_and_empty(server, admin):
    a = new_agent(server, admin, hostname="val-2")
    for raw in ("[]", "\"x\"", "not json", "{}"):
        r = admin.patch(f"/api/v1/hosts/{a.host_id}", data=raw, headers={"Content-Type": "application/json"})
        assert r.status_code == 400, (raw, r.text)
    assert admin.patch("/api/v1/hosts/99999", json={"tags": []}).status_code == 404


def test_patch_stores_settings_and_lists_them(server, admin):
    a = new_agent(server, admin, hostname="web-7")
    hid = a.host_id
    h = admin.get(f"/api/v1/hosts/{hid}").json()
    assert h["tags"] == [] and h["limit_upload_kib"] == 0 and h["limit_download_kib"] == 0
    assert h["repo_size"] is None and h["problems"] == []
    r = admin.patch(f"/api/v1/hosts/{hid}", json={"tags": ["prod", "eu-west", "db:primary"], "limit_upload_kib": 2048,
                                                  "limit_download_kib": 0, "name": "Web 7 (Frankfurt)"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == hid and body["name"] == "Web 7 (Frankfurt)"
    assert body["tags"] == ["prod", "eu-west", "db:primary"]
    assert body["limit_upload_kib"] == 2048 and body["limit_download_kib"] == 0
    # Partial update: only what is given changes.
    r = admin.patch(f"/api/v1/hosts/{hid}", json={"limit_download_kib": 512})
    assert r.status_code == 200, r.text
    h = admin.get(f"/api/v1/hosts/{hid}").json()
    assert h["tags"] == ["prod", "eu-west", "db:primary"] and h["name"] == "Web 7 (Frankfurt)"
    assert (h["limit_upload_kib"], h["limit_download_kib"]) == (2048, 512)
    # List rows carry the same fields (the dashboard's tag filter uses them).
    row = [x for x in admin.get("/api/v1/hosts").json()["items"] if x["id"] == hid][0]
    assert row["tags"] == h["tags"] and row["limit_upload_kib"] == 2048
    assert "repo_size" in row and "snapshot_count" in row
    # Clearing tags; survives a restart (stored, not cached).
    assert admin.patch(f"/api/v1/hosts/{hid}", json={"tags": []}).status_code == 200
    server.restart()
    c = Client(server)
    assert c.login("admin", "correct horse battery staple").status_code == 200
    h = c.get(f"/api/v1/hosts/{hid}").json()
    assert h["tags"] == [] and (h["limit_upload_kib"], h["limit_download_kib"]) == (2048, 512)


def test_roles_and_csrf(server, admin):
    a = new_agent(server, admin, hostname="roles-1")
    path = f"/api/v1/hosts/{a.host_id}"
    viewer = make_user(admin, server, "vera", "viewer")
    r = viewer.patch(path, json={"tags": ["x"]})
    assert r.status_code == 403, r.text
    op = make_user(admin, server, "otto", "operator")
    r = op.patch(path, json={"tags": ["by-operator"]})
    assert r.status_code == 200, r.text
    # Operators edit settings but cannot delete hosts (admin only).
    assert op.delete(path).status_code == 403
    # A cookie write without the CSRF header is refused.
    op.csrf = None
    r = op.patch(path, json={"tags": ["no-csrf"]})
    assert r.status_code == 403 and error_code(r) == "csrf_failed"
    # A bearer API token needs no CSRF header.
    tok = admin.post("/api/v1/tokens", json={"name": "ci"}).json()["token"]
    r = Client(server, token=tok).patch(path, json={"tags": ["by-token"]})
    assert r.status_code == 200, r.text
    assert admin.get(path).json()["tags"] == ["by-token"]
    # unauthenticated
    assert Client(server).patch(path, json={"tags": []}).status_code == 401


def test_audit_record_without_secrets(server, admin):
    a = new_agent(server, admin, hostname="aud-1")
    hid = a.host_id
    r = admin.patch(f"/api/v1/hosts/{hid}", json={"tags": ["prod"], "limit_upload_kib": 100})
    assert r.status_code == 200
    items = admin.get("/api/v1/audit?action=host.update").json()["items"]
    assert len(items) == 1
    rec = items[0]
    assert rec["actor"] == "admin" and rec["target"] == f"host:{hid}" and rec["outcome"] == "ok"
    ch = rec["details"]["changes"]
    assert ch["tags"] == {"from": [], "to": ["prod"]}
    assert ch["limit_upload_kib"] == {"from": 0, "to": 100}
    assert "limit_download_kib" not in ch
    assert REPO_PASSWORD not in json.dumps(rec)
    # A rejected request writes no record.
    assert admin.patch(f"/api/v1/hosts/{hid}", json={"tags": 1}).status_code == 400
    assert len(admin.get("/api/v1/audit?action=host.update").json()["items"]) == 1


def test_sse_host_event_on_change(server, admin):
    a = new_agent(server, admin, hostname="sse-1")
    resp = admin.s.get(server.url + "/api/v1/events", stream=True, timeout=30)
    assert resp.status_code == 200
    events = []

    def got(out):
        return any(e.get("event") == "host" and json.loads(e["data"]).get("change") == "settings" for e in out)
    th = threading.Thread(target=read_sse, args=(resp, got, events))
    th.start()
    # The stream is open once it answered 200; the change is published after.
    assert admin.patch(f"/api/v1/hosts/{a.host_id}", json={"tags": ["live"]}).status_code == 200
    th.join(timeout=20)
    resp.close()
    ev = [json.loads(e["data"]) for e in events if e.get("event") == "host"]
    ev = [e for e in ev if e.get("change") == "settings"]
    assert ev, events
    assert ev[0]["id"] == a.host_id and ev[0]["tags"] == ["live"] and ev[0]["status"] in ("online", "offline")


def test_limits_reach_the_agent_protocol(server, admin):
    """Fake agent: limits in hello's config, in the schedule document (new
    version queued) and in every run command."""
    a = new_agent(server, admin, hostname="proto-1")
    hid = a.host_id
    v0 = admin.get(f"/api/v1/hosts/{hid}/schedules").json()["version"]
    assert admin.patch(f"/api/v1/hosts/{hid}", json={"tags": ["only-tags"]}).status_code == 200
    assert admin.get(f"/api/v1/hosts/{hid}/schedules").json()["version"] == v0  # tags alone: no new schedule
    assert admin.patch(f"/api/v1/hosts/{hid}", json={"limit_upload_kib": 300, "limit_download_kib": 900}
                       ).status_code == 200
    v1 = admin.get(f"/api/v1/hosts/{hid}/schedules").json()["version"]
    assert v1 > v0
    # the same limits again: no new version
    assert admin.patch(f"/api/v1/hosts/{hid}", json={"limit_upload_kib": 300}).status_code == 200
    assert admin.get(f"/api/v1/hosts/{hid}/schedules").json()["version"] == v1
    want = {"upload_kbps": 300, "download_kbps": 900}
    cmds = a.poll(after=0, wait=0).json()["commands"]
    sched = [c for c in cmds if c["type"] == "schedule"]
    assert sched and sched[-1]["schedule"]["version"] == v1 and sched[-1]["schedule"]["limits"] == want
    r = admin.post(f"/api/v1/hosts/{hid}/jobs", json={"kind": "check"})
    assert r.status_code == 201
    cmds = a.poll(after=cmds[-1]["seq"], wait=5).json()["commands"]
    run = [c for c in cmds if c["type"] == "run"]
    assert run and run[0]["limits"] == want
    h = a.hello().json()
    assert h["config"]["limits"] == want and h["schedule"]["limits"] == want
    # Unlimited again: zeros travel too (the agent then passes no flag).
    assert admin.patch(f"/api/v1/hosts/{hid}", json={"limit_upload_kib": 0, "limit_download_kib": 0}
                       ).status_code == 200
    assert a.hello().json()["schedule"]["limits"] == {"upload_kbps": 0, "download_kbps": 0}


# ---- fleet figures ----------------------------------------------------------

def test_fleet_summary_shape_and_host_problems(server, admin):
    s = admin.get("/api/v1/fleet/summary").json()
    assert s["hosts"]["total"] == 0 and s["repo_size"] == 0 and s["jobs"]["failed_24h"] == 0
    assert s["hosts"]["problems"] == 0
    a = new_agent(server, admin, hostname="sum-1")
    b = new_agent(server, admin, hostname="sum-2")
    # A repository check that failed is a problem; a size is summed.
    assert a.send([{"type": "repo.stats", "raw_size": 1000, "check": {"ok": False, "time": "2026-11-25T21:00:00Z",
                                                                      "message": "pack damaged"}}]).status_code == 200
    assert b.send([{"type": "repo.stats", "raw_size": 2500}]).status_code == 200
    s = admin.get("/api/v1/fleet/summary").json()
    assert s["repo_size"] == 3500 and s["hosts"]["problems"] == 1
    rows = {x["id"]: x for x in admin.get("/api/v1/hosts").json()["items"]}
    assert rows[a.host_id]["repo_size"] == 1000 and rows[a.host_id]["problems"] == ["check_failed"]
    assert rows[b.host_id]["repo_size"] == 2500 and rows[b.host_id]["problems"] == []
    # A later stats without raw_size keeps the size; a passing check clears the problem.
    assert a.send([{"type": "repo.stats", "total_size": 5, "check": {"ok": True, "time": "2026-11-25T22:00:00Z",
                                                                     "message": "no errors"}}]).status_code == 200
    s = admin.get("/api/v1/fleet/summary").json()
    assert s["repo_size"] == 3500 and s["hosts"]["problems"] == 0
    # A deleted host no longer counts.
    assert admin.delete(f"/api/v1/hosts/{b.host_id}").status_code == 204
    assert admin.get("/api/v1/fleet/summary").json()["repo_size"] == 1000


# ---- the real agent ---------------------------------------------------------

def recording_restic(tmp_path):
    """A restic stand-in that appends its argv (one JSON array per line) to a
    file and execs the real restic."""
    log = tmp_path / "restic-argv.ndjson"
    p = tmp_path / "restic-rec"
    p.write_text("#!/usr/bin/python3\nimport json, os, sys\n"
                 f"with open({str(log)!r}, 'a') as f:\n"
                 "    f.write(json.dumps(sys.argv[1:]) + '\\n')\n"
                 f"os.execv({RESTIC!r}, [{RESTIC!r}] + sys.argv[1:])\n")
    p.chmod(p.stat().st_mode | stat.S_IXUSR)
    return str(p), log


def argvs(log):
    if not os.path.exists(log):
        return []
    return [json.loads(l) for l in open(log) if l.strip()]


def sub_of(argv):
    """The restic subcommand: the first argument that is not a global flag or its value."""
    i = 0
    while i < len(argv):
        if argv[i] in ("--limit-upload", "--limit-download"):
            i += 2
            continue
        if argv[i].startswith("-"):
            i += 1
            continue
        return argv[i]
    return None


def limit_of(argv, flag):
    return argv[argv.index(flag) + 1] if flag in argv else None


def wait_applied(admin, hid):
    wait_for(lambda: not admin.get(f"/api/v1/hosts/{hid}/schedules").json()["drift"], timeout=TIMEOUT,
             what="schedule acknowledged by the agent")


@pytest.mark.skipif(RESTIC is None, reason="restic is not installed")
def test_real_agent_passes_limits_to_restic_and_fleet_figures(server, admin, make_agent, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(20):
        (src / f"f{i}.txt").write_text(f"file {i}\n" * (50 * (i + 1)))
    prog, log = recording_restic(tmp_path)
    agent = enrol_agent(admin, make_agent, "lim-1", str(tmp_path / "repo"), REPO_PASSWORD, [str(src)], restic=prog,
                        env={"RM_TEST_SCHEDULE_MINUTE_SECONDS": "4"})
    hid = agent.host_id

    # No limits yet: restic gets no limit flags.
    run_job(admin, hid, {"kind": "init"})
    assert all("--limit-upload" not in a and "--limit-download" not in a for a in argvs(log))

    assert admin.patch(f"/api/v1/hosts/{hid}", json={"limit_upload_kib": 4321, "limit_download_kib": 8765}
                       ).status_code == 200
    wait_applied(admin, hid)
    n0 = len(argvs(log))
    bj = run_job(admin, hid, {"kind": "backup", "group": "default"})
    run_job(admin, hid, {"kind": "stats", "mode": "raw-data"})
    run_job(admin, hid, {"kind": "check"})
    run_job(admin, hid, {"kind": "forget", "keep_last": 5})
    new = argvs(log)[n0:]
    subs = [sub_of(a) for a in new]
    for want in ("backup", "snapshots", "stats", "check", "forget"):
        assert want in subs, subs
    for a in new:
        assert limit_of(a, "--limit-upload") == "4321", a
        assert limit_of(a, "--limit-download") == "8765", a
    # The agent's job log shows the command line with the flags, never the password.
    text = admin.get(f"/api/v1/jobs/{bj['id']}/log").text
    assert "--limit-upload 4321 --limit-download 8765" in text and REPO_PASSWORD not in text

    # Fleet figures from these real jobs: the repository size restic reported,
    # no failure yet; then a backup of a missing path fails.
    h = admin.get(f"/api/v1/hosts/{hid}").json()
    raw = h["repo_stats"]["raw_size"]
    assert isinstance(raw, int) and raw > 0 and h["repo_size"] == raw
    assert h["snapshot_count"] == 1
    s = admin.get("/api/v1/fleet/summary").json()
    assert s["repo_size"] == raw and s["jobs"]["failed_24h"] == 0 and s["jobs"]["running"] == 0
    assert s["hosts"]["problems"] == 0
    row = [x for x in admin.get("/api/v1/hosts").json()["items"] if x["id"] == hid][0]
    assert row["repo_size"] == raw and row["snapshot_count"] == 1
    run_job(admin, hid, {"kind": "backup", "paths": [str(tmp_path / "does-not-exist")]}, expect="failed")
    s = admin.get("/api/v1/fleet/summary").json()
    assert s["jobs"]["failed_24h"] == 1 and s["hosts"]["problems"] == 1 and s["hosts"]["backup_failed"] == 1
    assert admin.get(f"/api/v1/hosts/{hid}").json()["problems"] == ["backup_failed"]
    run_job(admin, hid, {"kind": "backup", "group": "default"})
    s = admin.get("/api/v1/fleet/summary").json()
    assert s["jobs"]["failed_24h"] == 1 and s["hosts"]["problems"] == 0  # the failure stays counted for 24 h

    # Scheduled backups fired by the agent while the server is down carry the
    # limits of the schedule document it holds.
    assert admin.patch(f"/api/v1/hosts/{hid}", json={"limit_upload_kib": 1111}).status_code == 200
    r = admin.post(f"/api/v1/hosts/{hid}/schedules", json={"cron": "* * * * *", "groups": ["default"]})
    assert r.status_code == 201, r.text
    wait_applied(admin, hid)
    doc = json.load(open(os.path.join(agent.state_dir, "schedule.json")))
    assert doc["limits"] == {"upload_kbps": 1111, "download_kbps": 8765}
    n1 = len(argvs(log))
    server.stop()

    def offline_backup():
        return [a for a in argvs(log)[n1:] if sub_of(a) == "backup"]
    done = wait_for(offline_backup, timeout=TIMEOUT, interval=0.2, what="a scheduled backup while the server is down")
    assert limit_of(done[0], "--limit-upload") == "1111" and limit_of(done[0], "--limit-download") == "8765"
