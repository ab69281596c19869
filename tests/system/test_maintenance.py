"""Server-driven repository maintenance: GET/PUT /api/v1/hosts/{id}/maintenance,
forget/prune/check/stats queued as `system` jobs when due (test-only tick
RM_TEST_MAINTENANCE_TICK_SECONDS=1; "due" is made by ageing the last-run
times in the database), offline hosts skipped until they return, the
privileged credential only in the prune job's run command, lock holders
from repo.stats, and a host's first successful backup queueing one stats job
(real agent, real restic) so its repository size is known."""
import os
import shutil
import sqlite3

import pytest
import requests

from conftest import SANITIZED, Agent, Server, Client, wait_for, error_code, ADMIN_USER, ADMIN_PASSWORD
from test_schedules import MiniAgent

PRIV = "Privileged-Prune-Pass-93kq"


@pytest.fixture
def mserver(tmp_path):
    s = Server(tmp_path, env={"RM_TEST_MAINTENANCE_TICK_SECONDS": "1", "RM_TEST_OFFLINE_AFTER": "3"})
    s.start()
    yield s
    rc = s.stop()
    if rc not in (None, 0):
        pytest.fail(f"server exited with {rc}:\n{s.log_text()[-4000:]}")
    assert "ERROR: AddressSanitizer" not in s.log_text()
    assert "runtime error:" not in s.log_text()


@pytest.fixture
def madmin(mserver):
    tok = mserver.bootstrap_token()
    r = mserver.post("/api/v1/bootstrap", json={"token": tok, "username": ADMIN_USER, "password": ADMIN_PASSWORD})
    assert r.status_code == 201, r.text
    c = Client(mserver)
    assert c.login(ADMIN_USER, ADMIN_PASSWORD).status_code == 200
    return c


def enrol(server, admin, name):
    r = admin.post("/api/v1/enrollment-tokens", json={
        "hostname": name, "repository": {"url": "/tmp/repo-shared", "password": "everyday-pass-1234"},
        "paths": ["/srv"]})
    assert r.status_code == 201, r.text
    a = MiniAgent(server)
    a.enroll(r.json()["token"], name)
    a.hello()
    return a


def age(server, hid, kinds=("forget", "prune", "check")):
    db = sqlite3.connect(os.path.join(server.data_dir, "restic-manager.db"))
    for k in kinds:
        db.execute(f"UPDATE host_sched_state SET {k}_last = 1 WHERE host_id = ?", (hid,))
    db.commit()
    db.close()


def system_jobs(admin, hid):
    r = admin.get("/api/v1/jobs", params={"host": hid, "limit": 100})
    assert r.status_code == 200
    return [j for j in r.json()["items"] if j["actor"] == "system"]


def test_settings_get_put_and_validation(mserver, madmin):
    a = enrol(mserver, madmin, "m-1")
    base = f"/api/v1/hosts/{a.host_id}/maintenance"
    m = madmin.get(base).json()
    assert m["forget"]["enabled"] and m["forget"]["every_hours"] == 24
    assert m["prune"]["every_hours"] == 168 and m["check"]["every_hours"] == 168
    assert m["stats"]["enabled"] and m["stats"]["every_hours"] == 24
    assert m["check"]["read_data_subset"] is None and m["privileged_credential"] is False
    assert m["locks"] == [] and m["last_check"] is None
    r = madmin.put(base, json={"check": {"read_data_subset": "10%", "every_hours": 48},
                               "prune": {"enabled": False}, "privileged_password": PRIV})
    assert r.status_code == 200, r.text
    m = r.json()
    assert m["check"] == {**m["check"], "read_data_subset": "10%", "every_hours": 48}
    assert m["prune"]["enabled"] is False and m["forget"]["enabled"] is True
    assert m["privileged_credential"] is True and PRIV not in r.text
    assert madmin.put(base, json={"privileged_password": None}).json()["privileged_credential"] is False
    r = madmin.put(base, json={"stats": {"enabled": False, "every_hours": 12}})
    assert r.status_code == 200 and r.json()["stats"] == {**r.json()["stats"], "enabled": False, "every_hours": 12}
    for body, field in [({"forget": {"every_hours": 0}}, "forget"), ({"stats": {"every_hours": 0}}, "stats"),
                        ({"stats": {"read_data_subset": "5%"}}, "stats"), ({"prune": {"every_hours": 10 ** 6}}, "prune"),
                        ({"check": {"read_data_subset": "lots"}}, "check"), ({"check": "weekly"}, "check"),
                        ({"forget": {"read_data_subset": "5%"}}, "forget"), ({"defrag": {}}, "unknown"),
                        ({"privileged_password": 5}, "privileged_password"),
                        ({"privileged_password": ""}, "privileged_password")]:
        r = madmin.put(base, json=body)
        assert r.status_code == 400 and error_code(r) == "invalid_field", (body, r.text)
        assert field in r.json()["error"]["message"], (body, r.text)
    assert madmin.get("/api/v1/hosts/999/maintenance").status_code == 404
    assert requests.get(mserver.url + base).status_code == 401
    assert PRIV not in madmin.get("/api/v1/audit?limit=100").text


def test_due_work_queued_as_system_jobs(mserver, madmin):
    a = enrol(mserver, madmin, "m-2")
    hid = a.host_id
    assert madmin.patch(f"/api/v1/hosts/{hid}/sources/default",
                        json={"retention": {"keep_daily": 7}}).status_code == 200
    assert madmin.post(f"/api/v1/hosts/{hid}/sources",
                       json={"name": "noret", "paths": ["/x"]}).status_code == 201
    assert madmin.put(f"/api/v1/hosts/{hid}/maintenance",
                      json={"check": {"read_data_subset": "1/10"}, "privileged_password": PRIV}).status_code == 200
    # Nothing runs at once on a fresh host.
    wait_for(lambda: madmin.get(f"/api/v1/hosts/{hid}/maintenance").json()["prune"]["next_due"], what="intervals")
    assert system_jobs(madmin, hid) == []
    age(mserver, hid)
    jobs = wait_for(lambda: (lambda js: js if len(js) >= 3 else None)(system_jobs(madmin, hid)), timeout=20,
                    what="maintenance jobs")
    kinds = sorted(j["kind"] for j in jobs)
    assert kinds == ["check", "forget", "prune"], jobs  # forget only for the group with a retention policy
    forget = [j for j in jobs if j["kind"] == "forget"][0]
    assert forget["args"]["keep_daily"] == 7 and forget["args"]["tags"] == ["default"]
    check = [j for j in jobs if j["kind"] == "check"][0]
    assert check["args"]["read_data_subset"] == "1/10"
    for j in jobs:
        assert PRIV not in str(madmin.get(f"/api/v1/jobs/{j['id']}").json())
    # The privileged password rides only in the prune run command.
    runs = {c["kind"]: c for c in a.commands() if c["type"] == "run"}
    assert runs["prune"]["credential"] == {"password": PRIV}
    assert runs["prune"]["actor"] == "system"
    assert "credential" not in runs["check"] and "credential" not in runs["forget"]
    # A user's unlock and prune jobs get it too; a backup does not.
    for kind in ("unlock", "prune", "backup"):
        r = madmin.post(f"/api/v1/hosts/{hid}/jobs", json={"kind": kind})
        assert r.status_code == 201, r.text
        run = [c for c in a.commands() if c["type"] == "run" and c["job_id"] == r.json()["id"]][0]
        assert (run.get("credential") == {"password": PRIV}) == (kind != "backup"), run
        assert PRIV not in str(madmin.get(f"/api/v1/jobs/{r.json()['id']}").json())
    for name in ("restic-manager.db", "restic-manager.db-wal"):
        p = os.path.join(mserver.data_dir, name)
        if os.path.exists(p):
            assert PRIV.encode() not in open(p, "rb").read(), name
    # Not queued again while those are pending, even when due again.
    age(mserver, hid)
    n = len(system_jobs(madmin, hid))
    wait_for(lambda: "maintenance" in mserver.log_text(), what="ticks")
    import time
    t_end = time.monotonic() + 3
    while time.monotonic() < t_end:
        assert len(system_jobs(madmin, hid)) == n
        time.sleep(0.2)


def test_disabled_and_offline_hosts_skipped(mserver, madmin):
    a = enrol(mserver, madmin, "m-3")
    b = enrol(mserver, madmin, "m-4")
    assert madmin.put(f"/api/v1/hosts/{a.host_id}/maintenance",
                      json={"forget": {"enabled": False}, "check": {"enabled": False}}).status_code == 200
    wait_for(lambda: madmin.get(f"/api/v1/hosts/{b.host_id}/maintenance").json()["prune"]["next_due"],
             what="intervals")
    # b goes silent and turns offline; a keeps polling.
    wait_for(lambda: madmin.get(f"/api/v1/hosts/{b.host_id}").json()["status"] == "offline", timeout=20,
             interval=0.2, what="b offline")
    age(mserver, a.host_id)
    age(mserver, b.host_id)

    def a_jobs():
        a.hello()
        return system_jobs(madmin, a.host_id)
    js = wait_for(a_jobs, timeout=20, interval=0.3, what="a's maintenance")
    assert [j["kind"] for j in js] == ["prune"]
    assert system_jobs(madmin, b.host_id) == []
    # b returns: its due work is queued.
    b.hello()
    js = wait_for(lambda: (lambda js: js if len(js) >= 2 else None)(system_jobs(madmin, b.host_id)), timeout=20,
                  what="b's maintenance after it returned")
    assert sorted(j["kind"] for j in js) == ["check", "prune"]  # no retention policy: no forget


def test_lock_holders_from_repo_stats(mserver, madmin):
    a = enrol(mserver, madmin, "m-5")
    a.send({"type": "repo.stats", "total_size": 1000,
            "check": {"ok": True, "time": "2026-11-25T20:00:00Z", "message": "no errors were found"},
            "locks": [{"pid": 4242, "host": "m-5", "user": "root", "time": "2026-11-25T19:00:00Z",
                       "exclusive": True},
                      {"pid": 7, "host": "elsewhere", "user": "bob", "time": "2026-11-20T19:00:00Z",
                       "exclusive": False}]})
    m = madmin.get(f"/api/v1/hosts/{a.host_id}/maintenance").json()
    assert m["last_check"]["ok"] is True
    locks = {l["host"]: l for l in m["locks"]}
    assert locks["m-5"]["held_by_this_host"] is True and locks["m-5"]["pid"] == 4242
    assert locks["m-5"]["job_running"] is False
    assert locks["elsewhere"]["held_by_this_host"] is False and locks["elsewhere"]["agent_online"] is False


FINAL = ("succeeded", "warning", "failed", "cancelled")


@pytest.mark.skipif(not shutil.which("restic"), reason="restic not installed")
def test_first_backup_queues_stats_once(mserver, madmin, tmp_path):
    timeout = 180 if SANITIZED else 90
    src = tmp_path / "src"
    src.mkdir()
    (src / "file.txt").write_text("hello stats " * 1000)
    r = madmin.post("/api/v1/enrollment-tokens",
                    json={"hostname": "statshost", "repository": {"url": str(tmp_path / "repo"),
                                                                  "password": "stats-repo-pass-1234"},
                          "paths": [str(src)]})
    assert r.status_code == 201, r.text
    agent = Agent(tmp_path, mserver, name="agent")
    try:
        agent.enroll(r.json()["token"])
        agent.run()
        hid = agent.host_id

        def finished(jid):
            return wait_for(lambda: (lambda j: j if j["status"] in FINAL else None)(
                madmin.get(f"/api/v1/jobs/{jid}").json()), timeout=timeout, interval=0.2, what="job end")

        def run(kind):
            r = madmin.post(f"/api/v1/hosts/{hid}/jobs", json={"kind": kind})
            assert r.status_code == 201, r.text
            j = finished(r.json()["id"])
            assert j["status"] == "succeeded", j
            return j

        run("init")
        assert madmin.get(f"/api/v1/hosts/{hid}").json()["repo_size"] is None
        assert [j for j in system_jobs(madmin, hid) if j["kind"] == "stats"] == []
        run("backup")
        stats = wait_for(lambda: [j for j in system_jobs(madmin, hid) if j["kind"] == "stats"], timeout=10,
                         what="a stats system job after the first backup")
        assert len(stats) == 1
        assert finished(stats[0]["id"])["status"] == "succeeded"
        size = wait_for(lambda: madmin.get(f"/api/v1/hosts/{hid}").json()["repo_size"], timeout=10,
                        what="the repository size")
        assert size > 0
        assert madmin.get(f"/api/v1/hosts/{hid}/maintenance").json()["stats"]["last_queued"]
        # once: a later backup queues no other stats job
        run("backup")
        assert len([j for j in system_jobs(madmin, hid) if j["kind"] == "stats"]) == 1
    finally:
        agent.stop()
