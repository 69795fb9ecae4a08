"""One decision function: the gate (`Policy.evaluate`) and `policy explain` (`decide` in the gate's
context) agree, built-ins bind every request, and explain's parts say what decided."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from forge_tui.cli import main
from forge_tui.core.policy import CACHES, Context, decide, parse_policy
from forge_tui.core.policy.model import ACTION_KINDS
from forge_tui.daemon import gate

EDIT = b"""\
version = 1
default = "ask"
[[rule]]
id = "edit-project"
match = { kind = "file.write", paths = ["**", "/**"] }
decision = "allow"
[[rule]]
id = "search-tools"
match = { tool = ["Glob", "Grep", "LS"] }
decision = "allow"
[[rule]]
id = "read-project"
match = { kind = "file.read", paths = ["**"] }
decision = "allow"
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "proj"
    forge = root / ".forge"
    forge.mkdir(parents=True)
    (forge / "policy.toml").write_bytes(EDIT)
    (forge / "project.toml").write_text('project_id = "00000000-0000-4000-8000-000000000000"\nname = "t"\n')
    monkeypatch.chdir(root)
    monkeypatch.setenv("FORGE_DATA_DIR", str(tmp_path / "data"))
    CACHES.clear()
    return root


def _explain(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    assert main(["policy", "explain", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_another_projects_ledger_is_denied_by_gate_and_explain(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """If this fails, an agent may write another project's authoritative ledger under the data folder,
    or explain and the gate disagree about it (issue 12)."""
    other = tmp_path / "data" / "projects" / "11111111-1111-4111-8111-111111111111" / "ledger.jsonl"
    action = {"kind": "file.write", "tool": "Write", "paths": [str(other)]}
    policy = parse_policy(EDIT)
    # The gate's call, with the folders the daemon passes for its own project only.
    own = (tmp_path / "data" / "keys", tmp_path / "data" / "projects" / "0000")
    ev = policy.evaluate(action, project_root=project, actor_kind="agent", protected_dirs=own)
    assert (ev.decision, ev.rule) == ("deny", "builtin:protect-forge")
    out = _explain(capsys, "--kind", "file.write", "--tool", "Write", "--path", str(other))
    assert (out["decision"], out["rule"]) == ("deny", "builtin:protect-forge")
    # ...and the parts say the same: the path is denied by the built-in rule, not "allow <- edit-project".
    assert [(p["text"], p["decision"], p["rule"]) for p in out["parts"]] == [
        (str(other), "deny", "builtin:protect-forge")
    ]


def test_explain_parts_name_the_builtin_for_a_command(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """If this fails, explain says "deny (builtin)" on top and "allow" for the part that did it."""
    out = _explain(
        capsys, "--kind", "shell.exec", "--command", "git log -1 --format=%B --output=.forge/reviewers.toml"
    )
    assert (out["decision"], out["rule"]) == ("deny", "builtin:protect-forge")
    assert out["parts"][-1]["decision"] == "deny" and out["parts"][-1]["rule"] == "builtin:protect-forge"


@pytest.mark.parametrize("kind", ["agent", "human", "ci"])
def test_builtins_apply_whatever_the_actor_claims(project: Path, kind: str) -> None:
    """If this fails, `forge-tui request` (actor kind human by default) may rewrite the policy."""
    ev = parse_policy(EDIT).evaluate(
        {"kind": "file.write", "paths": [".forge/policy.toml"]}, project_root=project, actor_kind=kind
    )
    assert (ev.decision, ev.rule) == ("deny", "builtin:protect-forge")


@pytest.mark.parametrize(
    "action",
    [
        {"kind": "shell.exec", "tool": "Grep", "command": "rm -rf src"},
        {"kind": "file.read", "tool": "Grep", "paths": ["src/a.py"], "command": "curl x | sh"},
        {"kind": "file.write", "tool": "Grep", "paths": ["/etc/passwd"]},
    ],
)
def test_a_tool_rule_never_allows_content_that_says_otherwise(project: Path, action: dict) -> None:
    """If this fails, an action labelled tool "Grep" (or kind file.read) runs any command it carries."""
    policy = parse_policy(EDIT.replace(b'"/**"', b""))
    ev = decide(policy, action, Context.for_project(project))
    assert ev.decision == "ask", ev


def test_decide_is_pure_in_its_context(project: Path) -> None:
    """If this fails, re-evaluating a recorded action under its recorded policy can give another answer."""
    policy = parse_policy(EDIT)
    ctx = Context(project, frozenset(), (project.parent / "data",), resolve_links=False)
    action = {"kind": "shell.exec", "command": "pytest --basetemp=../data"}
    first = decide(policy, action, ctx)
    CACHES.clear()
    assert decide(policy, action, ctx) == first
    assert (first.decision, first.rule) == ("deny", "builtin:protect-forge")


def test_the_gate_validates_against_the_one_list_of_kinds() -> None:
    """If this fails, the gate and the policy loader disagree about which action kinds exist."""
    assert gate.ACTION_KINDS is ACTION_KINDS
