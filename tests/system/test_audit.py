"""The audit trail: JSON lines per month in $RM_DATA_DIR/audit, hash-chained,
`restic-manager-server audit verify`, and GET /api/v1/audit (filters, paging,
CSV).  The chain is also checked here by an independent implementation:
hash = SHA-256 of the line's bytes before `,"hash":"…"}`; prev = previous hash.
"""
import csv
import glob
import hashlib
import io
import json
import os
import stat
import subprocess

import pytest

from conftest import ADMIN_PASSWORD, ADMIN_USER, SERVER_BIN, Client, Server, error_code, wait_for

GENESIS = "0" * 64


def audit_dir(server):
    return os.path.join(server.data_dir, "audit")


def audit_files(server):
    return sorted(glob.glob(os.path.join(audit_dir(server), "[0-9][0-9][0-9][0-9]-[0-9][0-9].jsonl")))


def audit_lines(server):
    out = []
    for f in audit_files(server):
        with open(f, "rb") as fh:
            out += [(f, l) for l in fh.read().split(b"\n") if l]
    return out


def records(server):
    return [json.loads(l) for _, l in audit_lines(server)]


def check_chain(lines):
    """Independent verifier; returns the number of records."""
    prev, seq = GENESIS, 0
    for _, line in lines:
        cut = line.rindex(b',"hash":"')
        h = hashlib.sha256(line[:cut]).hexdigest()
        rec = json.loads(line)
        assert line[cut:] == b',"hash":"' + h.encode() + b'"}'
        assert rec["hash"] == h and rec["prev"] == prev and rec["seq"] == seq + 1, rec
        assert set(rec) == {"seq", "time", "actor", "client", "action", "target", "outcome", "details", "prev", "hash"}
        prev, seq = h, rec["seq"]
    return seq


def verify(data_dir, env_only=False):
    env = dict(os.environ)
    if env_only:
        env["RM_DATA_DIR"] = data_dir
        args = [SERVER_BIN, "audit", "verify"]
    else:
        env.pop("RM_DATA_DIR", None)
        args = [SERVER_BIN, "audit", "verify", "--data-dir", data_dir]
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=60)


def rewrite(path, lines):
    with open(path, "wb") as f:
        f.write(b"".join(l + b"\n" for l in lines))


@pytest.fixture
def stopped(tmp_path):
    """A data dir with a few start/stop records and the server stopped."""
    s = Server(tmp_path)
    for _ in range(3):
        s.start()
        assert s.stop() == 0
    return s


def test_layout_modes_and_start_stop_records(stopped):
    d = audit_dir(stopped)
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    files = audit_files(stopped)
    assert len(files) == 1
    assert stat.S_IMODE(os.stat(files[0]).st_mode) == 0o600
    recs = records(stopped)
    assert [r["action"] for r in recs] == ["server.start", "server.stop"] * 3
    assert all(r["actor"] == "system" and r["outcome"] == "ok" for r in recs)
    # the file is named after the month of its records
    assert os.path.basename(files[0]) == recs[0]["time"][:7] + ".jsonl"
    assert check_chain(audit_lines(stopped)) == 6


def test_verify_ok_by_flag_and_env(stopped):
    r = verify(stopped.data_dir)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "6 records" in r.stdout and "intact" in r.stdout
    r = verify(stopped.data_dir, env_only=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_verify_detects_an_edited_line(stopped):
    path = audit_files(stopped)[0]
    lines = [l for _, l in audit_lines(stopped)]
    lines[2] = lines[2].replace(b'"server.start"', b'"server.stort"')
    rewrite(path, lines)
    r = verify(stopped.data_dir)
    assert r.returncode == 1, r.stdout
    assert os.path.basename(path) in r.stdout and "line 3" in r.stdout


def test_verify_detects_an_edit_with_recomputed_hash(stopped):
    """Even a forger who recomputes the edited line's own hash breaks the next link."""
    path = audit_files(stopped)[0]
    lines = [l for _, l in audit_lines(stopped)]
    forged = lines[1].replace(b'"system"', b'"mallory"')
    cut = forged.rindex(b',"hash":"')
    forged = forged[:cut] + b',"hash":"' + hashlib.sha256(forged[:cut]).hexdigest().encode() + b'"}'
    lines[1] = forged
    rewrite(path, lines)
    r = verify(stopped.data_dir)
    assert r.returncode == 1, r.stdout
    assert "line 3" in r.stdout


def test_verify_detects_a_deleted_line(stopped):
    path = audit_files(stopped)[0]
    lines = [l for _, l in audit_lines(stopped)]
    del lines[3]
    rewrite(path, lines)
    r = verify(stopped.data_dir)
    assert r.returncode == 1, r.stdout
    assert os.path.basename(path) in r.stdout and "line 4" in r.stdout


def test_verify_detects_reordering_and_a_removed_first_line(stopped):
    path = audit_files(stopped)[0]
    lines = [l for _, l in audit_lines(stopped)]
    rewrite(path, [lines[1], lines[0]] + lines[2:])
    assert verify(stopped.data_dir).returncode == 1
    rewrite(path, lines[1:])
    assert verify(stopped.data_dir).returncode == 1
    rewrite(path, lines)
    assert verify(stopped.data_dir).returncode == 0


def test_chain_continues_across_month_files(stopped):
    """Records of an older month in an older file: one chain over both files."""
    path = audit_files(stopped)[0]
    lines = [l for _, l in audit_lines(stopped)]
    older = os.path.join(audit_dir(stopped), "2001-01.jsonl")
    rewrite(older, lines[:2])
    rewrite(path, lines[2:])
    r = verify(stopped.data_dir)
    assert r.returncode == 0 and "2 files" in r.stdout, r.stdout
    rewrite(path, lines[3:])  # the first record of the second file is gone
    r = verify(stopped.data_dir)
    assert r.returncode == 1 and os.path.basename(path) in r.stdout


def test_torn_final_line_is_moved_aside_at_start(stopped):
    path = audit_files(stopped)[0]
    with open(path, "ab") as f:
        f.write(b'{"seq":7,"time":"2026-')
    r = verify(stopped.data_dir)
    assert r.returncode == 1 and "incomplete" in r.stdout
    stopped.start()
    assert stopped.stop() == 0
    assert "incomplete record" in stopped.log_text()
    r = verify(stopped.data_dir)
    assert r.returncode == 0, r.stdout
    recs = records(stopped)
    torn = [x for x in recs if x["action"] == "audit.tail_truncated"]
    assert len(torn) == 1 and torn[0]["details"]["bytes"] == len(b'{"seq":7,"time":"2026-')
    saved = os.path.join(audit_dir(stopped), torn[0]["details"]["saved_as"])
    assert open(saved, "rb").read() == b'{"seq":7,"time":"2026-'
    check_chain(audit_lines(stopped))


def test_verify_usage_and_io_errors(tmp_path):
    r = verify(str(tmp_path / "nothing-here"))
    assert r.returncode == 2
    r = subprocess.run([SERVER_BIN, "audit"], capture_output=True, text=True)
    assert r.returncode == 2
    r = subprocess.run([SERVER_BIN, "audit", "frobnicate"], capture_output=True, text=True)
    assert r.returncode == 2


def test_audit_api_requires_authentication(server):
    r = server.get("/api/v1/audit")
    assert r.status_code == 401
    r = server.get("/api/v1/audit/export.csv")
    assert r.status_code == 401


# ---- with users (bootstrap, login, users API) ----


def test_state_changes_are_recorded(admin, server):
    recs = records(server)
    actions = [r["action"] for r in recs]
    assert "user.bootstrap" in actions and "user.login" in actions
    boot = next(r for r in recs if r["action"] == "user.bootstrap")
    assert boot["outcome"] == "ok" and boot["client"] == "127.0.0.1"
    # no secret in any record
    text = open(audit_files(server)[0]).read()
    assert ADMIN_PASSWORD not in text
    # a failed login is recorded too, without the password
    c = Client(server)
    assert c.login(ADMIN_USER, "wrong password here").status_code in (401, 403)
    recs = records(server)
    failed = [r for r in recs if r["action"] == "user.login" and r["outcome"] != "ok"]
    assert failed
    assert "wrong password here" not in open(audit_files(server)[0]).read()
    check_chain(audit_lines(server))


def test_api_list_filters_and_paging(admin, server):
    for _ in range(3):
        admin.login(ADMIN_USER, ADMIN_PASSWORD)
    r = admin.get("/api/v1/audit")
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"items", "next"} and body["next"] is None
    items = body["items"]
    seqs = [i["seq"] for i in items]
    assert seqs == sorted(seqs, reverse=True) and seqs[0] == len(records(server))
    assert items == list(reversed(records(server)))

    # paging walks every record exactly once
    seen, cursor = [], None
    while True:
        q = "/api/v1/audit?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = admin.get(q).json()
        assert len(page["items"]) <= 2
        seen += [i["seq"] for i in page["items"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == seqs

    logins = admin.get("/api/v1/audit?action=user.login&outcome=ok").json()["items"]
    assert len(logins) >= 4 and all(i["action"] == "user.login" and i["outcome"] == "ok" for i in logins)
    prefix = admin.get("/api/v1/audit?action=user.").json()["items"]
    assert all(i["action"].startswith("user.") for i in prefix) and len(prefix) > len(logins)
    system = admin.get("/api/v1/audit?actor=system").json()["items"]
    assert [i["action"] for i in system] == ["server.start"]
    tgt = items[0]["target"] or "user:1"
    assert all(i["target"] == tgt for i in admin.get(f"/api/v1/audit?target={tgt}").json()["items"])

    first_time = records(server)[0]["time"]
    assert admin.get("/api/v1/audit?until=" + first_time).json()["items"] == []
    assert len(admin.get("/api/v1/audit?since=" + first_time).json()["items"]) == len(items)
    assert admin.get("/api/v1/audit?since=4102444800").json()["items"] == []  # 2100-01-01
    assert len(admin.get("/api/v1/audit?since=0&until=4102444800").json()["items"]) == len(items)

    for bad in ("limit=0", "limit=501", "limit=x", "cursor=abc", "cursor=0", "since=yesterday",
                "until=2026-13-01T00:00:00Z", "format=xml", "actor=" + "a" * 300):
        r = admin.get("/api/v1/audit?" + bad)
        assert r.status_code == 400 and error_code(r) == "invalid_parameter", bad
    assert len(admin.get("/api/v1/audit?limit=500").json()["items"]) == len(items)


def test_api_csv_export(admin, server):
    n = len(records(server))
    for url in ("/api/v1/audit?format=csv", "/api/v1/audit/export.csv"):
        r = admin.get(url)
        assert r.status_code == 200, r.text
        assert r.headers["Content-Type"].startswith("text/csv")
        assert r.headers["Content-Disposition"].startswith("attachment; filename=")
        rows = list(csv.DictReader(io.StringIO(r.text)))
        assert list(rows[0].keys()) == ["seq", "time", "actor", "client", "action", "target", "outcome",
                                        "details", "prev", "hash"]
        # oldest first, every record up to the request (the export itself is recorded after)
        assert [int(x["seq"]) for x in rows] == list(range(1, n + 1))
        n += 1
    assert records(server)[-1]["action"] == "audit.export"
    r = admin.get("/api/v1/audit/export.csv?action=user.login")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert rows and all(x["action"] == "user.login" for x in rows)


def test_api_admin_only(admin, server):
    r = admin.post("/api/v1/users", json={"username": "viewer1", "password": "viewer password 12", "role": "viewer"})
    assert r.status_code == 201, r.text
    v = Client(server)
    assert v.login("viewer1", "viewer password 12").status_code == 200
    for url in ("/api/v1/audit", "/api/v1/audit/export.csv", "/api/v1/audit?format=csv"):
        r = v.get(url)
        assert r.status_code == 403 and error_code(r) == "forbidden", (url, r.text)
    created = admin.get("/api/v1/audit?action=user.create").json()["items"]
    assert created and created[0]["actor"] == ADMIN_USER and created[0]["outcome"] == "ok"


def test_sighup_reopens_the_audit_file(admin, server):
    path = audit_files(server)[-1]
    moved = path + ".archived"
    os.rename(path, moved)
    server.proc.send_signal(__import__("signal").SIGHUP)
    wait_for(lambda: "SIGHUP: reopened the audit file" in server.log_text(), what="SIGHUP handled")
    assert admin.login(ADMIN_USER, ADMIN_PASSWORD).status_code == 200
    # the new record went to a fresh file under the month's name, not into the moved one
    wait_for(lambda: os.path.exists(path), what="audit file recreated")
    recs = [json.loads(l) for l in open(path, "rb").read().split(b"\n") if l]
    assert recs and recs[0]["action"] == "user.login"
    old = [json.loads(l) for l in open(moved, "rb").read().split(b"\n") if l]
    assert recs[0]["seq"] == old[-1]["seq"] + 1 and recs[0]["prev"] == old[-1]["hash"]
    # putting the archive back in front restores one verifiable chain
    assert server.stop() == 0
    joined = open(moved, "rb").read() + open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(joined)
    os.unlink(moved)
    r = verify(server.data_dir)
    assert r.returncode == 0, r.stdout


def test_records_cut_off_the_end_are_noticed(stopped):
    """The chain alone cannot see records removed from its end; the head the
    server records in the database can (verify offline, and the next start)."""
    path = audit_files(stopped)[0]
    lines = [l for _, l in audit_lines(stopped)]
    rewrite(path, lines[:-2])
    r = verify(stopped.data_dir)
    assert r.returncode == 1, r.stdout
    assert "database recorded seq 6" in r.stdout and "ends at seq 4" in r.stdout
    stopped.start()
    assert stopped.stop() == 0
    assert "records were removed from its end" in stopped.log_text()
    recs = records(stopped)
    mism = [x for x in recs if x["action"] == "audit.head_mismatch"]
    assert len(mism) == 1 and mism[0]["details"]["recorded_seq"] == 6 and mism[0]["details"]["trail_seq"] == 4
    assert mism[0]["outcome"] == "failed"
    # the fact is now part of the chain, and the trail verifies again
    r = verify(stopped.data_dir)
    assert r.returncode == 0, r.stdout
    check_chain(audit_lines(stopped))


def test_last_record_replaced_is_noticed(stopped):
    """Same seq, different content: a rewritten last record (own hash recomputed)."""
    path = audit_files(stopped)[0]
    lines = [l for _, l in audit_lines(stopped)]
    forged = lines[-1].replace(b'"server.stop"', b'"server.halt"')
    cut = forged.rindex(b',"hash":"')
    lines[-1] = forged[:cut] + b',"hash":"' + hashlib.sha256(forged[:cut]).hexdigest().encode() + b'"}'
    rewrite(path, lines)
    r = verify(stopped.data_dir)
    assert r.returncode == 1 and "database recorded seq 6" in r.stdout, r.stdout
