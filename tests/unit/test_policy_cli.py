"""`forge-tui policy check|explain`, run in-process through cli.main."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from forge_tui.cli import main

GOOD = b"""\
version = 1
default = "ask"
[[rule]]
id = "tests"
match = { kind = "shell.exec", command = ["pytest*"] }
decision = "allow"
[[rule]]
id = "no-force-push"
match = { command = ["git push --force*", "git push -f*"] }
decision = "deny"
reason = "force pushes rewrite shared history"
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    forge = tmp_path / ".forge"
    forge.mkdir()
    (forge / "policy.toml").write_bytes(GOOD)
    (forge / "project.toml").write_text('project_id = "00000000-0000-4000-8000-000000000000"\nname = "t"\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FORGE_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


def test_check_valid_file(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """If this fails, `policy check` does not confirm a valid policy in the documented format."""
    f = project / ".forge" / "policy.toml"
    assert main(["policy", "check", str(f)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"ok: {f} (2 rules, digest ") and len(out.split("digest ")[1].strip(")\n")) == 12


def test_check_reports_the_line_of_a_bad_rule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """If this fails, `policy check` does not exit 2 with a one-line "<path>:<line>:<col>:" error."""
    bad = tmp_path / "bad.toml"
    bad.write_text('version = 1\n\n[[rule]]\nid = "x"\nmatch = { kind = "deploy" }\ndecision = "yes"\n')
    assert main(["policy", "check", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert f"{bad}:6:1: rule 'x': decision must be one of" in err


def test_check_syntax_error_position(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """If this fails, a TOML syntax error loses the line/column tomllib gave."""
    bad = tmp_path / "bad.toml"
    bad.write_text("version = 1\ndefault = = 1\n")
    assert main(["policy", "check", str(bad)]) == 2
    assert f"{bad}:2:" in capsys.readouterr().err


def test_check_defaults_to_the_project_policy(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """If this fails, `policy check` with no FILE does not find .forge/policy.toml of the project."""
    (project / "sub").mkdir()
    assert main(["-C", str(project / "sub"), "policy", "check"]) == 0
    assert "policy.toml (2 rules" in capsys.readouterr().out


def test_check_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """If this fails, a missing policy file is not a clean configuration error (exit 2)."""
    assert main(["policy", "check", str(tmp_path / "none.toml")]) == 2
    assert "no such policy file" in capsys.readouterr().err


def test_explain_text(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """If this fails, explain does not show the decision, deciding rule, matches and parts."""
    assert main(["policy", "explain", "--kind", "shell.exec", "--command", "pytest -q && git push -f"]) == 0
    out = capsys.readouterr().out
    assert "decision: deny" in out and "rule:     no-force-push" in out
    assert "force pushes rewrite shared history" in out
    assert "tests (allow): " in out and "no-force-push (deny): " in out
    assert "1. allow pytest -q" in out and "2. deny  git push -f" in out


def test_explain_json_from_file(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """If this fails, `--action @file --json` does not give a machine-readable decision."""
    f = project / "a.json"
    f.write_text(json.dumps({"kind": "shell.exec", "command": "pytest; rm -rf x"}))
    assert main(["policy", "explain", "--action", f"@{f}", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["decision"], out["rule"], out["approvals"]) == ("ask", None, 1)
    assert [(p["text"], p["decision"]) for p in out["parts"]] == [("pytest", "allow"), ("rm -rf x", "ask")]
    assert out["distinct_from"] == ["requester"]


def test_explain_builtin_and_bad_json(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """If this fails, explain hides built-in denials or crashes on bad JSON instead of exiting 2."""
    assert (
        main(["policy", "explain", "--action", '{"kind": "file.write", "paths": [".forge/policy.toml"]}'])
        == 0
    )
    assert "rule:     builtin:protect-forge" in capsys.readouterr().out
    assert main(["policy", "explain", "--action", "{nope"]) == 2
    assert "--action is not valid JSON" in capsys.readouterr().err
    assert main(["policy", "explain"]) == 2
