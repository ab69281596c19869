#!/usr/bin/python3
"""bench/agents.py — simulate N agents against a real restic-manager-server.

Starts its own server (bin/restic-manager-server, or --server-bin) in a
temporary data directory, bootstraps an admin, enrols N hosts, then runs N
simulated agents, each on one keep-alive connection speaking protocol v1:
hello (start times spread over --ramp seconds), then a loop of long-poll
(wait=--wait) and an event batch
(--events-per-batch job.log events) after every poll.  Meanwhile a driver
queues --jobs jobs on random hosts and measures how fast the held poll is
answered.  Prints enrolment rate, request latencies (p50/p99) for hello,
immediate polls and event batches, wake-up latency, throughput and the
server's RSS (DESIGN.md §10 budgets: 10,000 agents, p99 ≤ 50 ms, RSS ≤ 256 MB).

Next to each client-side figure it prints the server's own view for the
steady state: the difference of restic_manager_http_request_duration_seconds
and restic_manager_agent_wake_seconds (GET /metrics, RM_METRICS_TOKEN set for
the server it starts) between the start and the end of the steady state,
p50/p99 interpolated inside the histogram buckets.

Usage: bench/agents.py [-n 1000] [--duration 30] [--wait 10] [--procs P]
The client is Python asyncio on the same machine: at high N it, not the
server, is usually the bottleneck — read the server-side columns for the
server's share.  --procs (default 2 from 2,000 agents on) spreads the agents
over P processes, each with its own event loop.
"""
import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
METRICS_TOKEN = "bench-metrics-token-0123456789"
DUR = "restic_manager_http_request_duration_seconds"
WAKE = "restic_manager_agent_wake_seconds"
LAG = "restic_manager_loop_lag_seconds"


def cpu_s(pid):
    """User + system CPU seconds of a process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def scrape_hists(base):
    """{(family, route): {le: cumulative count}} of the server's duration histograms."""
    r = requests.get(base + "/metrics", headers={"Authorization": "Bearer " + METRICS_TOKEN}, timeout=60)
    r.raise_for_status()
    out = {}
    for line in r.text.splitlines():
        if not line.startswith((DUR + "_bucket", WAKE + "_bucket", LAG + "_bucket")):
            continue
        name, _, rest = line.partition("{")
        labels, _, v = rest.rpartition("} ")
        kv = dict(p.split("=", 1) for p in labels.split(","))
        le = kv["le"].strip('"')
        key = (name[:-len("_bucket")], kv.get("route", '""').strip('"'))
        out.setdefault(key, {})[float(le)] = float(v)
    return out


def hist_pct(before, after, key, p):
    """Quantile p (ms) of the observations between two scrapes, linear inside a bucket."""
    a, b = after.get(key, {}), before.get(key, {})
    les = sorted(a)
    cum = [a[le] - b.get(le, 0) for le in les]
    if not cum or cum[-1] <= 0:
        return float("nan"), 0
    want, prev_le, prev_c = p * cum[-1], 0.0, 0.0
    for le, c in zip(les, cum):
        if c >= want:
            if le == float("inf"):
                return prev_le * 1000, int(cum[-1])
            frac = (want - prev_c) / (c - prev_c) if c > prev_c else 1
            return (prev_le + (le - prev_le) * frac) * 1000, int(cum[-1])
        prev_le, prev_c = le, c
    return prev_le * 1000, int(cum[-1])


def pct(v, p):
    if not v:
        return float("nan")
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p))]


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return float("nan")


class Conn:
    """One HTTP/1.1 keep-alive connection (evhttp answers with Content-Length)."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.r = self.w = None

    async def open(self):
        self.r, self.w = await asyncio.open_connection(self.host, self.port)

    async def request(self, method, path, headers, body=None):
        data = json.dumps(body).encode() if body is not None else b""
        head = f"{method} {path} HTTP/1.1\r\nHost: bench\r\n"
        for k, v in headers.items():
            head += f"{k}: {v}\r\n"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
        self.w.write(head.encode() + b"\r\n" + data)
        await self.w.drain()
        status_line = await self.r.readline()
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await self.r.readline()
            if line in (b"\r\n", b""):
                break
            k, _, v = line.decode().partition(":")
            if k.lower() == "content-length":
                length = int(v.strip())
        payload = await self.r.readexactly(length) if length else b""
        return status, payload


class Stats:
    def __init__(self):
        self.hello, self.poll0, self.events, self.wake = [], [], [], []
        self.polls = self.batches = self.errors = 0


async def agent(host, port, token, hid, args, stats, stop, woken):
    await asyncio.sleep(random.uniform(0, args.ramp))  # real fleets are not synchronised
    c = Conn(host, port)
    await c.open()
    hdr = {"X-RM-Protocol": "1", "Authorization": "Bearer " + token}
    t = time.perf_counter()
    st, _ = await c.request("POST", "/api/agent/v1/hello", hdr, {
        "protocol_version": 1, "agent_version": "bench", "os": "linux", "arch": "amd64", "hostname": f"b{hid}",
        "restic_version": "0.14.0", "schedule_version": 0, "running_job_id": None, "last_command_seq": 0})
    stats.hello.append((time.perf_counter() - t) * 1000)
    after, seq = 0, 0
    # One immediate poll (measures request latency without the hold).
    t = time.perf_counter()
    st, _ = await c.request("GET", "/api/agent/v1/commands?after=0&wait=0", hdr)
    stats.poll0.append((time.perf_counter() - t) * 1000)
    job = "%032x" % random.getrandbits(128)
    while not stop.is_set():
        st, body = await c.request("GET", f"/api/agent/v1/commands?after={after}&wait={args.wait}", hdr)
        stats.polls += 1
        if st != 200:
            stats.errors += 1
            await asyncio.sleep(1)
            continue
        cmds = json.loads(body)["commands"]
        if cmds:
            woken[hid] = time.monotonic()
            after = cmds[-1]["seq"]
        evs = []
        for _ in range(args.events_per_batch):
            seq += 1
            evs.append({"seq": seq, "type": "job.log", "time": "2026-01-01T00:00:00Z", "job_id": job,
                        "lines": [{"stream": "stdout", "text": "bench line %d" % seq}]})
        t = time.perf_counter()
        st, _ = await c.request("POST", "/api/agent/v1/events", hdr, {"events": evs})
        stats.events.append((time.perf_counter() - t) * 1000)
        stats.batches += 1
        if st != 200:
            stats.errors += 1
    c.w.close()


async def driver(admin, agents, args, stats, woken):
    loop = asyncio.get_running_loop()
    for _ in range(args.jobs):
        hid = random.choice(agents)[1]
        woken.pop(hid, None)
        t = time.monotonic()
        await loop.run_in_executor(None, lambda: admin.post(
            f"{admin.base}/api/v1/hosts/{hid}/jobs", json={"kind": "snapshots"}, timeout=30))
        deadline = t + 30
        while hid not in woken and time.monotonic() < deadline:
            await asyncio.sleep(0.001)
        if hid in woken:
            stats.wake.append((woken[hid] - t) * 1000)
        await asyncio.sleep(args.duration / max(args.jobs, 1) / 2)


async def shard(args, host, port, agents, stats, stop, woken):
    """Start the agents of one process; return their tasks."""
    tasks = []
    for tok, hid in agents:
        tasks.append(asyncio.create_task(agent(host, port, tok, hid, args, stats, stop, woken)))
        if len(tasks) % 500 == 0:
            await asyncio.sleep(0)
    return tasks


async def shard_main(args, host, port, agents, connected, steady, done, out):
    """A helper process: its agents until the main process says done."""
    stats, stop = Stats(), asyncio.Event()
    tasks = await shard(args, host, port, agents, stats, stop, {})
    while not done.is_set():
        connected.value = len(stats.hello)
        if steady.is_set() and not getattr(stats, "reset", False):
            stats.reset, stats.polls, stats.batches = True, 0, 0
        await asyncio.sleep(0.1)
    stop.set()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    out.put((stats.hello, stats.poll0, stats.events, stats.polls, stats.batches, stats.errors))


def shard_proc(args, host, port, agents, connected, steady, done, out):
    asyncio.run(shard_main(args, host, port, agents, connected, steady, done, out))


async def run(args, host, port, agents, admin, srv_pid):
    stats, stop, woken = Stats(), asyncio.Event(), {}
    procs = args.procs if args.procs else (2 if len(agents) >= 2000 else 1)
    mine = agents[::procs]  # the main process's shard (the driver queues jobs on these)
    ctx = mp.get_context("fork")
    steady, done, out = ctx.Event(), ctx.Event(), ctx.Queue()
    helpers = []
    for i in range(1, procs):
        connected = ctx.Value("i", 0)
        p = ctx.Process(target=shard_proc, args=(args, host, port, agents[i::procs], connected, steady, done, out))
        p.start()
        helpers.append((p, connected))
    loop = asyncio.get_running_loop()
    hstart = await loop.run_in_executor(None, scrape_hists, admin.base)
    t0 = time.perf_counter()
    tasks = await shard(args, host, port, mine, stats, stop, woken)

    def n_connected():
        return len(stats.hello) + sum(c.value for _, c in helpers)
    while n_connected() < len(agents) and time.perf_counter() - t0 < 120 + args.ramp:
        await asyncio.sleep(0.1)
    print(f"{n_connected()} agents connected in {time.perf_counter() - t0:.1f} s over {procs} client "
          f"process(es); server RSS {rss_mb(srv_pid):.1f} MB")
    h0 = await loop.run_in_executor(None, scrape_hists, admin.base)
    stats.polls = stats.batches = 0
    steady.set()
    t1 = time.perf_counter()
    cpu0 = cpu_s(srv_pid)
    await driver(admin, mine, args, stats, woken)
    rest = args.duration - (time.perf_counter() - t1)
    if rest > 0:
        await asyncio.sleep(rest)
    rss = rss_mb(srv_pid)
    elapsed = time.perf_counter() - t1
    cpu = (cpu_s(srv_pid) - cpu0) / elapsed * 100
    h1 = await loop.run_in_executor(None, scrape_hists, admin.base)
    done.set()
    stop.set()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for _ in helpers:
        hello, poll0, events, polls, batches, errors = await loop.run_in_executor(None, out.get)
        stats.hello += hello
        stats.poll0 += poll0
        stats.events += events
        stats.polls += polls
        stats.batches += batches
        stats.errors += errors
    for p, _ in helpers:
        p.join(30)

    def srv(key, since=None):
        p50, n = hist_pct(since or h0, h1, key, .5)
        p99, _ = hist_pct(since or h0, h1, key, .99)
        return f"   server p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  (n={n})"
    print("client-side: whole run; server-side (/metrics): hello and poll over the whole run, the rest "
          "over the steady state")
    print(f"hello            p50 {pct(stats.hello, .5):7.1f} ms   p99 {pct(stats.hello, .99):7.1f} ms"
          + srv((DUR, "agent_hello"), hstart))
    print(f"poll (wait=0)    p50 {pct(stats.poll0, .5):7.1f} ms   p99 {pct(stats.poll0, .99):7.1f} ms"
          + srv((DUR, "agent_poll"), hstart))
    print(f"event batch      p50 {pct(stats.events, .5):7.1f} ms   p99 {pct(stats.events, .99):7.1f} ms"
          + srv((DUR, "agent_events")) + f"  ({args.events_per_batch} events each)")
    print(f"job → poll wake  p50 {pct(stats.wake, .5):7.1f} ms   p99 {pct(stats.wake, .99):7.1f} ms"
          + srv((WAKE, "")) + f"  ({len(stats.wake)}/{args.jobs} jobs)")
    print(f"api (job create) {'':36s}" + srv((DUR, "api")))
    print(f"loop lag (wait before dispatch)      {'':16s}" + srv((LAG, "")))
    print(f"throughput       {stats.polls / elapsed:.0f} polls/s, {stats.batches / elapsed:.0f} batches/s "
          f"({stats.batches * args.events_per_batch / elapsed:.0f} events/s) over {elapsed:.0f} s; "
          f"errors {stats.errors}")
    print(f"server RSS       {rss:.1f} MB with {len(agents)} agents; server CPU {cpu:.0f}% of one core "
          f"in the steady state")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=1000, help="agents")
    ap.add_argument("--duration", type=float, default=30, help="seconds of steady state")
    ap.add_argument("--wait", type=int, default=10, help="long-poll wait (s)")
    ap.add_argument("--events-per-batch", type=int, default=10)
    ap.add_argument("--ramp", type=float, default=10, help="agents start spread over this many seconds")
    ap.add_argument("--jobs", type=int, default=50, help="jobs queued during the run (wake-up latency)")
    ap.add_argument("--procs", type=int, default=0,
                    help="client processes (default: 2 from 2,000 agents on, else 1)")
    ap.add_argument("--server-bin", default=os.path.join(ROOT, "bin", "restic-manager-server"))
    args = ap.parse_args()

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.n + 100 > hard:
        sys.exit(f"open-file limit {hard} is too low for {args.n} agents")
    tmp = tempfile.mkdtemp(prefix="rm-bench-")
    ready = os.path.join(tmp, "ready")
    env = dict(os.environ, RM_DATA_DIR=os.path.join(tmp, "data"), RM_LOG_LEVEL="warn", RM_COOKIE_SECURE="false",
               RM_METRICS_TOKEN=METRICS_TOKEN)
    log = open(os.path.join(tmp, "server.log"), "wb")
    srv = subprocess.Popen([args.server_bin, "--listen", "127.0.0.1:0", "--ready-file", ready, "--log-level", os.environ.get("BENCH_SERVER_LOG", "info")],
                           env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while not os.path.exists(ready):
            if srv.poll() is not None or time.monotonic() > deadline:
                sys.exit("server did not start; see " + tmp)
            time.sleep(0.02)
        addr = open(ready).read().strip()
        base = "http://" + addr
        import re
        deadline = time.monotonic() + 10
        m = None
        while not m and time.monotonic() < deadline:
            m = re.search(r"/bootstrap\?token=([A-Za-z0-9_-]+)", open(os.path.join(tmp, "server.log")).read())
            time.sleep(0.02)
        admin = requests.Session()
        admin.base = base
        admin.post(base + "/api/v1/bootstrap", json={"token": m.group(1), "username": "bench",
                                                      "password": "bench password 123"}).raise_for_status()
        tok = admin.post(base + "/api/v1/auth/login", json={"username": "bench", "password": "bench password 123"})
        admin.headers["X-CSRF-Token"] = tok.json()["csrf_token"]
        t0 = time.perf_counter()
        agents = []
        enrol = requests.Session()
        for i in range(args.n):
            t = admin.post(base + "/api/v1/enrollment-tokens",
                           json={"hostname": f"bench-{i}", "repository": {"url": "/r", "password": "x" * 16}})
            r = enrol.post(base + "/api/agent/v1/enroll", headers={"X-RM-Protocol": "1"},
                           json={"token": t.json()["token"], "protocol_version": 1, "hostname": f"bench-{i}"})
            r.raise_for_status()
            agents.append((r.json()["agent_token"], r.json()["host_id"]))
        dt = time.perf_counter() - t0
        print(f"enrolled {args.n} hosts in {dt:.1f} s ({args.n / dt:.0f}/s, token + enrol each)")
        host, port = addr.rsplit(":", 1)
        asyncio.run(run(args, host, int(port), agents, admin, srv.pid))
    finally:
        srv.terminate()
        srv.wait(timeout=30)
        if os.environ.get("BENCH_KEEP"):
            print("kept", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
