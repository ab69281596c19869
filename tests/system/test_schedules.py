"""Source groups and schedules: CRUD and validation of /api/v1/hosts/{id}/sources
and /api/v1/hosts/{id}/schedules, the `default` group from enrolment, hooks
sealed at rest and never returned, version bumps with `schedule` commands,
the agent's acknowledgement and drift.  The host is enrolled by a minimal
protocol-v1 client written here (docs/protocol.md)."""
import os
import re
import sqlite3

import requests

from conftest import Client, error_code

REPO_PASSWORD = "s3cret-Repo-Passw0rd-for-schedules"
HOOK_SECRET = "curl -H 'X-Token: hook-s3cret-XYZZY' https://example.invalid/pre"


class MiniAgent:
    def __init__(self, server):
        self.server = server
        self.token = None
        self.host_id = None
        self.seq = 0
        self.s = requests.Session()

    def headers(self):
        h = {"X-RM-Protocol": "1"}
        if self.token:
            h["Authorization"] = "Bearer " + self.token
        return h

    def enroll(self, tok, hostname):
        r = self.s.post(self.server.url + "/api/agent/v1/enroll", headers=self.headers(),
                        json={"token": tok, "protocol_version": 1, "hostname": hostname, "os": "linux",
                              "arch": "amd64", "agent_version": "test", "restic_version": "0.14.0"}, timeout=30)
        assert r.status_code == 201, r.text
        self.token = r.json()["agent_token"]
        self.host_id = r.json()["host_id"]

    def hello(self, schedule_version=0, **extra):
        body = {"protocol_version": 1, "agent_version": "test", "os": "linux", "arch": "amd64",
                "hostname": "h", "restic_version": "0.14.0", "schedule_version": schedule_version,
                "running_job_id": None, "last_command_seq": 0}
        body.update(extra)
        r = self.s.post(self.server.url + "/api/agent/v1/hello", headers=self.headers(), json=body, timeout=30)
        assert r.status_code == 200, r.text
        return r.json()

    def commands(self, after=0):
        r = self.s.get(self.server.url + f"/api/agent/v1/commands?after={after}&wait=0", headers=self.headers(),
                       timeout=30)
        assert r.status_code == 200, r.text
        return r.json()["commands"]

    def send(self, *events):
        for e in events:
            self.seq += 1
            e["seq"] = self.seq
            e.setdefault("time", "2026-11-25T21:00:00Z")
        r = self.s.post(self.server.url + "/api/agent/v1/events", headers=self.headers(),
                        json={"events": list(events)}, timeout=30)
        assert r.status_code == 200, r.text


def enrolled(server, admin, hostname="web-1", paths=("/srv/data", "/etc")):
    r = admin.post("/api/v1/enrollment-tokens", json={
        "hostname": hostname, "repository": {"url": "/tmp/repo-" + hostname, "password": REPO_PASSWORD},
        "paths": list(paths)})
    assert r.status_code == 201, r.text
    a = MiniAgent(server)
    a.enroll(r.json()["token"], hostname)
    return a


def bad(resp, field):
    assert resp.status_code == 400, resp.text
    assert error_code(resp) == "invalid_field"
    assert field in resp.json()["error"]["message"], resp.json()
    return resp.json()["error"]["message"]


def test_default_group_from_enrolment(server, admin):
    a = enrolled(server, admin)
    r = admin.get(f"/api/v1/hosts/{a.host_id}/sources")
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [g["name"] for g in items] == ["default"]
    d = items[0]
    assert d["paths"] == ["/srv/data", "/etc"]
    assert d["excludes"] == [] and d["retention"] == {}
    assert d["retry"] == {"count": 0, "backoff_seconds": 300}
    assert d["hooks_set"] == {"pre": False, "post": False}
    assert r.json()["next"] is None
    # By name and by id.
    assert admin.get(f"/api/v1/hosts/{a.host_id}/sources/default").json()["id"] == d["id"]
    assert admin.get(f"/api/v1/hosts/{a.host_id}/sources/{d['id']}").json()["name"] == "default"
    # The agent sees it in hello.
    doc = a.hello()["schedule"]
    assert [g["name"] for g in doc["groups"]] == ["default"]
    assert doc["schedules"] == []


def test_sources_crud(server, admin):
    a = enrolled(server, admin)
    base = f"/api/v1/hosts/{a.host_id}/sources"
    body = {"name": "db", "paths": ["/var/lib/db"], "excludes": ["*.tmp"],
            "retention": {"keep_last": 3, "keep_daily": 7, "keep_within": "30d"},
            "retry": {"count": 2, "backoff_seconds": 60},
            "hooks": {"pre": HOOK_SECRET, "post": "echo done"}}
    r = admin.post(base, json=body)
    assert r.status_code == 201, r.text
    g = r.json()
    assert g["name"] == "db" and g["paths"] == ["/var/lib/db"] and g["excludes"] == ["*.tmp"]
    assert g["retention"] == {"keep_last": 3, "keep_daily": 7, "keep_within": "30d"}
    assert g["retry"] == {"count": 2, "backoff_seconds": 60}
    assert g["hooks_set"] == {"pre": True, "post": True}
    assert "hooks" not in g and HOOK_SECRET not in r.text
    assert sorted(x["name"] for x in admin.get(base).json()["items"]) == ["db", "default"]

    # PATCH changes only what is given; hooks kept.
    r = admin.patch(f"{base}/db", json={"excludes": ["*.log"]})
    assert r.status_code == 200, r.text
    assert r.json()["excludes"] == ["*.log"] and r.json()["paths"] == ["/var/lib/db"]
    assert r.json()["retention"]["keep_last"] == 3 and r.json()["hooks_set"]["pre"] is True
    # PUT replaces; absent optional fields take defaults; absent hooks are kept, null clears.
    r = admin.put(f"{base}/{g['id']}", json={"paths": ["/a", "/b"]})
    assert r.status_code == 200, r.text
    assert r.json()["paths"] == ["/a", "/b"] and r.json()["excludes"] == [] and r.json()["retention"] == {}
    assert r.json()["retry"] == {"count": 0, "backoff_seconds": 300}
    assert r.json()["hooks_set"] == {"pre": True, "post": True}
    r = admin.patch(f"{base}/db", json={"hooks": {"pre": None, "post": "echo post"}})
    assert r.json()["hooks_set"] == {"pre": False, "post": True}
    r = admin.patch(f"{base}/db", json={"hooks": None})
    assert r.json()["hooks_set"] == {"pre": False, "post": False}

    # Delete.
    assert admin.delete(f"{base}/db").status_code == 204
    assert admin.get(f"{base}/db").status_code == 404
    assert admin.delete(f"{base}/db").status_code == 404


def test_hooks_sealed_at_rest_and_sent_to_the_agent_only(server, admin):
    a = enrolled(server, admin)
    base = f"/api/v1/hosts/{a.host_id}/sources"
    r = admin.post(base, json={"name": "app", "paths": ["/srv/app"], "hooks": {"pre": HOOK_SECRET}})
    assert r.status_code == 201, r.text
    db = sqlite3.connect(os.path.join(server.data_dir, "restic-manager.db"))
    blob = db.execute("SELECT hooks FROM sources WHERE name = 'app'").fetchone()[0]
    db.close()
    assert blob and b"hook-s3cret-XYZZY" not in bytes(blob)
    # Not in the API, the audit trail or the log.
    assert HOOK_SECRET not in admin.get(base).text
    assert HOOK_SECRET not in admin.get(f"{base}/app").text
    assert "hook-s3cret-XYZZY" not in server.log_text()
    audit = admin.get("/api/v1/audit?limit=100")
    assert audit.status_code == 200 and "hook-s3cret-XYZZY" not in audit.text
    # The agent gets them in hello and in the schedule command (added on delivery).
    groups = {g["name"]: g for g in a.hello()["schedule"]["groups"]}
    assert groups["app"]["hooks"] == {"pre": HOOK_SECRET}
    assert "hooks" not in groups["default"]
    cmd = [c for c in a.commands() if c["type"] == "schedule"][-1]
    groups = {g["name"]: g for g in cmd["schedule"]["groups"]}
    assert groups["app"]["hooks"] == {"pre": HOOK_SECRET}
    # Never in clear in the database files (the command rows hold no hooks).
    for name in ("restic-manager.db", "restic-manager.db-wal"):
        p = os.path.join(server.data_dir, name)
        if os.path.exists(p):
            assert b"hook-s3cret-XYZZY" not in open(p, "rb").read(), name


def test_sources_bad_input(server, admin):
    a = enrolled(server, admin)
    base = f"/api/v1/hosts/{a.host_id}/sources"
    ok = {"name": "g1", "paths": ["/x"]}
    bad(admin.post(base, json={"paths": ["/x"]}), "name")
    bad(admin.post(base, json={"name": "g1"}), "paths")
    assert "empty" in bad(admin.post(base, json={"name": "g1", "paths": []}), "paths")
    bad(admin.post(base, json={"name": "g1", "paths": "/x"}), "paths")
    bad(admin.post(base, json={"name": "g1", "paths": [""]}), "paths")
    bad(admin.post(base, json={"name": "g1", "paths": ["/x\n/y"]}), "paths")
    bad(admin.post(base, json={"name": "g1", "paths": ["/x"] * 300}), "paths")
    bad(admin.post(base, json={"name": "-bad", "paths": ["/x"]}), "name")
    bad(admin.post(base, json={"name": "a,b", "paths": ["/x"]}), "name")
    bad(admin.post(base, json={"name": "x" * 65, "paths": ["/x"]}), "name")
    bad(admin.post(base, json={**ok, "excludes": [1]}), "excludes")
    bad(admin.post(base, json={**ok, "retention": {"keep_lots": 1}}), "retention.keep_lots")
    bad(admin.post(base, json={**ok, "retention": {"keep_last": -1}}), "retention.keep_last")
    bad(admin.post(base, json={**ok, "retention": {"keep_last": "3"}}), "retention.keep_last")
    bad(admin.post(base, json={**ok, "retention": {"keep_within": "30 days"}}), "retention.keep_within")
    bad(admin.post(base, json={**ok, "retention": []}), "retention")
    bad(admin.post(base, json={**ok, "retry": {"count": 1000}}), "retry.count")
    bad(admin.post(base, json={**ok, "retry": {"tries": 1}}), "retry")
    bad(admin.post(base, json={**ok, "retry": {"backoff_seconds": -5}}), "retry.backoff_seconds")
    m = bad(admin.post(base, json={**ok, "hooks": {"pre_prune": "echo"}}), "hooks")
    assert "backup" in m
    bad(admin.post(base, json={**ok, "hooks": {"pre": ""}}), "hooks.pre")
    bad(admin.post(base, json={**ok, "hooks": {"post": "x" * 9000}}), "hooks.post")
    bad(admin.post(base, json={**ok, "hooks": "echo"}), "hooks")
    bad(admin.post(base, json={**ok, "color": "red"}), "color")
    r = admin.post(base, data="not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    # Duplicate name, unknown host/group, wrong roles.
    assert admin.post(base, json=ok).status_code == 201
    r = admin.post(base, json=ok)
    assert r.status_code == 409 and error_code(r) == "exists"
    r = admin.patch(f"{base}/g1", json={"name": "default"})
    assert r.status_code == 409
    assert admin.get("/api/v1/hosts/9999/sources").status_code == 404
    assert admin.post("/api/v1/hosts/9999/sources", json=ok).status_code == 404
    assert admin.get(f"{base}/nope").status_code == 404
    assert admin.get(f"{base}/..%2f..").status_code in (400, 404)
    assert admin.patch(f"{base}/nope", json={"paths": ["/y"]}).status_code == 404
    bad(admin.put(f"{base}/g1", json={"excludes": []}), "paths")
    assert admin.post("/api/v1/users", json={"username": "viewer1", "password": "viewer password 1",
                                             "role": "viewer"}).status_code == 201
    v = Client(server)
    assert v.login("viewer1", "viewer password 1").status_code == 200
    assert v.get(base).status_code == 200
    assert v.post(base, json={"name": "g2", "paths": ["/x"]}).status_code == 403
    assert v.delete(f"{base}/g1").status_code == 403
    assert requests.get(server.url + base).status_code == 401


def test_schedules_crud_next_runs_and_description(server, admin):
    a = enrolled(server, admin)
    base = f"/api/v1/hosts/{a.host_id}/schedules"
    r = admin.post(base, json={"cron": "0 3 * * *", "groups": ["default"], "enabled": True})
    assert r.status_code == 201, r.text
    s = r.json()
    assert s["cron"] == "0 3 * * *" and s["groups"] == ["default"] and s["enabled"] is True
    assert s["description"] == "every day at 03:00"
    assert s["random_delay_seconds"] == 0 and s["timezone"] == "UTC"
    assert len(s["next_runs"]) == 5
    for t in s["next_runs"]:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT03:00:00\+00:00", t), t
    assert s["next_runs"] == sorted(s["next_runs"])

    assert admin.post(f"/api/v1/hosts/{a.host_id}/sources", json={"name": "db", "paths": ["/db"]}).status_code == 201
    r = admin.post(base, json={"cron": "*/15 * * * *", "groups": ["db", "default"], "random_delay_seconds": 120})
    assert r.status_code == 201, r.text
    s2 = r.json()
    assert s2["description"] == "every 15 minutes" and s2["random_delay_seconds"] == 120
    r = admin.get(base)
    assert [x["id"] for x in r.json()["items"]] == [s["id"], s2["id"]]

    r = admin.patch(f"{base}/{s2['id']}", json={"enabled": False})
    assert r.status_code == 200 and r.json()["enabled"] is False and r.json()["next_runs"] == []
    assert r.json()["cron"] == "*/15 * * * *" and r.json()["random_delay_seconds"] == 120
    r = admin.put(f"{base}/{s2['id']}", json={"cron": "30 2 * * 1,5", "groups": ["db"]})
    assert r.status_code == 200, r.text
    assert r.json()["description"] == "at 02:30 on Monday and Friday"
    assert r.json()["enabled"] is True and r.json()["random_delay_seconds"] == 0
    assert admin.get(f"{base}/{s2['id']}").json()["groups"] == ["db"]

    # A group in use cannot be deleted; renaming it follows into the schedule.
    r = admin.delete(f"/api/v1/hosts/{a.host_id}/sources/db")
    assert r.status_code == 409 and error_code(r) == "group_in_use"
    r = admin.patch(f"/api/v1/hosts/{a.host_id}/sources/db", json={"name": "database"})
    assert r.status_code == 200, r.text
    assert admin.get(f"{base}/{s2['id']}").json()["groups"] == ["database"]

    assert admin.delete(f"{base}/{s2['id']}").status_code == 204
    assert admin.get(f"{base}/{s2['id']}").status_code == 404
    assert admin.delete(f"/api/v1/hosts/{a.host_id}/sources/database").status_code == 204
    for shorthand in ("@daily", "@hourly", "@weekly", "@monthly", "@yearly"):
        r = admin.post(base, json={"cron": shorthand, "groups": ["default"]})
        assert r.status_code == 201, r.text
        assert len(r.json()["next_runs"]) == 5


def test_schedules_bad_input(server, admin):
    a = enrolled(server, admin)
    base = f"/api/v1/hosts/{a.host_id}/schedules"
    m = bad(admin.post(base, json={"cron": "61 * * * *", "groups": ["default"]}), "cron")
    assert "minute" in m and "61" in m
    assert "day-of-week" in bad(admin.post(base, json={"cron": "0 0 * * funday", "groups": ["default"]}), "cron")
    assert "5 fields" in bad(admin.post(base, json={"cron": "0 0 *", "groups": ["default"]}), "cron")
    assert "day-of-month" in bad(admin.post(base, json={"cron": "0 0 31 2 *", "groups": ["default"]}), "cron")
    bad(admin.post(base, json={"cron": "@reboot", "groups": ["default"]}), "cron")
    bad(admin.post(base, json={"cron": "", "groups": ["default"]}), "cron")
    bad(admin.post(base, json={"cron": 5, "groups": ["default"]}), "cron")
    bad(admin.post(base, json={"groups": ["default"]}), "cron")
    bad(admin.post(base, json={"cron": "0 3 * * *"}), "groups")
    bad(admin.post(base, json={"cron": "0 3 * * *", "groups": []}), "groups")
    assert "nope" in bad(admin.post(base, json={"cron": "0 3 * * *", "groups": ["nope"]}), "groups")
    bad(admin.post(base, json={"cron": "0 3 * * *", "groups": ["default", "default"]}), "groups")
    bad(admin.post(base, json={"cron": "0 3 * * *", "groups": [3]}), "groups")
    bad(admin.post(base, json={"cron": "0 3 * * *", "groups": ["default"], "enabled": "yes"}), "enabled")
    bad(admin.post(base, json={"cron": "0 3 * * *", "groups": ["default"], "random_delay_seconds": -1}),
        "random_delay_seconds")
    bad(admin.post(base, json={"cron": "0 3 * * *", "groups": ["default"], "random_delay_seconds": 10 ** 6}),
        "random_delay_seconds")
    bad(admin.post(base, json={"cron": "0 3 * * *", "groups": ["default"], "kind": "prune"}), "kind")
    assert admin.post("/api/v1/hosts/4242/schedules", json={"cron": "@daily", "groups": ["default"]}).status_code == 404
    assert admin.get(f"{base}/77").status_code == 404
    assert admin.get(f"{base}/abc").status_code == 404
    r = admin.post(base, json={"cron": "@daily", "groups": ["default"]})
    assert r.status_code == 201
    bad(admin.patch(f"{base}/{r.json()['id']}", json={"cron": "* * * * * *"}), "cron")
    bad(admin.put(f"{base}/{r.json()['id']}", json={"groups": ["default"]}), "cron")
    # Nothing was stored by the failures.
    assert len(admin.get(base).json()["items"]) == 1


def test_version_command_ack_and_drift(server, admin):
    a = enrolled(server, admin)
    h = a.hello()
    assert h["schedule"]["version"] == 0
    st = admin.get(f"/api/v1/hosts/{a.host_id}/schedules").json()
    assert st["version"] == 0 and st["applied_version"] == 0 and st["drift"] is False

    r = admin.post(f"/api/v1/hosts/{a.host_id}/schedules", json={"cron": "0 4 * * *", "groups": ["default"]})
    assert r.status_code == 201
    assert admin.patch(f"/api/v1/hosts/{a.host_id}/sources/default",
                       json={"retention": {"keep_last": 2}}).status_code == 200
    st = admin.get(f"/api/v1/hosts/{a.host_id}/schedules").json()
    assert st["version"] == 2 and st["applied_version"] == 0 and st["drift"] is True

    cmds = [c for c in a.commands() if c["type"] == "schedule"]
    assert [c["schedule"]["version"] for c in cmds] == [1, 2]
    last = cmds[-1]["schedule"]
    assert last["schedules"][0]["cron"] == "0 4 * * *"
    assert last["groups"][0]["retention"] == {"keep_last": 2}
    assert a.hello()["schedule"]["version"] == 2

    a.send({"type": "schedule.ack", "version": 2})
    st = admin.get(f"/api/v1/hosts/{a.host_id}/schedules").json()
    assert st["applied_version"] == 2 and st["drift"] is False
    # Another change drifts again.
    assert admin.delete(f"/api/v1/hosts/{a.host_id}/schedules/{r.json()['id']}").status_code == 204
    st = admin.get(f"/api/v1/hosts/{a.host_id}/schedules").json()
    assert st["version"] == 3 and st["drift"] is True


def test_group_settings_reach_jobs(server, admin):
    a = enrolled(server, admin)
    assert admin.post(f"/api/v1/hosts/{a.host_id}/sources", json={
        "name": "db", "paths": ["/db"], "excludes": ["*.tmp"], "retention": {"keep_last": 4},
        "hooks": {"pre": HOOK_SECRET}}).status_code == 201
    r = admin.post(f"/api/v1/hosts/{a.host_id}/jobs", json={"kind": "backup", "group": "db"})
    assert r.status_code == 201, r.text
    job = admin.get(f"/api/v1/jobs/{r.json()['id']}").json()
    assert HOOK_SECRET not in str(job)
    run = [c for c in a.commands() if c["type"] == "run"][-1]
    assert run["args"]["paths"] == ["/db"] and run["args"]["excludes"] == ["*.tmp"]
    assert run["args"]["tags"] == ["db"]
    r = admin.post(f"/api/v1/hosts/{a.host_id}/jobs", json={"kind": "forget", "group": "db"})
    assert r.status_code == 201, r.text
    run = [c for c in a.commands() if c["type"] == "run"][-1]
    assert run["args"]["keep_last"] == 4 and run["args"]["tags"] == ["db"]
    r = admin.post(f"/api/v1/hosts/{a.host_id}/jobs", json={"kind": "backup", "group": "nope"})
    assert r.status_code in (400, 404)


def test_hooks_on_jobs_refused(server, admin):
    a = enrolled(server, admin)
    for kind in ("forget", "prune", "check", "backup"):
        body = {"kind": kind, "hooks": {"pre": "echo"}}
        if kind == "forget":
            body["group"] = "default"
        m = bad(admin.post(f"/api/v1/hosts/{a.host_id}/jobs", json=body), "hooks")
        assert ("around backups" in m) == (kind != "backup"), m
    assert not [c for c in a.commands() if c["type"] == "run"]
