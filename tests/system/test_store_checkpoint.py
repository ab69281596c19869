"""WAL checkpoints run on a worker, not inside a commit on the event loop
(src/server/store_checkpoint.c, docs/ARCHITECTURE.md): under a burst of
writes (job log lines from an agent) every line is stored, the checkpoints
are the worker's (its debug line), the WAL stays below the hard bound, and
its file is cut back once the writes calm down."""
import os

from conftest import wait_for
from test_agent_protocol import new_agent, create_job

HARD_BOUND = 10000 * 4096      # STORE_CKPT_HARD_PAGES
KEEP_BYTES = 16 * 1024 * 1024  # STORE_CKPT_KEEP_BYTES


def wal_size(server):
    try:
        return os.path.getsize(os.path.join(server.data_dir, "restic-manager.db-wal"))
    except FileNotFoundError:
        return 0


def test_wal_is_checkpointed_off_the_loop(server, admin):
    a = new_agent(server, admin)
    jid = create_job(admin, a.host_id, kind="backup", paths=["/x"])["id"]
    assert a.send([{"type": "job.started", "job_id": jid, "kind": "backup", "actor": "user"}]).status_code == 200
    line = "z" * 2000
    batches, per = 60, 500  # ~60 MB of log lines in one-batch transactions, as fast as they go
    max_wal = 0
    for _ in range(batches):
        r = a.send([{"type": "job.log", "job_id": jid, "lines": [{"stream": "stdout", "text": line}] * per}])
        assert r.status_code == 200, r.text
        max_wal = max(max_wal, wal_size(server))
    assert admin.get(f"/api/v1/jobs/{jid}").json()["log_lines"] == batches * per
    log = server.log_text()
    assert "wal checkpoint:" in log, log[-2000:]
    assert "cannot checkpoint" not in log
    # Bounded even though the writer outran the checkpoints (one batch of slack).
    assert max_wal < HARD_BOUND + 4 * 1024 * 1024, max_wal

    # Calm: small writes (a progress event each) let the WAL start over, and
    # its file is cut back to the kept size.
    def shrunk():
        r = a.send([{"type": "job.progress", "job_id": jid, "percent": 50, "files_done": 1, "total_files": 2,
                     "bytes_done": 1, "total_bytes": 2}])
        assert r.status_code == 200, r.text
        return wal_size(server) <= KEEP_BYTES
    wait_for(shrunk, timeout=30, interval=0.1, what="the WAL file cut back")
