"""Issue 5 points that had no test of their own, with the real server, the
real agent and the real restic:

* locks: the API says whether the holder is this host's agent (the agent
  compares restic's holder with its own machine name, so a host the
  operator named differently is still recognised), whether a job of it is
  running and whether the lock is stale — in the maintenance view and in
  the host's repo_stats; junk an agent adds to a lock is not echoed;
* a scheduled run missed because the agent was really stopped across the
  scheduled time is caught up once per the group's retry policy (a group
  without retries skips it), and never started twice for the same time;
* an in-place restore with the typed confirmation puts the bytes back;
* restore arguments that must be refused (another repository, unknown
  host, relative or `..` paths) store nothing."""
import calendar
import hashlib
import os
import pathlib
import re
import shutil
import socket
import subprocess
import time

import pytest
import requests

from conftest import wait_for, error_code, enrol_agent, run_job, SANITIZED

RESTIC = shutil.which("restic")
PASSWORD = "repo-pass-Gaps5-Lk3m"
FINAL = ("succeeded", "warning", "failed", "cancelled")
TIMEOUT = 240 if SANITIZED else 120
needs_restic = pytest.mark.skipif(RESTIC is None, reason="restic is not installed")


def enrol(admin, make_agent, name, repo, paths, env=None):
    return enrol_agent(admin, make_agent, name, repo, PASSWORD, paths, env=env)


class Fake:
    """A protocol-v1 agent without restic (for what the server makes of reports)."""

    def __init__(self, server, admin, name, repo=None):
        self.server = server
        self.seq = 0
        tok = admin.post("/api/v1/enrollment-tokens",
                         json={"hostname": name, "repository": {"url": repo or "/tmp/repo-" + name,
                                                                "password": PASSWORD},
                               "paths": ["/srv"]}).json()["token"]
        r = requests.post(server.url + "/api/agent/v1/enroll", headers={"X-RM-Protocol": "1"},
                          json={"token": tok, "protocol_version": 1, "hostname": name, "os": "linux",
                                "arch": "amd64", "agent_version": "t", "restic_version": "0.14.0"}, timeout=30)
        assert r.status_code == 201, r.text
        self.token = r.json()["agent_token"]
        self.host_id = r.json()["host_id"]
        self.hello()

    def h(self):
        return {"X-RM-Protocol": "1", "Authorization": "Bearer " + self.token}

    def hello(self):
        r = requests.post(self.server.url + "/api/agent/v1/hello", headers=self.h(), timeout=30,
                          json={"protocol_version": 1, "agent_version": "t", "os": "linux", "arch": "amd64",
                                "hostname": "h", "restic_version": "0.14.0", "schedule_version": 0,
                                "running_job_id": None, "last_command_seq": 0})
        assert r.status_code == 200, r.text

    def send(self, *events):
        for e in events:
            self.seq += 1
            e["seq"] = self.seq
            e.setdefault("time", "2026-11-25T21:00:00Z")
        r = requests.post(self.server.url + "/api/agent/v1/events", headers=self.h(), timeout=30,
                          json={"events": list(events)})
        assert r.status_code == 200, r.text


# ---- locks ----

def lock_views(admin, hid):
    m = admin.get(f"/api/v1/hosts/{hid}/maintenance").json()["locks"]
    d = admin.get(f"/api/v1/hosts/{hid}").json()["repo_stats"]["locks"]
    assert m == d, (m, d)  # one view in both places
    return {(l["host"], l["pid"]): l for l in m}


def leave_stale_lock(tmp_path, repo):
    """A real restic backup into repo (of tmp_path/big.bin, 6 MiB at 300 KiB/s)
    killed once it holds its lock: the lock file stays.  Returns its pid."""
    big = tmp_path / "big.bin"
    if not big.exists():
        big.write_bytes(os.urandom(6 * 1024 * 1024))
    env = dict(os.environ, RESTIC_REPOSITORY=repo, RESTIC_PASSWORD=PASSWORD, RESTIC_CACHE_DIR=str(tmp_path / "c"))
    p = subprocess.Popen([RESTIC, "backup", "--limit-upload", "300", str(big)], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lockdir = pathlib.Path(repo) / "locks"
    wait_for(lambda: any("-tmp-" not in f.name for f in lockdir.iterdir()), timeout=60, what="restic's lock")
    p.kill()
    p.wait()
    return p.pid


def test_lock_holder_view(server, admin):
    a = Fake(server, admin, "web-named")
    a.send({"type": "repo.stats", "total_size": 10,
            "locks": [
                # the agent recognised its machine (restic's name for it is not the host's name here)
                {"pid": 4242, "host": "os-box", "user": "root", "time": "2026-11-25T19:00:00", "age": "5m3s",
                 "exclusive": True, "this_host": True, "pid_alive": False, "evil": "<script>x</script>"},
                # an older agent did not say: the host's own name decides
                {"pid": 7, "host": "web-named", "user": "bob", "exclusive": False},
                # the agent says it is another machine, even if the names look alike
                {"pid": 8, "host": "WEB-NAMED", "user": "x", "exclusive": False, "this_host": False},
                # a live lock of this machine
                {"pid": 9, "host": "os-box", "user": "root", "exclusive": False, "this_host": True,
                 "pid_alive": True}]})
    v = lock_views(admin, a.host_id)
    mine = v[("os-box", 4242)]
    assert mine["held_by_this_host"] is True and mine["stale"] is True and mine["job_running"] is False
    assert mine["exclusive"] is True and mine["user"] == "root" and mine["age"] == "5m3s"
    assert "evil" not in mine and "this_host" not in mine
    assert isinstance(mine["agent_online"], bool)
    old = v[("web-named", 7)]
    assert old["held_by_this_host"] is True and old["stale"] is None
    other = v[("WEB-NAMED", 8)]
    assert other["held_by_this_host"] is False and other["job_running"] is False and other["stale"] is None
    assert other["agent_online"] is False
    assert v[("os-box", 9)]["stale"] is False

    # A job of this host runs: its locks may be live.
    r = admin.post(f"/api/v1/hosts/{a.host_id}/jobs", json={"kind": "check"})
    assert r.status_code == 201
    jid = r.json()["id"]
    a.send({"type": "job.started", "job_id": jid, "kind": "check", "actor": "user"})
    v = lock_views(admin, a.host_id)
    assert v[("os-box", 4242)]["job_running"] is True and v[("web-named", 7)]["job_running"] is True
    assert v[("WEB-NAMED", 8)]["job_running"] is False
    a.send({"type": "job.finished", "job_id": jid, "status": "succeeded", "exit_code": 0, "summary": None})
    v = lock_views(admin, a.host_id)
    assert v[("os-box", 4242)]["job_running"] is False


@needs_restic
def test_stale_lock_of_a_host_named_unlike_its_machine(admin, make_agent, tmp_path):
    name = "not-" + socket.gethostname()[:40]  # restic records the machine's name, not this one
    src = str(tmp_path / "src")
    os.makedirs(src)
    open(os.path.join(src, "f.txt"), "w").write("x\n")
    repo = str(tmp_path / "repo")
    agent = enrol(admin, make_agent, name, repo, [src])
    hid = agent.host_id
    run_job(admin, hid, {"kind": "init"})
    pid = leave_stale_lock(tmp_path, repo)
    j = run_job(admin, hid, {"kind": "prune"}, expect="failed")
    assert "locked" in (j["error"] or "") + admin.get(f"/api/v1/jobs/{j['id']}/log").text
    v = wait_for(lambda: lock_views(admin, hid) or None, timeout=TIMEOUT, what="the lock holder")
    (lock,) = v.values()
    assert lock["host"] == socket.gethostname() and lock["pid"] == pid
    assert lock["held_by_this_host"] is True, lock
    assert lock["stale"] is True and lock["job_running"] is False, lock
    assert lock["agent_online"] is True
    run_job(admin, hid, {"kind": "unlock"})
    wait_for(lambda: lock_views(admin, hid) == {}, timeout=TIMEOUT, what="no locks after unlock")


# ---- a run missed while the agent was really stopped ----

ANCHOR = 1700000000     # src/agent/schedule.c SCHEDULE_VCLOCK_ANCHOR
MINUTE_S = 1            # RM_TEST_SCHEDULE_MINUTE_SECONDS: one cron minute per real second
PERIOD = 10             # "*/10 * * * *": every 10 real seconds
GRACE_REAL = 120 / 60 * MINUTE_S  # SCHEDULE_GRACE_S in real seconds
QUEUED = re.compile(r"schedule: job ([0-9a-f]{32}) \((backup|forget) of group '([^']+)', scheduled for (\S+)\) queued")


def virt_to_real(iso):
    v = calendar.timegm(time.strptime(iso, "%Y-%m-%dT%H:%M:%SZ"))
    return ANCHOR + (v - ANCHOR) * MINUTE_S / 60


def real_to_virt_iso(r):
    v = ANCHOR + round((r - ANCHOR) * 60 / MINUTE_S)
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(v))


def queued(agent):
    return [m.groups() for m in QUEUED.finditer(agent.log_text())]


@needs_restic
def test_missed_run_while_agent_stopped_is_caught_up_once(admin, make_agent, tmp_path):
    src = str(tmp_path / "src")
    os.makedirs(src)
    open(os.path.join(src, "f.txt"), "w").write("data\n")
    agent = enrol(admin, make_agent, "down-1", str(tmp_path / "repo"), [src],
                  env={"RM_TEST_SCHEDULE_MINUTE_SECONDS": str(MINUTE_S)})
    hid = agent.host_id
    run_job(admin, hid, {"kind": "init"})
    assert admin.patch(f"/api/v1/hosts/{hid}/sources/default", json={"retry": {"count": 1}}).status_code == 200
    assert admin.post(f"/api/v1/hosts/{hid}/sources",
                      json={"name": "noretry", "paths": [src], "retry": {"count": 0}}).status_code == 201
    r = admin.post(f"/api/v1/hosts/{hid}/schedules",
                   json={"cron": f"*/{PERIOD} * * * *", "groups": ["default", "noretry"]})
    assert r.status_code == 201, r.text
    # The schedule fires while the agent runs ...
    wait_for(lambda: any(g == "default" for _, k, g, _ in queued(agent)), timeout=TIMEOUT,
             what="a first scheduled backup")
    # ... then the agent is stopped once its jobs are through.
    def idle():
        out = agent.cli("status").stdout
        return "queued jobs: 0\n" in out and "running job: none\n" in out
    wait_for(idle, timeout=TIMEOUT, what="the agent idle")
    agent.stop()
    before = queued(agent)
    last = max(virt_to_real(t) for _, _, _, t in before)
    # The next slot passes while the agent is down; restart beyond the grace
    # time but before the slot after it (only the latest missed run counts).
    slot = last + PERIOD
    while True:
        while slot + GRACE_REAL + 1 < time.time():
            slot += PERIOD
        wait_for(lambda: time.time() >= slot + GRACE_REAL + 1, timeout=3 * PERIOD, interval=0.05,
                 what="the scheduled time to pass while the agent is down")
        if time.time() < slot + PERIOD - 3:  # room before the next slot (a slow machine: take the next)
            break
        slot += PERIOD
    missed = real_to_virt_iso(slot)
    agent.run()
    catch = wait_for(lambda: [q for q in queued(agent)[len(before):] if q[3] == missed], timeout=TIMEOUT,
                     what="the catch-up run")
    assert [(k, g) for _, k, g, _ in catch] == [("backup", "default")], catch
    assert re.search(rf"group 'noretry' scheduled for {re.escape(missed)} was missed", agent.log_text())
    # Slots between the last run and the missed one were not run either.
    between = [q for q in queued(agent) if last < virt_to_real(q[3]) < slot]
    assert between == [], between
    jid = catch[0][0]
    j = wait_for(lambda: (lambda r: r.json() if r.status_code == 200 and r.json()["status"] in FINAL else None)(
        admin.get(f"/api/v1/jobs/{jid}")), timeout=TIMEOUT, what="the catch-up job on the server")
    assert j["actor"] == "schedule" and j["kind"] == "backup" and j["status"] == "succeeded", j
    assert j["args"]["tags"] == ["default"]
    # Restarting again does not run that time a second time.
    agent.stop()
    agent.run()
    wait_for(idle, timeout=TIMEOUT, what="the agent idle again")
    agent.stop()
    runs = [(g, t) for _, k, g, t in queued(agent) if k == "backup"]
    assert len(runs) == len(set(runs)), runs
    assert runs.count(("default", missed)) == 1 and ("noretry", missed) not in runs
    # every queued job reached the server once, as a schedule job
    ids = [i for i, _, _, _ in queued(agent)]
    server_ids = wait_for(lambda: (lambda s: s if set(ids) <= s else None)(
        {j["id"] for j in admin.get("/api/v1/jobs", params={"host": hid, "limit": 500}).json()["items"]
         if j["actor"] == "schedule"}), timeout=TIMEOUT, what="all scheduled jobs on the server")
    assert len(ids) == len(set(ids)) and set(ids) <= server_ids


# ---- restore ----

def sha(p):
    with open(p, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@needs_restic
def test_in_place_restore_with_confirmation(admin, make_agent, tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "keep.txt").write_bytes(b"original\n")
    (src / "sub" / "data.bin").write_bytes(os.urandom(100000))
    orig = {p: sha(src / p) for p in ("keep.txt", "sub/data.bin")}
    agent = enrol(admin, make_agent, "inplace-1", str(tmp_path / "repo"), [str(src)])
    hid = agent.host_id
    run_job(admin, hid, {"kind": "init"})
    run_job(admin, hid, {"kind": "backup", "group": "default"})
    snap = wait_for(lambda: admin.get(f"/api/v1/hosts/{hid}/snapshots").json()["items"], what="snapshot")[0]
    # damage
    (src / "keep.txt").write_bytes(b"overwritten by mistake\n")
    os.unlink(src / "sub" / "data.bin")
    body = {"kind": "restore", "snapshot": snap["id"], "paths": [str(src)], "in_place": True}
    r = admin.post(f"/api/v1/hosts/{hid}/jobs", json=body)
    assert r.status_code == 400 and error_code(r) == "confirmation_required"
    assert (src / "keep.txt").read_bytes() == b"overwritten by mistake\n"
    j = run_job(admin, hid, dict(body, confirm="inplace-1"))
    assert j["args"]["in_place"] is True
    assert {p: sha(src / p) for p in orig} == orig
    assert not os.path.exists(os.path.join(agent.state_dir, "restore", j["id"]))


def test_restore_arguments_refused(server, admin):
    a = Fake(server, admin, "ra-1", repo="/tmp/repo-shared-ra")
    b = Fake(server, admin, "ra-2", repo="/tmp/repo-other-ra")
    hid = a.host_id
    snap = "abcdef12"
    cases = [
        ({"kind": "restore", "snapshot": snap, "host_id": b.host_id}, 400, "different_repository"),
        ({"kind": "restore", "snapshot": snap, "host_id": 424242}, 404, None),
        ({"kind": "restore", "snapshot": snap, "host_id": "2"}, 400, "invalid_field"),
        ({"kind": "restore", "snapshot": snap, "paths": ["relative/x"]}, 400, "invalid_field"),
        ({"kind": "restore", "snapshot": snap, "paths": ["/srv/../etc"]}, 400, "invalid_field"),
        ({"kind": "restore", "snapshot": snap, "paths": "/srv"}, 400, "invalid_field"),
        ({"kind": "restore", "snapshot": snap, "paths": ["/srv\n/etc"]}, 400, "invalid_field"),
        ({"kind": "restore", "snapshot": snap, "target": "/t", "in_place": True, "confirm": "ra-1"}, 400, None),
        ({"kind": "restore", "snapshot": snap, "in_place": "yes", "confirm": "ra-1"}, 400, "invalid_field"),
        ({"kind": "restore", "snapshot": "../../x"}, 400, "invalid_field"),
        ({"kind": "diff", "snapshots": ["abcdef12", "not-hex!"]}, 400, "invalid_field"),
    ]
    for body, status, code in cases:
        r = admin.post(f"/api/v1/hosts/{hid}/jobs", json=body)
        assert r.status_code == status, (body, r.status_code, r.text)
        c = error_code(r)
        if code:
            assert c == code, (body, c)
    for h in (a, b):
        assert admin.get("/api/v1/jobs", params={"host": h.host_id}).json()["items"] == []
    assert server.get("/healthz").status_code == 200


# ---- the schedule on disk fires after an agent restart without the server ----

@needs_restic
def test_cached_schedule_fires_after_restart_while_server_is_down(admin, make_agent, tmp_path, server):
    src = str(tmp_path / "src")
    os.makedirs(src)
    open(os.path.join(src, "f.txt"), "w").write("cached\n")
    agent = enrol(admin, make_agent, "cached-1", str(tmp_path / "repo"), [src],
                  env={"RM_TEST_SCHEDULE_MINUTE_SECONDS": str(MINUTE_S)})
    hid = agent.host_id
    run_job(admin, hid, {"kind": "init"})
    r = admin.post(f"/api/v1/hosts/{hid}/schedules", json={"cron": "*/3 * * * *", "groups": ["default"]})
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    wait_for(lambda: not admin.get(f"/api/v1/hosts/{hid}/schedules").json()["drift"], timeout=TIMEOUT,
             what="schedule applied")
    server.stop()
    agent.stop()
    n_before = len(queued(agent))
    c0 = agent.connections()
    agent.run(wait=False)  # no server: only what the agent keeps on disk

    def fired_offline():
        text = agent.log_text()
        new = queued(agent)[n_before:]
        return [q for q in new if q[1] == "backup" and f"job {q[0]} finished" in text]
    done = wait_for(fired_offline, timeout=TIMEOUT, interval=0.2, what="a scheduled backup without the server")
    assert agent.connections() == c0  # it never reached the server since the restart
    before = agent.connections()
    server.args = ["--listen", server.addr]
    server.start()
    agent.wait_connected(before, timeout=TIMEOUT)
    assert admin.login("admin", "correct horse battery staple").status_code == 200
    assert admin.patch(f"/api/v1/hosts/{hid}/schedules/{sid}", json={"enabled": False}).status_code == 200
    for jid, _, group, _ in done:
        j = wait_for(lambda: (lambda r: r.json() if r.status_code == 200 and r.json()["status"] in FINAL else None)(
            admin.get(f"/api/v1/jobs/{jid}")), timeout=TIMEOUT, what="the offline job delivered")
        assert j["actor"] == "schedule" and j["status"] == "succeeded" and group == "default", j
        assert "running: restic backup" in admin.get(f"/api/v1/jobs/{jid}/log").text


# ---- the privileged credential reaches restic for prune only, never the agent's disk ----

def sha_text(s):
    return hashlib.sha256(s.encode()).hexdigest()


@needs_restic
def test_privileged_credential_used_for_prune_only_and_not_persisted(admin, make_agent, tmp_path):
    priv = "Privileged-Key-Gaps5-Zt6w"
    seen = tmp_path / "passwords.log"
    w = tmp_path / "restic-which-key"
    # records which password each restic step got (as a hash), then runs the real restic
    w.write_text("#!/bin/sh\n"
                 f"printf '%s %s\\n' \"$1\" \"$(printf %s \"$RESTIC_PASSWORD\" | sha256sum | cut -d' ' -f1)\""
                 f" >> '{seen}'\n"
                 f'exec "{RESTIC}" "$@"\n')
    w.chmod(0o755)
    src = str(tmp_path / "src")
    os.makedirs(src)
    open(os.path.join(src, "f.txt"), "w").write("x\n")
    repo = str(tmp_path / "repo")
    r = admin.post("/api/v1/enrollment-tokens",
                   json={"hostname": "priv-1", "repository": {"url": repo, "password": PASSWORD}, "paths": [src]})
    agent = make_agent("priv-1", restic=str(w))
    agent.enroll(r.json()["token"])
    agent.run()
    hid = agent.host_id
    run_job(admin, hid, {"kind": "init"})
    # a second key: the privileged one
    pf = tmp_path / "newpass"
    pf.write_text(priv)
    env = dict(os.environ, RESTIC_REPOSITORY=repo, RESTIC_PASSWORD=PASSWORD, RESTIC_CACHE_DIR=str(tmp_path / "c"))
    subprocess.run([RESTIC, "key", "add", "--new-password-file", str(pf)], env=env, check=True,
                   capture_output=True)
    pf.unlink()
    assert admin.put(f"/api/v1/hosts/{hid}/maintenance",
                     json={"privileged_password": priv}).status_code == 200
    run_job(admin, hid, {"kind": "backup", "group": "default"})
    p = run_job(admin, hid, {"kind": "prune"})
    run_job(admin, hid, {"kind": "check"})
    used = [l.split() for l in seen.read_text().splitlines()]
    by_cmd = {}
    for cmd, h in used:
        by_cmd.setdefault(cmd, set()).add(h)
    assert by_cmd["prune"] == {sha_text(priv)}, by_cmd
    for cmd in ("init", "backup", "snapshots", "check"):
        assert by_cmd[cmd] == {sha_text(PASSWORD)}, (cmd, by_cmd)
    # never on the agent's disk, in its log or in the job's log
    for d in (agent.state_dir, agent.config_dir):
        for root, _, files in os.walk(d):
            for f in files:
                fp = os.path.join(root, f)
                assert priv.encode() not in open(fp, "rb").read(), fp
    assert priv not in agent.log_text()
    assert priv not in admin.get(f"/api/v1/jobs/{p['id']}/log").text
    assert priv not in str(admin.get(f"/api/v1/jobs/{p['id']}").json())


@needs_restic
def test_stats_lists_stale_locks_and_check_clears_them(admin, make_agent, tmp_path):
    """A killed backup leaves a shared lock that stats (which does not need an
    exclusive lock) does not trip over: the agent lists the lock files after
    stats, so the stale lock and its holder show up anyway; unlock removes
    it, and a check that succeeds (it needs an exclusive lock) says none is
    left."""
    src = str(tmp_path / "src")
    os.makedirs(src)
    open(os.path.join(src, "f.txt"), "w").write("x\n")
    repo = str(tmp_path / "repo")
    agent = enrol(admin, make_agent, "lockstats-1", repo, [src])
    hid = agent.host_id
    run_job(admin, hid, {"kind": "init"})
    run_job(admin, hid, {"kind": "backup", "group": "default"})
    run_job(admin, hid, {"kind": "stats"})
    assert lock_views(admin, hid) == {}
    pid = leave_stale_lock(tmp_path, repo)
    run_job(admin, hid, {"kind": "stats"})  # a shared lock does not stop stats
    v = wait_for(lambda: lock_views(admin, hid) or None, timeout=TIMEOUT, what="the lock from the listing")
    (lock,) = v.values()
    assert lock["pid"] == pid and lock["host"] == socket.gethostname() and lock["exclusive"] is False, lock
    assert lock["held_by_this_host"] is True and lock["stale"] is True and lock["job_running"] is False, lock
    assert lock["time"].startswith("20"), lock
    run_job(admin, hid, {"kind": "unlock"})
    assert lock_views(admin, hid) == {}
    # a lock appears again, then a successful check proves there is none
    leave_stale_lock(tmp_path, repo)
    run_job(admin, hid, {"kind": "stats"})
    wait_for(lambda: len(lock_views(admin, hid)) == 1, timeout=TIMEOUT, what="the second stale lock")
    for f in (tmp_path / "repo" / "locks").iterdir():
        f.unlink()  # removed behind restic-manager's back
    run_job(admin, hid, {"kind": "check"})
    assert lock_views(admin, hid) == {}
