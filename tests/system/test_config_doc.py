"""docs/configuration.md documents every option: its generated block is exactly
`restic-manager-server --help-markdown`, and every option of `--help` is in it."""
import os
import re
import subprocess

from conftest import ROOT, SERVER_BIN

DOC = os.path.join(ROOT, "docs", "configuration.md")
BEGIN = "<!-- BEGIN GENERATED: restic-manager-server --help-markdown -->\n"
END = "<!-- END GENERATED -->\n"


def run(*args):
    return subprocess.run([SERVER_BIN, *args], capture_output=True, text=True, check=True, timeout=30).stdout


def test_generated_block_matches_help_markdown():
    doc = open(DOC, encoding="utf-8").read()
    assert doc.count(BEGIN) == 1 and doc.count(END) == 1
    block = doc.split(BEGIN, 1)[1].split(END, 1)[0]
    assert block == run("--help-markdown"), "docs/configuration.md is stale: run scripts/gen-config-doc.sh"


def test_every_help_option_is_documented():
    helptext = run("--help")
    doc = open(DOC, encoding="utf-8").read()
    envs = set(re.findall(r"\bRM_[A-Z_]+\b", helptext))
    flags = set(re.findall(r"^\s+--([a-z-]+)", helptext, re.M)) - {"help", "version", "help-markdown"}
    assert "RM_BUNDLED_ASSETS_DIR" in envs and len(envs) >= 11
    for e in envs:
        assert f"`{e}`" in doc, e
    for f in flags:
        assert f"`--{f}`" in doc, f
    # the override mechanism for bundled agents is explained
    assert "$RM_DATA_DIR/agent-binaries/" in doc
