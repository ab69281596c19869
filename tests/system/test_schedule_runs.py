"""Schedules that run themselves: the real server, the real agent and the
real restic.  The agent fires its cached schedule locally (src/agent/
schedule.c); jobs arrive at the server with actor "schedule" and agent-minted
ids, also when the server was away while they ran.

Most tests use the agent's test-only clock hook RM_TEST_SCHEDULE_MINUTE_SECONDS
(one cron minute lasts that many real seconds) so an every-minute schedule
fires every few seconds; one test waits for a real minute boundary."""
import os
import re
import shutil

import pytest

from conftest import wait_for, SANITIZED

RESTIC = shutil.which("restic")
pytestmark = pytest.mark.skipif(RESTIC is None, reason="restic is not installed")

PASSWORD = "repo-pass-Sched-4kd9Qw"
FINAL = ("succeeded", "warning", "failed", "cancelled")
TIMEOUT = 240 if SANITIZED else 120
MINUTE_S = 6


def make_tree(root, n=20):
    os.makedirs(root, exist_ok=True)
    for i in range(n):
        with open(os.path.join(root, f"f{i}.txt"), "w") as f:
            f.write(f"file {i}\n" * (i + 1))


def enrol(admin, make_agent, tmp_path, name, paths, env=None):
    r = admin.post("/api/v1/enrollment-tokens",
                   json={"hostname": name, "repository": {"url": str(tmp_path / f"repo-{name}"),
                                                          "password": PASSWORD},
                         "paths": paths})
    assert r.status_code == 201, r.text
    agent = make_agent(name, env=env)
    agent.enroll(r.json()["token"])
    agent.run()
    return agent


def jobs(admin, hid):
    r = admin.get("/api/v1/jobs", params={"host": hid, "limit": 200})
    assert r.status_code == 200, r.text
    return r.json()["items"]


def run_init(admin, hid):
    r = admin.post(f"/api/v1/hosts/{hid}/jobs", json={"kind": "init"})
    assert r.status_code == 201, r.text
    jid = r.json()["id"]
    j = wait_for(lambda: (lambda j: j if j["status"] in FINAL else None)(admin.get(f"/api/v1/jobs/{jid}").json()),
                 timeout=TIMEOUT, what="init")
    assert j["status"] == "succeeded", j


def snapshots(admin, hid):
    r = admin.get(f"/api/v1/hosts/{hid}/snapshots")
    assert r.status_code == 200, r.text
    return r.json()["items"]


def sched_jobs(admin, hid, kind=None):
    return [j for j in jobs(admin, hid) if j["actor"] == "schedule" and (kind is None or j["kind"] == kind)]


def drained(admin, hid):
    """No job of the host is queued or running."""
    return all(j["status"] in FINAL for j in jobs(admin, hid))


def agent_idle(agent):
    """The agent has no job queued or running and no event left to deliver.
    Scheduled jobs exist on the server only once their first event arrives:
    until then they sit in the agent's own queue (a backup and its forget
    are queued together), invisible to drained()."""
    out = agent.cli("status").stdout
    return all(s in out for s in ("queued events: 0\n", "queued jobs: 0\n", "running job: none\n"))


def wait_applied(admin, hid):
    wait_for(lambda: not admin.get(f"/api/v1/hosts/{hid}/schedules").json()["drift"], timeout=TIMEOUT,
             what="schedule acknowledged by the agent")


def test_every_minute_backup_and_forget_honour_retention(admin, make_agent, tmp_path):
    src = str(tmp_path / "src")
    make_tree(src)
    agent = enrol(admin, make_agent, tmp_path, "sched-1", [src],
                  env={"RM_TEST_SCHEDULE_MINUTE_SECONDS": str(MINUTE_S)})
    hid = agent.host_id
    run_init(admin, hid)
    assert admin.patch(f"/api/v1/hosts/{hid}/sources/default",
                       json={"retention": {"keep_last": 2}}).status_code == 200
    r = admin.post(f"/api/v1/hosts/{hid}/schedules", json={"cron": "* * * * *", "groups": ["default"]})
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    wait_applied(admin, hid)

    # No operator action from here: backups and forgets appear on their own.
    def enough():
        b = [j for j in sched_jobs(admin, hid, "backup") if j["status"] == "succeeded"]
        f = [j for j in sched_jobs(admin, hid, "forget") if j["status"] == "succeeded"]
        return len(b) >= 4 and len(f) >= 4
    wait_for(enough, timeout=TIMEOUT, interval=0.5, what="four scheduled backups and forgets")
    assert admin.patch(f"/api/v1/hosts/{hid}/schedules/{sid}", json={"enabled": False}).status_code == 200
    wait_applied(admin, hid)
    wait_for(lambda: agent_idle(agent) and drained(admin, hid), timeout=TIMEOUT, interval=0.2,
             what="queued scheduled jobs to finish and reach the server")

    all_jobs = sched_jobs(admin, hid)
    assert len({j["id"] for j in all_jobs}) == len(all_jobs)
    for j in all_jobs:
        assert j["status"] == "succeeded", j
        assert j["args"]["tags"] == ["default"], j
        assert j["group"] == "default", j
        assert re.fullmatch(r"[0-9a-f]{32}", j["id"])
    # Each backup is followed by its forget: the newest scheduled job is a forget.
    assert all_jobs[0]["kind"] == "forget"
    log = admin.get(f"/api/v1/jobs/{all_jobs[0]['id']}/log").text
    assert "forget" in log and "--prune" not in log
    # Retention honoured: keep_last 2 of the group's tag.
    snaps = wait_for(lambda: (lambda s: s if len(s) == 2 else None)(snapshots(admin, hid)), timeout=TIMEOUT,
                     what="two snapshots kept")
    assert all("default" in s["tags"] for s in snaps)
    # Disabled: nothing new is queued.
    n = len(sched_jobs(admin, hid))
    assert "schedule: job" in agent.log_text()
    assert len(sched_jobs(admin, hid)) == n


def test_real_minute_boundary(admin, make_agent, tmp_path):
    """One test with the real clock: the next minute boundary fires a backup."""
    src = str(tmp_path / "src")
    make_tree(src, 3)
    agent = enrol(admin, make_agent, tmp_path, "sched-real", [src])
    hid = agent.host_id
    run_init(admin, hid)
    r = admin.post(f"/api/v1/hosts/{hid}/schedules", json={"cron": "* * * * *", "groups": ["default"]})
    assert r.status_code == 201, r.text
    first = r.json()["next_runs"][0]
    wait_applied(admin, hid)
    j = wait_for(lambda: [j for j in sched_jobs(admin, hid, "backup") if j["status"] == "succeeded"],
                 timeout=75 + TIMEOUT, interval=0.5, what="a backup at the next minute")[0]
    assert j["actor"] == "schedule"
    assert first.endswith(":00+00:00")
    assert len(snapshots(admin, hid)) >= 1


def test_server_down_while_scheduled_backups_run(admin, make_agent, tmp_path, server):
    src = str(tmp_path / "src")
    make_tree(src)
    agent = enrol(admin, make_agent, tmp_path, "sched-2", [src],
                  env={"RM_TEST_SCHEDULE_MINUTE_SECONDS": str(MINUTE_S)})
    hid = agent.host_id
    run_init(admin, hid)
    r = admin.post(f"/api/v1/hosts/{hid}/schedules", json={"cron": "* * * * *", "groups": ["default"]})
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    wait_applied(admin, hid)

    server.stop()
    queued_re = re.compile(r"schedule: job ([0-9a-f]{32}) \(backup")

    def finished_offline():
        text = agent.log_text()
        ids = queued_re.findall(text)
        return [i for i in ids if f"job {i} finished" in text]
    done = wait_for(lambda: (lambda d: d if len(d) >= 2 else None)(finished_offline()), timeout=TIMEOUT,
                    interval=0.5, what="two scheduled backups while the server is down")

    before = agent.connections()
    server.args = ["--listen", server.addr]  # same port: the agent's configured URL
    server.start()
    agent.wait_connected(before, timeout=TIMEOUT)
    assert admin.login("admin", "correct horse battery staple").status_code == 200
    assert admin.patch(f"/api/v1/hosts/{hid}/schedules/{sid}", json={"enabled": False}).status_code == 200
    wait_applied(admin, hid)
    wait_for(lambda: agent_idle(agent) and drained(admin, hid), timeout=TIMEOUT, interval=0.2,
             what="scheduled jobs run and delivered")

    backups = sched_jobs(admin, hid, "backup")
    ids = [j["id"] for j in backups]
    assert len(ids) == len(set(ids)), "a scheduled job was duplicated"
    for i in done:
        assert i in ids, f"job {i} run while the server was down is missing"
    agent_ids = set(queued_re.findall(agent.log_text()))
    assert agent_ids == set(ids)
    for j in backups:
        assert j["status"] == "succeeded", j
        assert j["summary"] and j["summary"]["snapshot_id"]
        log = admin.get(f"/api/v1/jobs/{j['id']}/log").text
        assert log.count("running: restic backup") == 1, log
    snaps = wait_for(lambda: (lambda s: s if len(s) == len(backups) else None)(snapshots(admin, hid)),
                     timeout=TIMEOUT, what="one snapshot per scheduled backup")
    assert {s["short_id"] for s in snaps} == {j["summary"]["snapshot_id"] for j in backups}


def run_job(admin, hid, body):
    r = admin.post(f"/api/v1/hosts/{hid}/jobs", json=body)
    assert r.status_code == 201, r.text
    jid = r.json()["id"]
    return wait_for(lambda: (lambda j: j if j["status"] in FINAL else None)(admin.get(f"/api/v1/jobs/{jid}").json()),
                    timeout=TIMEOUT, what=f"job {body['kind']}")


def test_pre_and_post_backup_hooks(admin, make_agent, tmp_path):
    src = str(tmp_path / "src")
    make_tree(src, 3)
    out = tmp_path / "hooks"
    out.mkdir()
    agent = enrol(admin, make_agent, tmp_path, "hooks-1", [src])
    hid = agent.host_id
    run_init(admin, hid)
    pre = f'echo "pre $RM_JOB_KIND $RM_HOOK" > {out}/pre; env > {out}/env; echo hook-output-line'
    post = f'echo "post $RM_JOB_STATUS $RM_JOB_EXIT_CODE" > {out}/post'
    r = admin.post(f"/api/v1/hosts/{hid}/sources", json={"name": "app", "paths": [src],
                                                         "hooks": {"pre": pre, "post": post}})
    assert r.status_code == 201, r.text
    wait_applied(admin, hid)
    j = run_job(admin, hid, {"kind": "backup", "group": "app"})
    log = admin.get(f"/api/v1/jobs/{j['id']}/log").text
    assert j["status"] == "succeeded", (j, log)
    assert "running the pre-backup hook" in log and "hook-output-line" in log
    assert "running the post-backup hook" in log
    assert (out / "pre").read_text().strip() == "pre backup pre"
    assert (out / "post").read_text().strip() == "post succeeded 0"
    env = (out / "env").read_text()
    assert PASSWORD not in env and "RESTIC_PASSWORD" not in env
    n_snaps = len(snapshots(admin, hid))

    # A failing pre hook skips the backup; the post hook still runs and sees the failure.
    assert admin.patch(f"/api/v1/hosts/{hid}/sources/app",
                       json={"hooks": {"pre": "echo failing-pre; exit 7", "post": post}}).status_code == 200
    wait_applied(admin, hid)
    j = run_job(admin, hid, {"kind": "backup", "group": "app"})
    log = admin.get(f"/api/v1/jobs/{j['id']}/log").text
    assert j["status"] == "failed", (j, log)
    assert "pre-backup hook failed (exit code 7)" in (j.get("error") or ""), j
    assert "failing-pre" in log and "running: restic backup" not in log
    assert (out / "post").read_text().strip() == "post failed -1"
    assert len(snapshots(admin, hid)) == n_snaps


def test_missed_run_retried_per_group_policy_and_never_twice(admin, make_agent, tmp_path):
    import json
    import time
    src = str(tmp_path / "src")
    make_tree(src, 3)
    agent = enrol(admin, make_agent, tmp_path, "missed-1", [src])
    hid = agent.host_id
    run_init(admin, hid)
    assert admin.patch(f"/api/v1/hosts/{hid}/sources/default", json={"retry": {"count": 2}}).status_code == 200
    assert admin.post(f"/api/v1/hosts/{hid}/sources",
                      json={"name": "noretry", "paths": [src], "retry": {"count": 0}}).status_code == 201
    r = admin.post(f"/api/v1/hosts/{hid}/schedules", json={"cron": "0 * * * *", "groups": ["default", "noretry"]})
    assert r.status_code == 201, r.text
    sid = str(r.json()["id"])
    wait_applied(admin, hid)
    state_path = os.path.join(agent.state_dir, "schedule_state.json")

    def seen():
        try:
            return sid in json.load(open(state_path))["last"]
        except (OSError, ValueError):
            return False
    wait_for(seen, timeout=TIMEOUT, what="the agent to note the schedule")
    # The agent was down for three hours: three runs missed.
    agent.stop()
    st = json.load(open(state_path))
    st["last"][sid] = int(time.time()) - 3 * 3600 - 60
    json.dump(st, open(state_path, "w"))
    agent.run()
    b = wait_for(lambda: [j for j in sched_jobs(admin, hid, "backup") if j["status"] in FINAL], timeout=TIMEOUT,
                 what="the catch-up backup")
    assert len(b) == 1 and b[0]["args"]["tags"] == ["default"] and b[0]["status"] == "succeeded", b
    assert re.search(r"group 'noretry' scheduled for \S+ was missed .* skipped", agent.log_text())
    # Restarting again does not run the same scheduled time twice.
    agent.stop()
    agent.run()
    t_end = time.monotonic() + 3
    while time.monotonic() < t_end:
        assert len(sched_jobs(admin, hid, "backup")) == 1
        time.sleep(0.2)
    assert agent.log_text().count("(backup of group 'default'") == 1


def test_host_time_zone_from_the_agent(admin, make_agent, tmp_path):
    agent = enrol(admin, make_agent, tmp_path, "tz-1", [str(tmp_path)], env={"TZ": "Europe/Berlin"})
    hid = agent.host_id
    wait_for(lambda: admin.get(f"/api/v1/hosts/{hid}/schedules").json()["timezone"] == "Europe/Berlin",
             timeout=TIMEOUT, what="the host's zone")
    r = admin.post(f"/api/v1/hosts/{hid}/schedules", json={"cron": "30 2 * * *", "groups": ["default"]})
    assert r.status_code == 201, r.text
    s = r.json()
    assert s["timezone"] == "Europe/Berlin"
    for t in s["next_runs"]:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT0[23]:[03]0:00\+0[12]:00", t), t


def test_failed_scheduled_backup_retried_per_policy(admin, make_agent, tmp_path):
    import json
    import time
    agent = enrol(admin, make_agent, tmp_path, "retry-1", [str(tmp_path / "does-not-exist")])
    hid = agent.host_id
    run_init(admin, hid)
    assert admin.patch(f"/api/v1/hosts/{hid}/sources/default",
                       json={"retry": {"count": 2, "backoff_seconds": 1}}).status_code == 200
    r = admin.post(f"/api/v1/hosts/{hid}/schedules", json={"cron": "0 * * * *", "groups": ["default"]})
    assert r.status_code == 201, r.text
    sid = str(r.json()["id"])
    wait_applied(admin, hid)
    state_path = os.path.join(agent.state_dir, "schedule_state.json")

    def seen():
        try:
            return sid in json.load(open(state_path))["last"]
        except (OSError, ValueError):
            return False
    wait_for(seen, timeout=TIMEOUT, what="the agent to note the schedule")
    agent.stop()
    st = json.load(open(state_path))
    st["last"][sid] = int(time.time()) - 2 * 3600
    json.dump(st, open(state_path, "w"))
    agent.run()
    # The caught-up run fails (no such path) and is retried twice, then given up.
    fails = wait_for(lambda: (lambda b: b if len(b) >= 3 and all(j["status"] in FINAL for j in b) else None)(
        sched_jobs(admin, hid, "backup")), timeout=TIMEOUT, what="three attempts")
    assert all(j["status"] == "failed" for j in fails), fails
    assert "no retries left" in agent.log_text()
    t_end = time.monotonic() + 3
    while time.monotonic() < t_end:
        assert len(sched_jobs(admin, hid, "backup")) == 3
        time.sleep(0.2)


def test_stale_lock_holder_reported_and_unlocked(admin, make_agent, tmp_path):
    import socket
    import subprocess
    import time
    src = str(tmp_path / "src")
    make_tree(src, 2)
    name = socket.gethostname()  # restic records the machine's host name in its locks
    agent = enrol(admin, make_agent, tmp_path, name, [src])
    hid = agent.host_id
    run_init(admin, hid)
    # A restic killed mid-backup leaves a stale lock behind.
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(6 * 1024 * 1024))
    env = dict(os.environ, RESTIC_REPOSITORY=str(tmp_path / f"repo-{name}"), RESTIC_PASSWORD=PASSWORD,
               RESTIC_CACHE_DIR=str(tmp_path / "cache"))
    p = subprocess.Popen([RESTIC, "backup", "--limit-upload", "300", str(big)], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lockdir = tmp_path / f"repo-{name}" / "locks"
    wait_for(lambda: any("-tmp-" not in f.name for f in lockdir.iterdir()), timeout=60, what="restic's lock")
    p.kill()
    p.wait()
    r = admin.post(f"/api/v1/hosts/{hid}/jobs", json={"kind": "prune"})
    assert r.status_code == 201, r.text
    jid = r.json()["id"]
    j = wait_for(lambda: (lambda j: j if j["status"] in FINAL else None)(admin.get(f"/api/v1/jobs/{jid}").json()),
                 timeout=TIMEOUT, what="prune")
    assert j["status"] == "failed", (j, admin.get(f"/api/v1/jobs/{jid}/log").text, list(lockdir.iterdir()))
    m = wait_for(lambda: (lambda m: m if m["locks"] else None)(admin.get(f"/api/v1/hosts/{hid}/maintenance").json()),
                 timeout=TIMEOUT, what="lock holder in the repository health")
    lock = m["locks"][0]
    assert lock["pid"] == p.pid and lock["host"] == name and lock["held_by_this_host"] is True
    assert lock["job_running"] is False and lock["time"] and lock["age"]
    r = admin.post(f"/api/v1/hosts/{hid}/jobs", json={"kind": "unlock"})
    assert r.status_code == 201, r.text
    jid = r.json()["id"]
    j = wait_for(lambda: (lambda j: j if j["status"] in FINAL else None)(admin.get(f"/api/v1/jobs/{jid}").json()),
                 timeout=TIMEOUT, what="unlock")
    assert j["status"] == "succeeded", j
    wait_for(lambda: admin.get(f"/api/v1/hosts/{hid}/maintenance").json()["locks"] == [], timeout=TIMEOUT,
             what="locks cleared")
