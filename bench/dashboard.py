#!/usr/bin/python3
"""bench/dashboard.py — dashboard API latency with a large fleet.

Starts bin/restic-manager-server (or --server-bin) in a temporary data
directory, bootstraps an admin, stops it, fills the database directly with
N hosts (repo sizes, tags, last backups) and M job rows (mixed statuses,
finished over the last 60 days), starts the server again and measures the
calls the dashboard makes: GET /api/v1/hosts (first page and a middle
page), GET /api/v1/hosts/{id} and GET /api/v1/fleet/summary.  Prints
p50/p99 per call (DESIGN.md §10: p99 ≤ 20 ms with 10,000 hosts and
1,000,000 jobs) and the query plan of the 24 h failure count.

Usage: bench/dashboard.py [--hosts 10000] [--jobs 1000000] [-n 200]
"""
import argparse
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PW = "bench password 12345"


def start(binary, data, ready):
    if os.path.exists(ready):
        os.unlink(ready)
    env = dict(os.environ, RM_DATA_DIR=data, RM_COOKIE_SECURE="false", RM_LOG_LEVEL="info")
    log = open(os.path.join(os.path.dirname(data), "server.log"), "ab")
    p = subprocess.Popen([binary, "--listen", "127.0.0.1:0", "--ready-file", ready], env=env, stdout=log,
                         stderr=log)
    for _ in range(3000):
        if os.path.exists(ready) and open(ready).read().strip():
            return p, "http://" + open(ready).read().strip()
        if p.poll() is not None:
            sys.exit("server exited early")
        time.sleep(0.01)
    sys.exit("server not ready")


def fill(db, nhosts, njobs):
    c = sqlite3.connect(db)
    now = int(time.time())
    rnd = random.Random(1)
    # Older builds (for comparisons via --server-bin) lack the newer columns.
    newer = {r[1] for r in c.execute("PRAGMA table_info(hosts)")} >= {"repo_size", "check_failed"}
    extra_cols, extra_q = (", repo_size, check_failed", ",?,?") if newer else ("", "")
    c.execute("BEGIN")
    c.executemany(
        "INSERT INTO hosts (id, name, tags, paths, repo_url, repo_secret, status, created_at, last_seen_at, "
        f"last_backup_status, last_backup_at, snapshot_count{extra_cols}) "
        f"VALUES (?,?,?,?,?,x'',?,?,?,?,?,?{extra_q})",
        ((i, f"host-{i:05d}", '["prod","eu"]' if i % 3 else '["dev"]', '["/etc"]', f"/srv/repo/{i}",
          "offline", now - 86400 * 90, now - rnd.randint(0, 3600),
          rnd.choice(["succeeded", "succeeded", "succeeded", "warning", "failed"]), now - rnd.randint(0, 86400 * 3),
          rnd.randint(1, 400)) + ((rnd.randint(1 << 20, 1 << 36), 1 if i % 97 == 0 else 0) if newer else ())
         for i in range(1, nhosts + 1)))
    statuses = ["succeeded"] * 8 + ["failed", "warning"]

    def jobs():
        for i in range(njobs):
            st = statuses[i % len(statuses)]
            fin = now - 86400 * 60 + (86400 * 60 * i) // max(njobs, 1)
            yield (f"{i:032x}", 1 + i % nhosts, "backup", st, "schedule", fin - 60, fin - 55, fin)
    c.executemany("INSERT INTO jobs (id, host_id, kind, status, actor, created_at, started_at, finished_at) "
                  "VALUES (?,?,?,?,?,?,?,?)", jobs())
    c.execute("COMMIT")
    plan = c.execute("EXPLAIN QUERY PLAN SELECT count(*) FROM jobs INDEXED BY jobs_failed_finished "
                     "WHERE status = 'failed' AND finished_at >= ?",
                     (now - 86400,)).fetchall() if newer else [("(older schema)",)]
    c.execute("ANALYZE")
    c.close()
    return plan


def timed(s, url, n):
    t = []
    for _ in range(n):
        a = time.perf_counter()
        r = s.get(url, timeout=30)
        t.append((time.perf_counter() - a) * 1000)
        assert r.status_code == 200, r.text
    t.sort()
    return t[len(t) // 2], t[min(len(t) - 1, int(len(t) * 0.99))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=10000)
    ap.add_argument("--jobs", type=int, default=1000000)
    ap.add_argument("-n", type=int, default=200, help="requests per call")
    ap.add_argument("--server-bin", default=os.path.join(ROOT, "bin", "restic-manager-server"))
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="rm-bench-dash-")
    data = os.path.join(tmp, "data")
    ready = os.path.join(tmp, "ready")
    try:
        p, url = start(a.server_bin, data, ready)
        log = open(os.path.join(tmp, "server.log")).read()
        tok = re.search(r"/bootstrap\?token=([A-Za-z0-9_-]+)", log)
        for _ in range(500):
            if tok:
                break
            time.sleep(0.01)
            tok = re.search(r"/bootstrap\?token=([A-Za-z0-9_-]+)", open(os.path.join(tmp, "server.log")).read())
        r = requests.post(url + "/api/v1/bootstrap", json={"token": tok.group(1), "username": "admin", "password": PW})
        assert r.status_code == 201, r.text
        p.terminate()
        p.wait()
        t0 = time.time()
        plan = fill(os.path.join(data, "restic-manager.db"), a.hosts, a.jobs)
        print(f"filled {a.hosts} hosts, {a.jobs} jobs in {time.time() - t0:.1f} s")
        print("24 h failures plan:", "; ".join(str(x[-1]) for x in plan))
        p, url = start(a.server_bin, data, ready)
        s = requests.Session()
        r = s.post(url + "/api/v1/auth/login", json={"username": "admin", "password": PW})
        assert r.status_code == 200, r.text
        calls = [("hosts (first 100)", "/api/v1/hosts?limit=100"),
                 ("hosts (500 from the middle)", f"/api/v1/hosts?limit=500&cursor={a.hosts // 2}"),
                 ("host detail", f"/api/v1/hosts/{a.hosts // 2}"),
                 ("fleet summary", "/api/v1/fleet/summary")]
        for name, path in calls:
            timed(s, url + path, 5)  # warm
            p50, p99 = timed(s, url + path, a.n)
            print(f"{name:32s} p50 {p50:7.2f} ms   p99 {p99:7.2f} ms")
        print("summary:", s.get(url + "/api/v1/fleet/summary").json())
        p.terminate()
        p.wait()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
