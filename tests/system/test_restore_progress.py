"""Restore progress with the real server, agent and restic.  restic 0.14's
`restore` prints no progress, so the agent sizes the selected paths first
(`restic ls --json --recursive`) and samples what restic has written while it
runs; the job stream must carry the same progress events a backup has
(percent, files, bytes, ETA) before the job ends.

The restore's minimum duration follows from the data size and a download
limit (a wrapper adds `--limit-download` and execs the real restic), not
from the machine's speed: no sleeps."""
import hashlib
import json
import os
import shutil
import stat
from datetime import datetime

import pytest

from conftest import wait_for, enrol_agent, run_job, sse_events, SANITIZED

RESTIC = shutil.which("restic")
pytestmark = pytest.mark.skipif(RESTIC is None, reason="restic is not installed")

PASSWORD = "repo-pass-Progress-4Jk9"
TIMEOUT = 240 if SANITIZED else 120
MB = 1024 * 1024
LIMIT_KIB = 6 * 1024      # restore reads at most 6 MiB/s
NBIG, BIG = 6, 6 * MB     # 36 MiB selected: >= 6 s of restore


def sha(p):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def limited_restic(tmp_path):
    p = tmp_path / "restic-download-limited"
    p.write_text(f'#!/bin/sh\nexec "{RESTIC}" --limit-download={LIMIT_KIB} "$@"\n')
    p.chmod(p.stat().st_mode | stat.S_IXUSR)
    return str(p)


def stream_events(admin, jid):
    """[(event, data, job status when it arrived)] of the job stream until `end`."""
    out = []
    with admin.s.get(admin.server.url + f"/api/v1/jobs/{jid}/stream", stream=True,
                     timeout=(10, TIMEOUT)) as resp:
        assert resp.status_code == 200
        for event, data in sse_events(resp):
            status = None
            if event == "progress":
                status = admin.get(f"/api/v1/jobs/{jid}").json()["status"]
            out.append((event, json.loads(data) if data else None, status))
            if event == "end":
                break
    return out


@pytest.fixture
def restored_host(admin, make_agent, tmp_path):
    src = tmp_path / "src"
    for i in range(NBIG):
        p = src / "big" / f"sub{i % 2}" / f"b{i}.bin"
        os.makedirs(p.parent, exist_ok=True)
        p.write_bytes(os.urandom(BIG))
    os.makedirs(src / "other", exist_ok=True)
    (src / "other" / "not-selected.bin").write_bytes(os.urandom(3 * MB))
    (src / "small.txt").write_bytes(b"small\n")
    agent = enrol_agent(admin, make_agent, "prog", str(tmp_path / "repo"), PASSWORD, [str(src)],
                        restic=limited_restic(tmp_path))
    run_job(admin, agent.host_id, {"kind": "init"})
    run_job(admin, agent.host_id, {"kind": "backup", "group": "default"})
    snaps = wait_for(lambda: admin.get(f"/api/v1/hosts/{agent.host_id}/snapshots").json()["items"],
                     what="snapshot list")
    return {"agent": agent, "src": str(src), "snap": snaps[0]}


def test_restore_reports_live_progress(admin, restored_host):
    agent, src, snap = restored_host["agent"], restored_host["src"], restored_host["snap"]
    hid = agent.host_id
    r = admin.post(f"/api/v1/hosts/{hid}/jobs",
                   json={"kind": "restore", "snapshot": snap["id"], "paths": [src + "/big", src + "/small.txt"]})
    assert r.status_code == 201, r.text
    jid = r.json()["id"]
    events = stream_events(admin, jid)

    names = [e[0] for e in events]
    progress = [e for e in events if e[0] == "progress"]
    # Several progress events arrived while the job was still running.
    live = [p for p in progress if p[2] == "running"]
    assert len(live) >= 2, names
    assert names.index("progress") < names.index("end")
    total_bytes = NBIG * BIG + len(b"small\n")
    for _, p, _ in progress:
        # the totals are those of the selected paths only (not other/)
        assert p["total_files"] == NBIG + 1, p
        assert p["total_bytes"] == total_bytes, p
        assert 0 <= p["percent"] <= 100
        assert 0 <= p["bytes_done"] <= p["total_bytes"]
        assert 0 <= p["files_done"] <= p["total_files"]
    done = [p["bytes_done"] for _, p, _ in progress]
    assert done == sorted(done), done          # never backwards
    assert done[-1] > done[0], done            # and it moves
    assert any(0 < p["percent"] < 100 for _, p, _ in progress), progress
    assert any(p.get("seconds_remaining", -1) > 0 for _, p, _ in progress), progress
    assert any(p["files_done"] > 0 for _, p, _ in progress), progress

    j = admin.get(f"/api/v1/jobs/{jid}").json()
    assert j["status"] == "succeeded", j
    assert j["summary"] == {"total_files": NBIG + 1, "total_bytes": total_bytes}, j["summary"]
    # at most one progress event per second of the job
    secs = (datetime.fromisoformat(j["finished_at"].replace("Z", "+00:00")) -
            datetime.fromisoformat(j["started_at"].replace("Z", "+00:00"))).total_seconds()
    assert len(progress) <= secs + 2, (len(progress), secs)
    log = admin.get(f"/api/v1/jobs/{jid}/log").text
    assert f"restoring {NBIG + 1} files, {total_bytes} bytes" in log, log

    # and the bytes are right
    root = os.path.join(agent.state_dir, "restore", jid) + src
    for i in range(NBIG):
        rel = f"big/sub{i % 2}/b{i}.bin"
        assert sha(os.path.join(root, rel)) == sha(os.path.join(src, rel))
    assert not os.path.exists(os.path.join(root, "other"))


def test_restore_progress_of_whole_snapshot_and_bad_snapshot(admin, restored_host):
    agent, src, snap = restored_host["agent"], restored_host["src"], restored_host["snap"]
    hid = agent.host_id
    # No paths: the whole snapshot is sized.
    r = admin.post(f"/api/v1/hosts/{hid}/jobs", json={"kind": "restore", "snapshot": snap["id"]})
    assert r.status_code == 201, r.text
    jid = r.json()["id"]
    events = stream_events(admin, jid)
    progress = [p for e, p, _ in events if e == "progress"]
    assert progress, [e[0] for e in events]
    assert progress[0]["total_files"] == NBIG + 2
    assert progress[0]["total_bytes"] == NBIG * BIG + 3 * MB + len(b"small\n")
    j = admin.get(f"/api/v1/jobs/{jid}").json()
    assert j["status"] == "succeeded", j

    # A snapshot id restic does not know: the sizing fails (logged), the
    # restore runs without totals and fails with restic's reason; nothing restored.
    j = run_job(admin, hid, {"kind": "restore", "snapshot": "deadbeef" * 8, "paths": [src]}, expect="failed")
    assert j["progress"] is None or (j["progress"]["total_bytes"] == 0 and j["progress"]["bytes_done"] == 0), j
    assert j["summary"] is None, j
    assert "no matching ID found" in j["error"] or "deadbeef" in j["error"], j
    log = admin.get(f"/api/v1/jobs/{j['id']}/log").text
    assert "cannot size the restore" in log, log
    assert not os.path.exists(os.path.join(agent.state_dir, "restore", j["id"], src.lstrip("/")))


def test_restore_of_paths_matching_nothing(admin, restored_host):
    agent, src, snap = restored_host["agent"], restored_host["src"], restored_host["snap"]
    # restic restores nothing and succeeds; the agent says why there are no totals
    j = run_job(admin, agent.host_id, {"kind": "restore", "snapshot": snap["id"], "paths": [src + "/no-such"]})
    log = admin.get(f"/api/v1/jobs/{j['id']}/log").text
    assert "no file of the snapshot matches the selected paths" in log, log
    assert j["summary"] is None, j
