"""`forge-tui query` and `forge-tui trace` over the ledgerkit template (layout in ledgerkit.py)."""

from __future__ import annotations

import csv
import io
import json
import subprocess

import pytest
from ledgerkit import build_template, copy_world, data_dir_env

from forge_tui.cli import main


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    base = tmp_path_factory.mktemp("qt-tpl")
    build_template(base)
    return base


@pytest.fixture
def world(template, tmp_path):
    return copy_world(template, tmp_path / "w")


def cli(world, capsys, *args) -> tuple[int, str]:
    with data_dir_env(world.data):
        code = main(["-C", str(world.root), *args])
    return code, capsys.readouterr().out


def seqs_jsonl(out: str) -> list[int]:
    return [json.loads(line)["seq"] for line in out.strip().split("\n") if line]


def test_query_filters_and_formats(world, capsys):
    assert seqs_jsonl(cli(world, capsys, "query", "--type", "request", "--format", "jsonl")[1]) == [2, 5, 11]
    assert seqs_jsonl(cli(world, capsys, "query", "--reviewer", "alice", "--format", "jsonl")[1]) == [7]
    assert seqs_jsonl(cli(world, capsys, "query", "--request", "r-2", "--format", "jsonl")[1]) == [
        5,
        6,
        7,
        8,
        9,
    ]
    out = cli(world, capsys, "query", "--status", "denied", "--type", "decision", "--format", "jsonl")[1]
    assert seqs_jsonl(out) == [12]
    assert cli(world, capsys, "query", "--reviewer", "bob", "--format", "jsonl")[1] == ""
    assert cli(world, capsys, "query", "--requirement", "JIRA-1", "--format", "jsonl")[1] == ""
    code, out = cli(world, capsys, "query", "--rule", "push", "--format", "csv")
    rows = list(csv.reader(io.StringIO(out)))
    assert code == 0 and rows[0][:3] == ["ledger", "seq", "ts"]
    assert [r[1] for r in rows[1:]] == ["6", "8"]
    code, out = cli(world, capsys, "query", "--type", "approval")
    assert code == 0 and "alice" in out and "r-2" in out
    assert main(["-C", str(world.root), "query", "--type", "nosuchtype"]) == 2


def git(root, *args: str) -> str:
    res = subprocess.run(
        ["git", "-c", "user.name=Dev", "-c", "user.email=dev@example.com", "-C", str(root), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def test_trace_forwards_from_a_request_and_backwards_from_a_commit(world, capsys):
    root = world.root
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "project")
    (root / "deploy.sh").write_text("echo deploy\n")
    git(root, "add", "deploy.sh")
    git(root, "commit", "-q", "-m", "push it\n\nForge-Request: r-2")
    sha = git(root, "rev-parse", "HEAD")
    code, out = cli(world, capsys, "trace", "r-2", "--json")
    assert code == 0
    (chain,) = json.loads(out)["chains"]
    assert [d["seq"] for d in chain["decisions"]] == [6, 8]
    assert [(a["seq"], a["reviewer"], a["signature"]) for a in chain["approvals"]] == [(7, "alice", "valid")]
    assert [o["seq"] for o in chain["outcomes"]] == [9]
    assert [c["sha"] for c in chain["commits"]] == [sha]
    code, out = cli(world, capsys, "trace", sha[:10])
    assert code == 0
    assert "requests r-2" in out and "approval seq 7" in out and "signature valid" in out
    code, out = cli(world, capsys, "trace", "deploy.sh", "--json")
    hist = json.loads(out)
    assert code == 0 and hist["kind"] == "path" and [c["requests"] for c in hist["commits"]] == [["r-2"]]
    assert cli(world, capsys, "trace", "no/such/thing")[0] == 1


def test_trace_flags_an_approval_whose_signature_does_not_verify(world, capsys):
    world.edit_line(7, b'"reason":"fine"', b'"reason":"fina"')
    code, out = cli(world, capsys, "trace", "r-2", "--json")
    (chain,) = json.loads(out)["chains"]
    assert chain["approvals"][0]["signature"].startswith("invalid")


def test_blame_tells_agent_made_lines_from_hand_made_ones(world, capsys):
    root = world.root
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "project")
    (root / "app.py").write_text("by hand 1\nby hand 2\n")
    git(root, "add", "app.py")
    git(root, "commit", "-q", "-m", "written by hand")
    (root / "app.py").write_text("by hand 1\nby the agent\nby the agent too\n")
    git(root, "add", "app.py")
    git(root, "commit", "-q", "-m", "agent edit\n\nForge-Request: r-2")
    (root / "app.py").write_text("by hand 1\nby the agent\nby the agent too\nghost\n")
    git(root, "add", "app.py")
    git(root, "commit", "-q", "-m", "claims a request\n\nForge-Request: r-ghost")
    code, out = cli(world, capsys, "blame", "app.py", "--json")
    assert code == 0
    got = [
        (r["start"], r["end"], (r["request"] or {}).get("request_id"), r["unknown"]) for r in json.loads(out)
    ]
    assert got == [(1, 1, None, []), (2, 3, "r-2", []), (4, 4, None, ["r-ghost"])]
    agent = json.loads(out)[1]["request"]
    assert agent["agent"] == "claude-code" and agent["reviewers"] == ["alice"] and agent["rule"] == "push"
    code, out = cli(world, capsys, "blame", "app.py")
    assert "no recorded action" in out.split("\n")[0] and "request r-2 allowed by reviewers" in out
    assert main(["-C", str(root), "blame", "nope.py"]) == 2
