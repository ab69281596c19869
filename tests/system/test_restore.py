"""Restore and snapshot browsing with the real server, agents and restic:
the snapshot tree one directory level at a time (listed by the agent, cached
by the server), restore of selected paths into a new directory on the same
host and onto a second host of the same repository (bytes compared), the
in-place confirmation, and a diff job."""
import hashlib
import json
import os
import shutil
import time

import pytest

from conftest import wait_for, error_code, enrol_agent, run_job

RESTIC = shutil.which("restic")
pytestmark = pytest.mark.skipif(RESTIC is None, reason="restic is not installed")

PASSWORD = "repo-pass-Restore-7Hq2"


def write(p, data):
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(data)


def sha(p):
    with open(p, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.fixture
def two_hosts(admin, make_agent, tmp_path):
    src = str(tmp_path / "src")
    write(f"{src}/etc/app.conf", b"key = value\n")
    write(f"{src}/etc/deep/nested.txt", b"nested\n")
    write(f"{src}/data/blob.bin", os.urandom(200000))
    write(f"{src}/data/other.bin", os.urandom(5000))
    write(f"{src}/top.txt", b"top level\n")
    repo = str(tmp_path / "repo")
    a = enrol_agent(admin, make_agent, "alpha", repo, PASSWORD, [src])
    b = enrol_agent(admin, make_agent, "beta", repo, PASSWORD, [str(tmp_path / "beta-src")])
    run_job(admin, a.host_id, {"kind": "init"})
    bk = run_job(admin, a.host_id, {"kind": "backup", "group": "default"})
    snaps = wait_for(lambda: admin.get(f"/api/v1/hosts/{a.host_id}/snapshots").json()["items"],
                     what="snapshot list")
    return {"src": src, "a": a, "b": b, "snap": snaps[0], "backup": bk}


def test_tree_browsing_and_cache(admin, two_hosts):
    a, src, snap = two_hosts["a"], two_hosts["src"], two_hosts["snap"]
    base = f"/api/v1/hosts/{a.host_id}/snapshots/{snap['id']}/tree"
    # Walk from / down to the source directory, one level per request.
    path = "/"
    for part in [p for p in src.split("/") if p]:
        r = admin.get(base, params={"path": path})
        assert r.status_code == 200, r.text
        names = [e["name"] for e in r.json()["entries"]]
        assert part in names, (path, names)
        path = path.rstrip("/") + "/" + part
    r = admin.get(base, params={"path": src})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["cached"] is False and body["snapshot"] == snap["id"] and body["path"] == src
    ents = {e["name"]: e for e in body["entries"]}
    assert set(ents) == {"etc", "data", "top.txt"}  # direct children only
    assert ents["etc"]["type"] == "dir" and ents["top.txt"]["type"] == "file"
    assert ents["top.txt"]["size"] == len(b"top level\n")
    assert ents["top.txt"]["path"] == src + "/top.txt"
    # Repeated browsing is answered from the cache, also by short id and with a trailing slash.
    t0 = time.monotonic()
    r2 = admin.get(f"/api/v1/hosts/{a.host_id}/snapshots/{snap['short_id']}/tree", params={"path": src + "/"})
    assert r2.status_code == 200 and r2.json()["cached"] is True
    assert r2.json()["entries"] == body["entries"]
    assert time.monotonic() - t0 < 2
    r = admin.get(base, params={"path": src + "/etc"})
    assert sorted(e["name"] for e in r.json()["entries"]) == ["app.conf", "deep"]


def test_tree_bad_input(admin, two_hosts, server):
    a, snap = two_hosts["a"], two_hosts["snap"]
    base = f"/api/v1/hosts/{a.host_id}/snapshots/{snap['id']}/tree"
    for bad in ("relative/path", "/a/../b", "/a/./b", "//x", "/x\x01"):
        r = admin.get(base, params={"path": bad})
        assert r.status_code == 400 and error_code(r) == "invalid_field", (bad, r.text)
    assert admin.get(f"/api/v1/hosts/{a.host_id}/snapshots/{'0' * 64}/tree").status_code == 404
    assert admin.get(f"/api/v1/hosts/{a.host_id}/snapshots/not-hex/tree").status_code == 404
    assert admin.get(f"/api/v1/hosts/9999/snapshots/{snap['id']}/tree").status_code == 404
    # A snapshot of another host is not reachable through this host.
    assert admin.get(f"/api/v1/hosts/{two_hosts['b'].host_id}/snapshots/{snap['id']}/tree").status_code == 404
    # A path that is not in the snapshot: an empty directory listing or a clear error, never a hang.
    r = admin.get(base, params={"path": "/no/such/dir"})
    assert r.status_code in (200, 502), r.text
    if r.status_code == 200:
        assert r.json()["entries"] == []


def test_restore_selected_paths_new_directory(admin, two_hosts):
    a, src, snap = two_hosts["a"], two_hosts["src"], two_hosts["snap"]
    j = run_job(admin, a.host_id, {"kind": "restore", "snapshot": snap["id"],
                                   "paths": [src + "/etc", src + "/data/blob.bin"]})
    target = os.path.join(a.state_dir, "restore", j["id"])
    root = target + src
    assert sha(root + "/etc/app.conf") == sha(src + "/etc/app.conf")
    assert sha(root + "/etc/deep/nested.txt") == sha(src + "/etc/deep/nested.txt")
    assert sha(root + "/data/blob.bin") == sha(src + "/data/blob.bin")
    assert not os.path.exists(root + "/data/other.bin")
    assert not os.path.exists(root + "/top.txt")


def test_restore_onto_second_host(admin, two_hosts):
    a, b, src, snap = two_hosts["a"], two_hosts["b"], two_hosts["src"], two_hosts["snap"]
    j = run_job(admin, a.host_id, {"kind": "restore", "snapshot": snap["id"], "paths": [src + "/data"],
                                   "host_id": b.host_id})
    assert j["host_id"] == b.host_id
    root = os.path.join(b.state_dir, "restore", j["id"]) + src
    assert sha(root + "/data/blob.bin") == sha(src + "/data/blob.bin")
    assert sha(root + "/data/other.bin") == sha(src + "/data/other.bin")
    assert not os.path.exists(os.path.join(a.state_dir, "restore", j["id"]))


def test_in_place_restore_needs_confirmation(admin, two_hosts):
    a, snap = two_hosts["a"], two_hosts["snap"]
    before = len(admin.get("/api/v1/jobs", params={"host": a.host_id}).json()["items"])
    r = admin.post(f"/api/v1/hosts/{a.host_id}/jobs", json={"kind": "restore", "snapshot": snap["id"],
                                                            "in_place": True})
    assert r.status_code == 400 and error_code(r) == "confirmation_required"
    r = admin.post(f"/api/v1/hosts/{a.host_id}/jobs", json={"kind": "restore", "snapshot": snap["id"],
                                                            "in_place": True, "confirm": "beta"})
    assert r.status_code == 400 and error_code(r) == "confirmation_required"
    # Onto another host: the confirmation names the host that is overwritten.
    r = admin.post(f"/api/v1/hosts/{a.host_id}/jobs", json={"kind": "restore", "snapshot": snap["id"],
                                                            "in_place": True, "confirm": "alpha",
                                                            "host_id": two_hosts["b"].host_id})
    assert r.status_code == 400 and error_code(r) == "confirmation_required"
    assert len(admin.get("/api/v1/jobs", params={"host": a.host_id}).json()["items"]) == before


def test_diff_job(admin, two_hosts):
    a, src = two_hosts["a"], two_hosts["src"]
    write(f"{src}/new-file.txt", b"added later\n")
    run_job(admin, a.host_id, {"kind": "backup", "group": "default"})
    snaps = wait_for(lambda: (lambda s: s if len(s) == 2 else None)(
        admin.get(f"/api/v1/hosts/{a.host_id}/snapshots").json()["items"]), what="two snapshots")
    ids = sorted(snaps, key=lambda s: s["time"])
    j = run_job(admin, a.host_id, {"kind": "diff", "snapshots": [ids[0]["id"], ids[1]["id"]]})
    log = admin.get(f"/api/v1/jobs/{j['id']}/log").text
    assert "restic diff" in log
    # The changes are in the log, the statistics in the summary.
    assert f"+ {src}/new-file.txt" in log, log
    assert j["summary"]["message_type"] == "statistics" and j["summary"]["added"]["files"] == 1, j["summary"]
