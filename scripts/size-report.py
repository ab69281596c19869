#!/usr/bin/env python3
"""size-report.py AGENT... — `make size-report`: each agent's size against the
2 MB budget (DESIGN.md §10), then the idle RSS of the static linux-amd64 agent
(budget 4 MB), measured for real: a server on port 0, an enrolment token, the
agent enrolled into a scratch directory and running; once the server shows the
host online the agent's VmRSS is sampled over a few idle seconds.

Exit status: 1 if an agent is over its size budget, if the idle RSS is over its
budget, or if the RSS could not be measured (a budget nobody checks is no budget).
RM_SIZE_BUDGET (bytes) and RM_RSS_BUDGET_KB override the budgets (tests use tiny
ones to see the report fail).
"""
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZE_BUDGET = int(os.environ.get("RM_SIZE_BUDGET") or 2 * 1024 * 1024)
RSS_BUDGET_KB = int(os.environ.get("RM_RSS_BUDGET_KB") or 4 * 1024)


def sizes(paths):
    over = False
    print(f"{'agent':<42} {'bytes':>9} {'MiB':>6}  budget {SIZE_BUDGET / 1048576:.2f} MiB")
    for p in paths:
        n = os.path.getsize(p)
        ok = n <= SIZE_BUDGET
        over |= not ok
        print(f"{os.path.basename(p):<42} {n:>9} {n / 1048576:>6.2f}  {'ok' if ok else 'OVER'}")
    return over


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


def status_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


def idle_rss(agent):
    """(over_budget_or_unmeasured, report line)."""
    ok, line = measure_rss(agent)
    return not ok, line


def measure_rss(agent):
    """(True, line) when measured within budget; (False, line) otherwise."""
    import requests  # from python3-requests (scripts/deps.sh test)
    server_bin = next((p for p in (os.path.join(ROOT, "bin/restic-manager-server"),
                                   os.path.join(ROOT, "build/server-static/amd64/restic-manager-server"))
                       if os.path.exists(p)), None)
    if not server_bin:
        return False, "not measured: no server binary (make server-static TARGET=amd64 or make build)"
    with tempfile.TemporaryDirectory(prefix="rm-size-") as tmp:
        ready = os.path.join(tmp, "ready")
        env = dict(os.environ, RM_DATA_DIR=os.path.join(tmp, "data"), RM_COOKIE_SECURE="false",
                   RM_BUNDLED_ASSETS_DIR=os.path.join(tmp, "none"))
        log = open(os.path.join(tmp, "server.log"), "w+")
        srv = subprocess.Popen([server_bin, "--listen", "127.0.0.1:0", "--ready-file", ready],
                               env=env, stdout=log, stderr=log)
        agent_proc = None
        try:
            wait_for(lambda: os.path.exists(ready) and open(ready).read().strip(), 30, "server")
            url = "http://" + open(ready).read().strip()

            def boot():
                log.seek(0)
                return re.search(r"/bootstrap\?token=([A-Za-z0-9_-]+)", log.read())
            tok = wait_for(boot, 30, "bootstrap url").group(1)
            s = requests.Session()
            r = s.post(url + "/api/v1/bootstrap", json={"token": tok, "username": "admin", "password": "size report pw 1"})
            r = s.post(url + "/api/v1/auth/login", json={"username": "admin", "password": "size report pw 1"})
            if r.status_code != 200:
                return False, f"not measured: login failed ({r.status_code})"
            s.headers["X-CSRF-Token"] = r.json()["csrf_token"]
            r = s.post(url + "/api/v1/enrollment-tokens",
                       json={"hostname": "size-report", "repository": {"url": os.path.join(tmp, "repo")}, "paths": [tmp]})
            if r.status_code != 201:
                return False, f"not measured: the server cannot mint enrolment tokens yet ({r.status_code})"
            et = r.json()["token"]
            dirs = ["--config-dir", os.path.join(tmp, "conf"), "--state-dir", os.path.join(tmp, "state")]
            e = subprocess.run([agent, "enroll", "--server", url, "--token", et] + dirs,
                               capture_output=True, text=True, timeout=60)
            if e.returncode != 0:
                return False, f"not measured: enroll failed: {e.stderr.strip()[:200]}"
            alog = open(os.path.join(tmp, "agent.log"), "w")
            agent_proc = subprocess.Popen([agent, "run"] + dirs, stdout=alog, stderr=alog)

            def online():
                h = s.get(url + "/api/v1/hosts").json().get("items", [])
                return h and h[0].get("status") == "online"
            wait_for(online, 60, "host online")
            samples = []
            for _ in range(20):  # 3 s of idle long-polling
                if agent_proc.poll() is not None:
                    return False, "not measured: the agent exited"
                samples.append(status_kb(agent_proc.pid, "VmRSS"))
                time.sleep(0.15)
            hwm = status_kb(agent_proc.pid, "VmHWM")
            rss = max(samples)
            verdict = "ok" if rss <= RSS_BUDGET_KB else "OVER"
            return rss <= RSS_BUDGET_KB, f"{rss} kB VmRSS (peak {hwm} kB VmHWM), budget {RSS_BUDGET_KB} kB: {verdict}"
        except Exception as ex:  # the report must always finish
            return False, f"not measured: {ex}"
        finally:
            for p in (agent_proc, srv):
                if p and p.poll() is None:
                    p.terminate()
                    try:
                        p.wait(timeout=20)
                    except subprocess.TimeoutExpired:
                        p.kill()


def main():
    paths = sys.argv[1:]
    over = sizes(paths)
    servers = [(a, os.path.join(ROOT, "build/server-static", a, "restic-manager-server")) for a in ("amd64", "arm64")]
    servers = [(a, p) for a, p in servers if os.path.exists(p)]
    if servers:
        agents_total = sum(os.path.getsize(p) for p in paths)
        for a, p in servers:
            n = os.path.getsize(p)
            print(f"{'server-static ' + a:<42} {n:>9} {n / 1048576:>6.2f}  "
                  f"(image payload with the agents: {(n + agents_total) / 1048576:.2f} MiB uncompressed; budget 25 MB compressed)")
    linux = [p for p in paths if p.endswith("linux-amd64")]
    if linux:
        bad, line = idle_rss(linux[0])
        over |= bad
        print(f"idle RSS of {os.path.basename(linux[0])} (running, enrolled, long-polling): {line}")
    else:
        over = True
        print("idle RSS: not measured: no linux-amd64 agent given")
    if over:
        print("size-report: FAILED (over budget or not measured)", file=sys.stderr)
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
