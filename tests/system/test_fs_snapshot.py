"""Source-group option use_fs_snapshot (restic --use-fs-snapshot, VSS on Windows):
validated and stored by the server (migration 5), kept by PATCH, carried to the
agent in the group's backup arguments and the schedule document; a Linux agent
runs the backup without the flag and says in the job log that it was ignored.
(The Windows side — the flag reaching restic.exe — is tests/release/test_windows_agent.py.)"""
import os

from conftest import error_code, wait_for

STANDIN = r"""#!/bin/sh
printf '%s\n' "$*" >> "$STANDIN_LOG"
cmd=""
for a in "$@"; do case $a in -*) ;; *) cmd=$a; break ;; esac; done
case $cmd in
version) echo "restic 0.14.0 compiled with go1.19.8 on linux/amd64" ;;
backup) echo '{"message_type":"summary","files_new":1,"snapshot_id":"1a2b3c4d","total_files_processed":1}' ;;
snapshots) echo '[]' ;;
*) echo "unsupported $cmd" >&2; exit 1 ;;
esac
"""


def test_use_fs_snapshot_option(admin, make_agent, tmp_path):
    standin = tmp_path / "restic"
    standin.write_text(STANDIN)
    standin.chmod(0o755)
    calls = tmp_path / "calls.log"
    r = admin.post("/api/v1/enrollment-tokens", json={"hostname": "vss-linux", "repository": {"url": "/srv/r"},
                                                      "paths": ["/data"]})
    assert r.status_code == 201, r.text
    agent = make_agent(restic=str(standin), env={"STANDIN_LOG": str(calls)})
    agent.enroll(r.json()["token"])
    agent.run()
    hid = agent.host_id
    base = f"/api/v1/hosts/{hid}/sources"

    r = admin.post(base, json={"name": "bad", "paths": ["/x"], "use_fs_snapshot": "yes"})
    assert r.status_code == 400 and error_code(r) == "invalid_field", r.text
    assert "use_fs_snapshot" in r.json()["error"]["message"]
    r = admin.post(base, json={"name": "plain", "paths": ["/x"]})
    assert r.status_code == 201 and r.json()["use_fs_snapshot"] is False, r.text
    r = admin.post(base, json={"name": "vss", "paths": ["/vss"], "use_fs_snapshot": True})
    assert r.status_code == 201 and r.json()["use_fs_snapshot"] is True, r.text
    r = admin.patch(f"{base}/vss", json={"excludes": ["*.tmp"]})
    assert r.status_code == 200 and r.json()["use_fs_snapshot"] is True, r.text
    assert admin.get(f"{base}/vss").json()["use_fs_snapshot"] is True

    r = admin.post(f"/api/v1/hosts/{hid}/jobs", json={"kind": "backup", "group": "vss"})
    assert r.status_code == 201, r.text
    jid = r.json()["id"]
    j = wait_for(lambda: (lambda x: x if x["status"] not in ("queued", "running") else None)(
        admin.get(f"/api/v1/jobs/{jid}").json()), timeout=30, what="backup job")
    assert j["status"] == "succeeded", j
    backups = [c for c in calls.read_text().splitlines() if c.startswith("backup")]
    assert backups and all("--use-fs-snapshot" not in c for c in backups), backups
    log = admin.get(f"/api/v1/jobs/{jid}/log").text
    assert "use_fs_snapshot" in log and "only on Windows" in log, log

    r = admin.put(f"{base}/vss", json={"name": "vss", "paths": ["/vss"]})
    assert r.status_code == 200 and r.json()["use_fs_snapshot"] is False, r.text
    assert os.path.exists(calls)
