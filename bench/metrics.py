#!/usr/bin/python3
"""bench/metrics.py — GET /metrics with a large fleet.

Seeds the database like bench/dashboard.py (N hosts, M job rows; its start()
and fill() are reused), then gives every host what a real fleet has: its last
backup job (with a restic summary: data_added, total_duration) and repository
stats (raw size, check result, locks).  Starts the server with a metrics
token and measures:

  * the scrape: p50/p99 wall time, body size, series, and the server's own
    restic_manager_metrics_build_seconds (read + format on the worker pool);
  * the event loop meanwhile: GET /healthz latency (p50/p99/max) from another
    thread while scrapes run back to back — the body is built off the loop,
    so this should stay at its idle figure.

Usage: bench/metrics.py [--hosts 10000] [--jobs 1000000] [-n 30]
"""
import argparse
import json
import os
import random
import re
import shutil
import sqlite3
import sys
import tempfile
import multiprocessing
import time

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dashboard  # noqa: E402  (start, fill)

TOKEN = "bench-metrics-token-0123456789"


def enrich(db, nhosts, njobs):
    """Last backup job with a summary and repo stats for every host."""
    c = sqlite3.connect(db)
    rnd = random.Random(2)
    now = int(time.time())
    c.execute("BEGIN")
    rows = []
    for h in range(1, min(nhosts, njobs) + 1):
        # dashboard.fill: job i belongs to host 1 + i % nhosts; the newest is the highest i
        i = h - 1 + ((njobs - h) // nhosts) * nhosts
        jid = f"{i:032x}"
        summary = {"message_type": "summary", "files_new": rnd.randint(0, 500), "data_added": rnd.randint(0, 1 << 30),
                   "total_duration": rnd.uniform(5, 3600), "snapshot_id": f"{rnd.getrandbits(256):064x}"}
        rows.append((json.dumps(summary), jid, jid, h))
    c.executemany("UPDATE jobs SET summary = ? WHERE id = ?", [(s, j) for s, j, _, _ in rows])
    c.executemany("UPDATE hosts SET last_backup_job_id = ? WHERE id = ?", [(j, h) for _, _, j, h in rows])
    c.executemany(
        "INSERT OR REPLACE INTO repo_stats (host_id, body, updated_at) VALUES (?,?,?)",
        ((h, json.dumps({"raw_size": rnd.randint(1 << 20, 1 << 36), "snapshots_count": rnd.randint(1, 400),
                         "check": {"ok": h % 97 != 0, "time": "2026-11-25T00:00:00Z", "message": "no errors"},
                         "locks": [] if h % 50 else [{"id": "ab12", "hostname": f"host-{h:05d}", "pid": 42,
                                                      "exclusive": False}]}), now)
         for h in range(1, nhosts + 1)))
    c.execute("COMMIT")
    c.close()


def probe_healthz(url, n):
    hs = requests.Session()
    out = []
    for _ in range(n):
        b = time.perf_counter()
        assert hs.get(url + "/healthz", timeout=30).status_code == 200
        out.append((time.perf_counter() - b) * 1000)
    return out


def probe_loop(url, stop, q):
    hs = requests.Session()
    out = []
    while not stop.is_set():
        b = time.perf_counter()
        assert hs.get(url + "/healthz", timeout=30).status_code == 200
        out.append((time.perf_counter() - b) * 1000)
        time.sleep(0.002)
    q.put(out)


def pct(t, p):
    t = sorted(t)
    return t[min(len(t) - 1, int(len(t) * p))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=10000)
    ap.add_argument("--jobs", type=int, default=1000000)
    ap.add_argument("-n", type=int, default=30, help="scrapes")
    ap.add_argument("--server-bin", default=os.path.join(dashboard.ROOT, "bin", "restic-manager-server"))
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="rm-bench-metrics-")
    data = os.path.join(tmp, "data")
    ready = os.path.join(tmp, "ready")
    os.environ["RM_METRICS_TOKEN"] = TOKEN
    try:
        p, url = dashboard.start(a.server_bin, data, ready)
        p.terminate()
        p.wait()
        t0 = time.time()
        dashboard.fill(os.path.join(data, "restic-manager.db"), a.hosts, a.jobs)
        enrich(os.path.join(data, "restic-manager.db"), a.hosts, a.jobs)
        print(f"filled {a.hosts} hosts, {a.jobs} jobs in {time.time() - t0:.1f} s")
        p, url = dashboard.start(a.server_bin, data, ready)
        s = requests.Session()
        s.headers["Authorization"] = "Bearer " + TOKEN
        for _ in range(3):  # warm: page cache, the reader connection, statement
            assert s.get(url + "/metrics", timeout=60).status_code == 200

        # the loop's latency while scrapes run back to back, probed from another
        # process (a thread here would share the GIL with the scrape's reading)
        idle = probe_healthz(url, 300)
        stop = multiprocessing.Event()
        q = multiprocessing.Queue()
        pr = multiprocessing.Process(target=probe_loop, args=(url, stop, q))
        pr.start()
        wall, bodies = [], []
        for _ in range(a.n):
            b = time.perf_counter()
            r = s.get(url + "/metrics", timeout=60)
            wall.append((time.perf_counter() - b) * 1000)
            assert r.status_code == 200, r.text
            bodies.append(r.content)
        stop.set()
        hz = q.get(timeout=60)
        pr.join()
        build = []
        for body in bodies:
            m = re.search(rb"^restic_manager_metrics_build_seconds (\S+)$", body, re.M)
            build.append(float(m.group(1)) * 1000)
        text = bodies[-1].decode()
        size = len(bodies[-1])
        series = sum(1 for ln in text.splitlines() if ln and not ln.startswith("#"))
        print(f"body {size / 1e6:.1f} MB, {series} series")
        print(f"scrape wall time       p50 {pct(wall, .5):7.1f} ms   p99 {pct(wall, .99):7.1f} ms")
        print(f"build (worker)         p50 {pct(build, .5):7.1f} ms   p99 {pct(build, .99):7.1f} ms")
        print(f"/healthz idle          p50 {pct(idle, .5):7.2f} ms   p99 {pct(idle, .99):7.2f} ms")
        print(f"/healthz during scrapes p50 {pct(hz, .5):6.2f} ms   p99 {pct(hz, .99):7.2f} ms   "
              f"max {max(hz):.2f} ms  ({len(hz)} probes)")
        m = re.search(r"^restic_manager_process_resident_memory_bytes (\S+)$", text, re.M)
        print(f"server RSS after the scrapes {float(m.group(1)) / 1e6:.0f} MB")
        p.terminate()
        p.wait()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
