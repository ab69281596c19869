"""End to end: the real server, the real agent binary and the real restic.

Each test enrols an agent in temp config/state dirs against a fresh server,
drives jobs through the operator API and checks what lands on disk and in the
API.  Jobs that must still be running when the test acts (live stream, kills,
cancel) run restic with --limit-upload through a tiny wrapper (it only adds
that global flag and execs the real restic), so their minimum duration
follows from the data size, not from the machine's speed: no sleeps."""
import hashlib
import json
import os
import random
import select
import shutil
import socket
import sqlite3
import ssl
import stat
import subprocess
import threading

import pytest
import requests

from conftest import wait_for, sse_events, SANITIZED

RESTIC = shutil.which("restic")
pytestmark = pytest.mark.skipif(RESTIC is None, reason="restic is not installed")

PASSWORD = "repo-pass-Zq8vN3kLw2"
FINAL = ("succeeded", "warning", "failed", "cancelled")
TIMEOUT = 180 if SANITIZED else 90


def gen_tree(root, nfiles, seed, big=0):
    """nfiles small pseudo-random files in nested dirs, plus one incompressible
    file of `big` bytes.  Returns {relative path: sha256}."""
    rnd = random.Random(seed)
    sums = {}
    for i in range(nfiles):
        rel = os.path.join(f"d{i % 7}", f"sub{i % 3}", f"f{i}.bin")
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        data = rnd.randbytes(rnd.randint(0, 20000))
        with open(p, "wb") as f:
            f.write(data)
        sums[rel] = hashlib.sha256(data).hexdigest()
    if big:
        data = os.urandom(big)
        with open(os.path.join(root, "big.bin"), "wb") as f:
            f.write(data)
        sums["big.bin"] = hashlib.sha256(data).hexdigest()
    return sums


def tree_sums(root):
    out = {}
    for d, _, files in os.walk(root):
        for n in files:
            p = os.path.join(d, n)
            with open(p, "rb") as f:
                out[os.path.relpath(p, root)] = hashlib.sha256(f.read()).hexdigest()
    return out


def slow_restic(tmp_path, kib_per_s=1024):
    """The real restic with an upload limit (a 4 MB backup then takes >= 4 s)."""
    p = tmp_path / "restic-limited"
    p.write_text(f'#!/bin/sh\nexec "{RESTIC}" --limit-upload={kib_per_s} "$@"\n')
    p.chmod(p.stat().st_mode | stat.S_IXUSR)
    return str(p)


def enrol(admin, make_agent, tmp_path, name="agent", paths=None, restic=None, env=None):
    repo = str(tmp_path / f"repo-{name}")
    r = admin.post("/api/v1/enrollment-tokens",
                   json={"hostname": name, "repository": {"url": repo, "password": PASSWORD},
                         "paths": paths or []})
    assert r.status_code == 201, r.text
    agent = make_agent(name, restic=restic, env=env)
    out = agent.enroll(r.json()["token"])
    assert "enrolled as host" in out.stdout
    agent.run()
    return agent


def create_job(admin, host_id, body):
    r = admin.post(f"/api/v1/hosts/{host_id}/jobs", json=body)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def get_job(admin, job_id):
    r = admin.get(f"/api/v1/jobs/{job_id}")
    assert r.status_code == 200, r.text
    return r.json()


def wait_job(admin, job_id, timeout=TIMEOUT):
    return wait_for(lambda: (lambda j: j if j["status"] in FINAL else None)(get_job(admin, job_id)),
                    timeout=timeout, interval=0.1, what=f"job {job_id} to finish")


def run_job(admin, host_id, body, expect="succeeded"):
    jid = create_job(admin, host_id, body)
    j = wait_job(admin, jid)
    assert j["status"] == expect, (j, job_log(admin, jid))
    return j


def job_log(admin, job_id):
    r = admin.get(f"/api/v1/jobs/{job_id}/log")
    assert r.status_code == 200, r.text
    return r.text


def job_log_lines(admin, job_id):
    r = admin.get(f"/api/v1/jobs/{job_id}/log", params={"format": "ndjson"})
    assert r.status_code == 200, r.text
    return [json.loads(l) for l in r.text.splitlines() if l.strip()]


def snapshots(admin, host_id):
    r = admin.get(f"/api/v1/hosts/{host_id}/snapshots")
    assert r.status_code == 200, r.text
    return r.json()["items"]


def wait_running(admin, job_id):
    def running():
        j = get_job(admin, job_id)
        assert j["status"] not in FINAL, ("job ended before the test could act", j)
        return j["status"] == "running" and j.get("progress")
    wait_for(running, timeout=TIMEOUT, interval=0.05, what="job running with progress")


def assert_no_secrets(agent, admin, job_ids):
    token = open(os.path.join(agent.config_dir, "agent.token")).read().strip()
    texts = [agent.log_text()] + [job_log(admin, j) for j in job_ids]
    for t in texts:
        assert PASSWORD not in t
        assert token not in t


def test_enrol_init_backup_restore_roundtrip(admin, make_agent, tmp_path):
    src = tmp_path / "src"
    sums = gen_tree(str(src), 120, seed=1)
    agent = enrol(admin, make_agent, tmp_path, paths=[str(src)])
    hid = agent.host_id

    # the hello registered the host with its facts
    h = wait_for(lambda: (lambda b: b if b.get("status") == "online" else None)(
        admin.get(f"/api/v1/hosts/{hid}").json()), what="host online")
    assert h["name"] == "agent"

    init = run_job(admin, hid, {"kind": "init"})
    assert "created restic repository" in job_log(admin, init["id"])
    assert os.path.isfile(tmp_path / "repo-agent" / "config")

    b = run_job(admin, hid, {"kind": "backup", "paths": [str(src)]})
    assert b["exit_code"] == 0
    summary = b["summary"]
    assert summary["files_new"] == len(sums)
    assert summary["total_files_processed"] == len(sums)
    snaps = wait_for(lambda: snapshots(admin, hid), what="snapshot list")
    assert len(snaps) == 1
    assert snaps[0]["short_id"] == summary["snapshot_id"]
    assert snaps[0]["paths"] == [str(src)]
    assert len(snaps[0]["id"]) == 64

    # a backup of the configured group paths (the enrolment's "paths")
    b2 = run_job(admin, hid, {"kind": "backup", "group": "default"})
    assert b2["summary"]["files_unmodified"] == len(sums)
    wait_for(lambda: len(snaps := snapshots(admin, hid)) == 2 and snaps, what="second snapshot")

    # browse the snapshot: one directory level, listed by the agent
    def tree(path):
        r = admin.get(f"/api/v1/hosts/{hid}/snapshots/{snaps[0]['id']}/tree", params={"path": path},
                      timeout=90)
        assert r.status_code == 200, r.text
        return sorted((e["name"], e["type"]) for e in r.json()["entries"])
    assert tree(str(src)) == [(f"d{i}", "dir") for i in range(7)]
    sub = tree(str(src / "d0" / "sub0"))
    assert sub and all(t == "file" for _, t in sub)
    assert {n for n, _ in sub} == {os.path.basename(p) for p in sums if p.startswith("d0/sub0/")}

    dst = tmp_path / "restored"
    r = run_job(admin, hid, {"kind": "restore", "snapshot": snaps[0]["id"], "paths": [str(src)],
                             "target": str(dst)})
    assert r["exit_code"] == 0
    # restic restores under <target>/<original absolute path>
    assert tree_sums(str(dst) + str(src)) == sums

    # stats and check feed the repository health
    st = run_job(admin, hid, {"kind": "stats"})
    assert st["summary"]["restore_size"]["snapshots_count"] == 2
    assert st["summary"]["raw_data"]["total_size"] > 0
    ck = run_job(admin, hid, {"kind": "check"})
    assert "no errors were found" in job_log(admin, ck["id"])

    assert_no_secrets(agent, admin, [init["id"], b["id"], r["id"]])
    # secrets on disk are private to the agent's user
    for f in ("agent.token", "agent.json", "repository.json"):
        assert stat.S_IMODE(os.stat(os.path.join(agent.config_dir, f)).st_mode) == 0o600, f
    # everything acknowledged: the spool drains
    wait_for(lambda: "queued events: 0" in agent.cli("status").stdout, what="spool drained")
    out = agent.cli("status").stdout
    assert f"host id: {hid}" in out and "last contact: 20" in out and "running job: none" in out


def test_restic_failure_and_warning_statuses(admin, make_agent, tmp_path):
    src = tmp_path / "src"
    gen_tree(str(src), 5, seed=2)
    agent = enrol(admin, make_agent, tmp_path, paths=[str(src)])
    hid = agent.host_id
    # no repository yet: restic fails, the reason is restic's own Fatal line
    f = run_job(admin, hid, {"kind": "backup", "paths": [str(src)]}, expect="failed")
    assert f["exit_code"] == 1
    assert "Fatal" in (f["error"] or ""), f
    run_job(admin, hid, {"kind": "init"})
    # an unreadable file: restic writes the snapshot and exits 3 → warning
    # (as root, /proc/1/mem cannot be opened either)
    if os.geteuid() != 0:
        locked = src / "locked.bin"
        locked.write_bytes(b"x" * 10)
        locked.chmod(0)
        unreadable = [str(src)]
    else:
        unreadable = [str(src), "/proc/1/mem"]
    w = run_job(admin, hid, {"kind": "backup", "paths": unreadable}, expect="warning")
    assert w["exit_code"] == 3
    assert w["summary"]["snapshot_id"]
    assert "Permission denied" in job_log(admin, w["id"])
    # a missing path is restic's text warning, the job still succeeds; restic
    # echoes the path, which here contains the repository password: the agent
    # scrubs it from the log
    missing = str(tmp_path / ("missing-" + PASSWORD))
    ok = run_job(admin, hid, {"kind": "backup", "paths": [str(src), missing]})
    assert ok["exit_code"] == 0
    log = job_log(admin, ok["id"])
    assert "missing-***" in log, log
    assert_no_secrets(agent, admin, [f["id"], ok["id"]])


def test_job_stream_is_live(admin, make_agent, tmp_path):
    src = tmp_path / "src"
    gen_tree(str(src), 300, seed=3, big=5 * 1024 * 1024)
    agent = enrol(admin, make_agent, tmp_path, paths=[str(src)], restic=slow_restic(tmp_path),
                  env={"RESTIC_PROGRESS_FPS": "10"})
    hid = agent.host_id
    run_job(admin, hid, {"kind": "init"})
    jid = create_job(admin, hid, {"kind": "backup", "paths": [str(src)]})

    seen = []
    live = {"progress": False, "log": False}
    with admin.s.get(admin.server.url + f"/api/v1/jobs/{jid}/stream", stream=True, timeout=(10, 60)) as resp:
        assert resp.status_code == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        for event, data in sse_events(resp):
            seen.append(event)
            if event in live and not live[event]:
                # the job has not finished when this event arrives
                live[event] = get_job(admin, jid)["status"] == "running"
                if event == "progress":
                    p = json.loads(data)
                    assert 0 <= p["percent"] <= 100
                    assert p["total_files"] >= 0
            if event == "end":
                break
    assert live == {"progress": True, "log": True}, seen
    assert seen.index("progress") < seen.index("end")
    j = get_job(admin, jid)
    assert j["status"] == "succeeded", j
    # progress is throttled to at most one event per second of the job
    from datetime import datetime
    secs = (datetime.fromisoformat(j["finished_at"].replace("Z", "+00:00")) -
            datetime.fromisoformat(j["started_at"].replace("Z", "+00:00"))).total_seconds()
    assert 1 <= seen.count("progress") <= secs + 2, (seen.count("progress"), secs)


def test_server_killed_during_backup(admin, make_agent, tmp_path, server):
    src = tmp_path / "src"
    sums = gen_tree(str(src), 200, seed=4, big=6 * 1024 * 1024)
    agent = enrol(admin, make_agent, tmp_path, paths=[str(src)], restic=slow_restic(tmp_path))
    hid = agent.host_id
    run_job(admin, hid, {"kind": "init"})
    jid = create_job(admin, hid, {"kind": "backup", "paths": [str(src)]})
    wait_running(admin, jid)

    server.kill9()
    before = agent.connections()
    server.args = ["--listen", server.addr]  # same port: the agent's configured URL
    server.start()
    agent.wait_connected(before, timeout=TIMEOUT)

    j = wait_job(admin, jid)
    assert j["status"] == "succeeded", (j, job_log(admin, jid))
    assert j["summary"]["total_files_processed"] == len(sums)
    snaps = wait_for(lambda: snapshots(admin, hid), what="snapshot list")
    assert len(snaps) == 1 and snaps[0]["short_id"] == j["summary"]["snapshot_id"]
    # nothing duplicated: the agent's own "running:" line once, line numbers unique
    lines = job_log_lines(admin, jid)
    assert sum(1 for l in lines if l["text"].startswith("running: restic backup")) == 1
    nums = [l["line"] for l in lines if "line" in l]
    assert len(nums) == len(set(nums))
    wait_for(lambda: "queued events: 0" in agent.cli("status").stdout, what="spool drained")


def test_spool_survives_agent_restart_while_server_down(admin, make_agent, tmp_path, server):
    """The job ends while the server is down; the agent is restarted before it
    could deliver anything: the spooled events arrive after both are back,
    and the job gets its true status (not "agent restarted")."""
    src = tmp_path / "src"
    sums = gen_tree(str(src), 30, seed=9, big=4 * 1024 * 1024)
    agent = enrol(admin, make_agent, tmp_path, paths=[str(src)], restic=slow_restic(tmp_path))
    hid = agent.host_id
    run_job(admin, hid, {"kind": "init"})
    jid = create_job(admin, hid, {"kind": "backup", "paths": [str(src)]})
    wait_running(admin, jid)
    server.kill9()
    # the job finishes on the agent while nobody listens
    wait_for(lambda: agent.state().get("running_job_id") is None and agent.state().get("next_event_seq", 0) > 1,
             timeout=TIMEOUT, interval=0.1, what="job finished on the agent")
    out = agent.cli("status").stdout
    queued = int(out.split("queued events: ")[1].split()[0])
    assert queued > 0, out
    assert agent.stop() == 0
    assert f"queued events: {queued}" in agent.cli("status").stdout  # on disk

    server.args = ["--listen", server.addr]
    server.start()
    agent.run()
    j = wait_job(admin, jid)
    assert j["status"] == "succeeded", (j, job_log(admin, jid))
    assert j["summary"]["total_files_processed"] == len(sums)
    snaps = wait_for(lambda: snapshots(admin, hid), what="snapshot list")
    assert snaps[0]["short_id"] == j["summary"]["snapshot_id"]
    wait_for(lambda: "queued events: 0" in agent.cli("status").stdout, what="spool drained")


def test_agent_killed_mid_job_is_reported_failed(admin, make_agent, tmp_path):
    src = tmp_path / "src"
    gen_tree(str(src), 50, seed=5, big=6 * 1024 * 1024)
    agent = enrol(admin, make_agent, tmp_path, paths=[str(src)], restic=slow_restic(tmp_path))
    hid = agent.host_id
    run_job(admin, hid, {"kind": "init"})
    jid = create_job(admin, hid, {"kind": "backup", "paths": [str(src)]})
    wait_running(admin, jid)
    assert agent.state()["running_job_id"] == jid

    agent.kill9()
    agent.run()
    j = wait_job(admin, jid)
    assert j["status"] == "failed"
    assert "agent restarted" in (j["error"] or ""), j
    assert agent.state()["running_job_id"] is None
    # restic was told to stop when the agent died, but with its output pipes
    # gone it may die before removing its lock: the agent runs a system
    # `unlock` (stale locks only) before anything else, so an exclusive
    # operation (prune) works right away
    def unlock_job():
        items = admin.get("/api/v1/jobs", params={"host": hid}).json()["items"]
        return [i for i in items if i["kind"] == "unlock" and i["actor"] == "system"
                and i["status"] in FINAL]
    u = wait_for(unlock_job, timeout=TIMEOUT, what="recovery unlock job")
    assert u[0]["status"] == "succeeded", u
    run_job(admin, hid, {"kind": "prune"})
    run_job(admin, hid, {"kind": "backup", "paths": [str(src)]})


def test_agent_restart_fails_job_it_lost_before_starting(admin, make_agent, tmp_path):
    """A job the agent acknowledged but lost before starting it (here its
    queue file loses the entry while the agent is down, as with a state
    directory restored from an older copy) ends failed with a reason; the
    rest of the queue still runs."""
    src = tmp_path / "src"
    gen_tree(str(src), 50, seed=6, big=6 * 1024 * 1024)
    agent = enrol(admin, make_agent, tmp_path, paths=[str(src)], restic=slow_restic(tmp_path))
    hid = agent.host_id
    run_job(admin, hid, {"kind": "init"})
    busy = create_job(admin, hid, {"kind": "backup", "paths": [str(src)]})
    wait_running(admin, busy)
    lost = create_job(admin, hid, {"kind": "snapshots"})
    kept = create_job(admin, hid, {"kind": "snapshots"})
    qpath = os.path.join(agent.state_dir, "queue.json")

    def queued_on_disk():
        # Both run commands are in the agent's durable queue and its
        # last_command_seq covers them (so the server dropped or will drop them).
        try:
            with open(qpath) as f:
                q = json.load(f)
        except (FileNotFoundError, ValueError):
            return None
        seqs = {c.get("job_id"): c.get("seq", 0) for c in q}
        if lost not in seqs or kept not in seqs:
            return None
        return q if agent.state().get("last_command_seq", 0) >= max(seqs[lost], seqs[kept]) else None
    wait_for(queued_on_disk, timeout=TIMEOUT, interval=0.05, what="both jobs queued on the agent")
    assert get_job(admin, busy)["status"] == "running"

    agent.kill9()
    with open(qpath) as f:
        q = json.load(f)
    with open(qpath, "w") as f:
        json.dump([c for c in q if c.get("job_id") != lost], f)
    agent.run()

    j = wait_job(admin, lost)
    assert j["status"] == "failed" and "never started" in (j["error"] or ""), j
    j = wait_job(admin, busy)
    assert j["status"] == "failed" and "agent restarted" in (j["error"] or ""), j
    j = wait_job(admin, kept)
    assert j["status"] == "succeeded", (j, job_log(admin, kept))


def test_cancel_running_backup(admin, make_agent, tmp_path):
    src = tmp_path / "src"
    gen_tree(str(src), 20, seed=6, big=8 * 1024 * 1024)
    agent = enrol(admin, make_agent, tmp_path, paths=[str(src)], restic=slow_restic(tmp_path))
    hid = agent.host_id
    run_job(admin, hid, {"kind": "init"})
    small = tmp_path / "small"
    gen_tree(str(small), 3, seed=8)
    run_job(admin, hid, {"kind": "backup", "paths": [str(small)]})
    first = wait_for(lambda: snapshots(admin, hid), what="snapshot list")[0]
    jid = create_job(admin, hid, {"kind": "backup", "paths": [str(src)]})
    # a second job waits in the agent's queue behind the first
    queued = create_job(admin, hid, {"kind": "snapshots"})
    wait_running(admin, jid)
    # browsing does not wait for the running backup
    r = admin.get(f"/api/v1/hosts/{hid}/snapshots/{first['id']}/tree", params={"path": str(small)}, timeout=90)
    assert r.status_code == 200, r.text
    assert sorted(e["name"] for e in r.json()["entries"]) == [f"d{i}" for i in range(3)]
    assert get_job(admin, jid)["status"] == "running"
    r = admin.post(f"/api/v1/jobs/{jid}/cancel")
    assert r.status_code in (200, 202), r.text
    j = wait_job(admin, jid)
    assert j["status"] == "cancelled", j
    assert "cancel requested" in job_log(admin, jid)
    q = wait_job(admin, queued)
    assert q["status"] == "succeeded"
    # restic stopped cleanly (no stale lock): an exclusive prune works
    run_job(admin, hid, {"kind": "prune"})


def test_enroll_token_errors(admin, make_agent, tmp_path, server):
    # wrong token
    a1 = make_agent("wrong")
    r = a1.enroll("not-a-real-token-" + "x" * 30, check=False)
    assert r.returncode != 0
    assert "rejected the token" in r.stderr
    assert not os.path.exists(os.path.join(a1.config_dir, "agent.token"))

    # reused token
    t = admin.post("/api/v1/enrollment-tokens",
                   json={"hostname": "once", "repository": {"url": str(tmp_path / "r1"), "password": PASSWORD},
                         "paths": []}).json()["token"]
    make_agent("first").enroll(t)
    a2 = make_agent("second")
    r = a2.enroll(t, check=False)
    assert r.returncode != 0 and "rejected the token" in r.stderr
    assert t not in r.stderr + r.stdout

    # expired token (expiry moved into the past in the server's database)
    t = admin.post("/api/v1/enrollment-tokens",
                   json={"hostname": "late", "repository": {"url": str(tmp_path / "r2"), "password": PASSWORD},
                         "paths": []}).json()["token"]
    db = sqlite3.connect(os.path.join(server.data_dir, "restic-manager.db"), timeout=10)
    db.execute("UPDATE enrollment_tokens SET expires_at = 1 WHERE hostname = 'late'")
    db.commit()
    db.close()
    r = make_agent("late").enroll(t, check=False)
    assert r.returncode != 0 and "rejected the token" in r.stderr

    # enrolling over a running agent is refused before the token is spent
    running = enrol(admin, make_agent, tmp_path, name="running")
    t = admin.post("/api/v1/enrollment-tokens",
                   json={"hostname": "spare", "repository": {"url": str(tmp_path / "r3"), "password": PASSWORD},
                         "paths": []}).json()["token"]
    r = running.enroll(t, check=False)
    assert r.returncode != 0 and "an agent is running" in r.stderr, r.stderr
    make_agent("spare").enroll(t)

    # token from the environment, server unreachable: a clear transport error
    a3 = make_agent("env")
    r = a3.cli("enroll", env={"RM_SERVER": "http://127.0.0.1:9", "RM_ENROL_TOKEN": "abc"})
    assert r.returncode != 0 and "cannot reach" in r.stderr

    # missing arguments
    r = make_agent("noargs").cli("enroll", env={"RM_SERVER": "", "RM_ENROL_TOKEN": ""})
    assert r.returncode == 2 and "--server" in r.stderr


def test_revoked_agent_keeps_its_events(admin, make_agent, tmp_path):
    src = tmp_path / "src"
    gen_tree(str(src), 3, seed=7)
    agent = enrol(admin, make_agent, tmp_path, paths=[str(src)])
    hid = agent.host_id
    r = admin.delete(f"/api/v1/hosts/{hid}")
    if r.status_code == 403:
        pytest.skip("host deletion needs another role in this build")
    assert r.status_code in (200, 204), r.text
    # the agent's next exchange is refused; it says so clearly and keeps running
    wait_for(lambda: "rejected this agent's token" in agent.log_text(), timeout=TIMEOUT,
             what="revocation noticed")
    assert agent.proc.poll() is None


def test_cli_basics(make_agent):
    a = make_agent("cli")
    r = a.cli("--version")
    assert r.returncode == 0 and r.stdout.startswith("restic-manager-agent version ")
    assert "commit " in r.stdout and "date " in r.stdout
    r = a.cli("--help")
    assert r.returncode == 0 and "enroll" in r.stdout and "--state-dir" in r.stdout
    r = a.cli("status")
    assert r.returncode == 1 and "not enrolled" in r.stdout
    r = a.cli("run")
    assert r.returncode == 1 and "not enrolled" in r.stderr
    r = a.cli("frobnicate")
    assert r.returncode == 2
    # the Windows service subcommand: documented, and a clear error on Linux
    assert "service install|uninstall|start|stop" in a.cli("--help").stdout
    for verb in ("install", "uninstall", "start", "stop", "run"):
        r = a.cli("service", verb)
        assert r.returncode == 2 and "only on Windows" in r.stderr and "systemd" in r.stderr, (verb, r.stderr)
    r = a.cli("service")
    assert r.returncode == 2 and "install, uninstall, start, stop" in r.stderr


class TlsProxy:
    """A TLS terminator in front of the plain-HTTP test server (the agent's
    https path with a self-signed certificate: CA file, public-key pin)."""

    def __init__(self, target, certfile, keyfile):
        self.target = target
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(certfile, keyfile)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            conn.settimeout(10)
            tls = self.ctx.wrap_socket(conn, server_side=True)
            tls.settimeout(None)
        except (ssl.SSLError, OSError):
            conn.close()
            return
        host, port = self.target.rsplit(":", 1)
        up = socket.create_connection((host, int(port)))
        try:
            while not self.stopped:
                r = [tls] if tls.pending() else select.select([tls, up], [], [], 1)[0]
                if tls in r:
                    try:
                        d = tls.recv(65536)
                    except ssl.SSLWantReadError:
                        continue
                    if not d:
                        break
                    up.sendall(d)
                if up in r:
                    d = up.recv(65536)
                    if not d:
                        break
                    tls.sendall(d)
        except (OSError, ssl.SSLError):
            pass
        finally:
            tls.close()
            up.close()

    def close(self):
        self.stopped = True
        self.sock.close()


def make_cert(tmp_path):
    key, crt = str(tmp_path / "tls.key"), str(tmp_path / "tls.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", key, "-out", crt, "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], check=True, capture_output=True)
    pub = subprocess.run(["openssl", "x509", "-in", crt, "-pubkey", "-noout"], check=True,
                         capture_output=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pub, check=True,
                         capture_output=True).stdout
    return crt, key, hashlib.sha256(der).hexdigest()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed")
def test_https_verification_and_pinning(admin, make_agent, tmp_path, server):
    crt, key, pin = make_cert(tmp_path)
    proxy = TlsProxy(server.addr, crt, key)
    url = f"https://localhost:{proxy.port}"

    def token(name):
        r = admin.post("/api/v1/enrollment-tokens",
                       json={"hostname": name, "repository": {"url": str(tmp_path / f"repo-{name}"),
                                                               "password": PASSWORD}, "paths": []})
        assert r.status_code == 201, r.text
        return r.json()["token"]
    try:
        # an unknown self-signed certificate is refused (verification is on)
        a = make_agent("noca")
        r = a.enroll(token("noca"), url=url, check=False)
        assert r.returncode != 0 and "cannot reach" in r.stderr, r.stderr
        assert not os.path.exists(os.path.join(a.config_dir, "agent.json"))

        # with the CA file: enrol, connect and run a job over TLS
        a = make_agent("ca")
        r = a.cli("enroll", "--server", url, "--token", token("ca"), "--ca-file", crt)
        assert r.returncode == 0, r.stderr
        a.run()
        run_job(admin, a.host_id, {"kind": "init"})

        # pinned public key: no CA needed, the pin is remembered for `run`
        a = make_agent("pin")
        r = a.cli("enroll", "--server", url, "--token", token("pin"), "--pin-sha256", pin)
        assert r.returncode == 0, r.stderr
        a.run()
        run_job(admin, a.host_id, {"kind": "init"})

        # a wrong pin is refused even though the certificate is otherwise fine
        a = make_agent("badpin")
        r = a.cli("enroll", "--server", url, "--token", token("badpin"), "--pin-sha256", "00" * 32,
                  "--ca-file", crt)
        assert r.returncode != 0 and "cannot reach" in r.stderr, r.stderr
    finally:
        proxy.close()
