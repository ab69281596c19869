"""scripts/release-tags.sh, table-driven (DESIGN.md §9): which image tags and which
version a tag push or a manual dispatch produces; malformed input is an error."""
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "release-tags.sh")
IMG = "gitea.example.org/ops/restic-manager"
SHA = "3f9c2a1d8e7b6c5a4f3e2d1c0b9a8f7e6d5c4b3a"


def run(*args):
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, timeout=10)


CASES = [
    ("push", "v0.3.1", "0.3.1", ["v0.3.1", "0.3", "0"]),
    ("push", "v1.0.0", "1.0.0", ["v1.0.0", "1.0", "1", "latest"]),
    ("push", "v2.10.3", "2.10.3", ["v2.10.3", "2.10", "2", "latest"]),
    ("push", "v10.0.0", "10.0.0", ["v10.0.0", "10.0", "10", "latest"]),
    ("push", "v0.0.0", "0.0.0", ["v0.0.0", "0.0", "0"]),
    ("workflow_dispatch", "main", "0.0.0-snapshot-3f9c2a1", ["snapshot-3f9c2a1"]),
    ("workflow_dispatch", "v1.2.3", "0.0.0-snapshot-3f9c2a1", ["snapshot-3f9c2a1"]),
]


@pytest.mark.parametrize("event, ref, version, tags", CASES)
def test_tags(event, ref, version, tags):
    r = run(event, ref, SHA, IMG)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    # Exactly two lines, in this order, fit for $GITHUB_OUTPUT.
    assert r.stdout == f"version={version}\ntags={','.join(IMG + ':' + t for t in tags)}\n"


@pytest.mark.parametrize("ref", ["v0.3.1", "v0.99.99", "v0.0.1"])
def test_never_latest_before_1_0(ref):
    r = run("push", ref, SHA, IMG)
    assert r.returncode == 0
    assert ":latest" not in r.stdout


def test_dispatch_is_snapshot_only():
    r = run("workflow_dispatch", "v3.0.0", SHA, IMG)
    assert r.returncode == 0
    tags = r.stdout.splitlines()[1].removeprefix("tags=").split(",")
    assert tags == [IMG + ":snapshot-3f9c2a1"]


BAD = [
    ("push", "v1.2", SHA, IMG),
    ("push", "1.2.3", SHA, IMG),
    ("push", "v1.2.3-rc1", SHA, IMG),
    ("push", "v1.2.3.4", SHA, IMG),
    ("push", "v01.2.3", SHA, IMG),
    ("push", "v1..3", SHA, IMG),
    ("push", "va.b.c", SHA, IMG),
    ("push", "", SHA, IMG),
    ("push", "main", SHA, IMG),
    ("pull_request", "v1.2.3", SHA, IMG),
    ("", "v1.2.3", SHA, IMG),
    ("push", "v1.2.3", "abc", IMG),
    ("push", "v1.2.3", "ZZZZZZZZZZ", IMG),
    ("push", "v1.2.3", SHA, ""),
]


@pytest.mark.parametrize("args", BAD)
def test_rejects(args):
    r = run(*args)
    assert r.returncode != 0
    assert r.stdout == ""
    assert "release-tags:" in r.stderr


def test_wrong_argument_count():
    r = run("push", "v1.2.3", SHA)
    assert r.returncode != 0 and r.stdout == "" and "usage" in r.stderr
