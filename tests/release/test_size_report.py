"""`make size-report` (scripts/size-report.py): prints every agent's size and the
idle RSS of the running linux-amd64 agent against their budgets (2 MB, 4 MB), and
fails when either is over (or the RSS cannot be measured).  The passing run with
the real budgets is a step of scripts/check.d/release.sh; here the budgets are
shrunk (RM_SIZE_BUDGET, RM_RSS_BUDGET_KB) to see each failure for real."""
import os
import re
import sys

from conftest import AGENTS_DIR, ROOT, need, run

SCRIPT = os.path.join(ROOT, "scripts", "size-report.py")


def agents():
    return [need(os.path.join(AGENTS_DIR, n), "make agents")
            for n in ("restic-manager-agent-linux-amd64", "restic-manager-agent-linux-arm64")]


def report(env=None, args=None):
    return run([sys.executable, SCRIPT] + (args if args is not None else agents()),
               env=dict(os.environ, **(env or {})), timeout=180)


def test_within_budgets_passes_and_prints_sizes_and_rss():
    r = report()
    assert r.returncode == 0, r.stdout + r.stderr
    for a in agents():
        m = re.search(re.escape(os.path.basename(a)) + r"\s+(\d+)\s+[\d.]+\s+ok", r.stdout)
        assert m and int(m.group(1)) == os.path.getsize(a), r.stdout
    m = re.search(r"idle RSS of restic-manager-agent-linux-amd64 .*: (\d+) kB VmRSS .* budget 4096 kB: ok", r.stdout)
    assert m and 0 < int(m.group(1)) <= 4096, r.stdout


def test_rss_over_budget_fails():
    r = report(env={"RM_RSS_BUDGET_KB": "64"})
    assert r.returncode == 1, r.stdout + r.stderr
    assert re.search(r"kB VmRSS .* budget 64 kB: OVER", r.stdout), r.stdout
    assert "FAILED" in r.stderr


def test_size_over_budget_fails():
    r = report(env={"RM_SIZE_BUDGET": "100000"}, args=agents()[1:])  # arm64 only: no RSS run needed
    assert r.returncode == 1
    assert re.search(r"restic-manager-agent-linux-arm64\s+\d+\s+[\d.]+\s+OVER", r.stdout), r.stdout
