"""`init --claude-code|--codex|--gemini` and `doctor`.

What would be wrong if these failed: init clobbers a user's settings, duplicates its own hooks, leaves
a half-made project behind, or cannot integrate an existing project (the bug this replaces: "integration
not available" after creating .forge/, then a second init refusing); doctor passes a setup in which
the host would run no hook (invalid JSON, a string timeout, disableAllHooks, a missing command, a
matcher that misses MCP tools, a timeout below the approval timeout).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from forge_tui.hooks.settings import HOOK_SCRIPT, entry_argv, split_guard


def settings(root: Path, rel: str) -> dict:
    return json.loads((root / rel).read_text())


def test_init_with_claude_code_creates_project_and_hooks(tmp_path, run_cli) -> None:
    code, out, err = run_cli("init", "--claude-code", str(tmp_path))
    assert code == 0, err
    assert (tmp_path / ".forge" / "project.toml").is_file()
    doc = settings(tmp_path, ".claude/settings.json")
    for event in ("PreToolUse", "PostToolUse", "PostToolUseFailure"):
        (group,) = doc["hooks"][event]
        assert group["matcher"] == "*"
        (entry,) = group["hooks"]
        assert entry["command"] == "/bin/sh" and entry["args"][0] == "-c"  # exec form, our own shell
        argv, guarded = split_guard(entry_argv(entry))
        assert guarded, "a missing interpreter must block (exit 2), not let the tool run"
        assert Path(argv[0]).is_absolute()
        assert argv[1:5] == ["-I", "-S", str(HOOK_SCRIPT), "claude-code"]
        assert entry["timeout"] == 600 + 60  # the solo pack's approval timeout + 60 s
        assert float(argv[argv.index("--deadline") + 1]) < entry["timeout"]


def test_integration_on_an_existing_project_keeps_the_users_settings(tmp_path, run_cli) -> None:
    assert run_cli("init", str(tmp_path))[0] == 0
    claude = tmp_path / ".claude"
    claude.mkdir()
    mine = {
        "model": "opus",
        "permissions": {"deny": ["Bash(rm:*)"]},
        "hooks": {
            "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "/bin/true"}]}]
        },
    }
    (claude / "settings.json").write_text(json.dumps(mine))
    for _ in range(2):  # a second run updates, never duplicates
        code, out, err = run_cli("init", "--claude-code", str(tmp_path))
        assert code == 0, err
    doc = settings(tmp_path, ".claude/settings.json")
    assert doc["model"] == "opus" and doc["permissions"] == mine["permissions"]
    groups = doc["hooks"]["PreToolUse"]
    assert groups[0] == mine["hooks"]["PreToolUse"][0]
    assert len(groups) == 2 and str(HOOK_SCRIPT) in entry_argv(groups[1]["hooks"][0])


def test_codex_and_gemini_settings(tmp_path, run_cli) -> None:
    code, _, err = run_cli("init", "--codex", "--gemini", str(tmp_path))
    assert code == 0, err
    codex = settings(tmp_path, ".codex/hooks.json")["hooks"]
    assert set(codex) == {"PreToolUse", "PostToolUse"}
    entry = codex["PreToolUse"][0]["hooks"][0]
    assert codex["PreToolUse"][0]["matcher"] == ".*" and entry["timeout"] == 660
    assert f"-I -S {HOOK_SCRIPT} codex --deadline" in entry["command"]
    assert entry["command"].endswith("|| exit 2")
    gemini = settings(tmp_path, ".gemini/settings.json")["hooks"]
    assert set(gemini) == {"BeforeTool", "AfterTool"}
    assert gemini["BeforeTool"][0]["hooks"][0]["timeout"] == 660_000  # Gemini counts milliseconds


def test_a_bad_settings_file_stops_init_before_anything_is_made(tmp_path, run_cli) -> None:
    (tmp_path / ".claude").mkdir()
    (tmp_path / ".claude" / "settings.json").write_text("{not json")
    code, _, err = run_cli("init", "--claude-code", str(tmp_path))
    assert code == 2 and "not valid JSON" in err
    assert not (tmp_path / ".forge").exists(), "a failed integration left a half-made project"
    assert (tmp_path / ".claude" / "settings.json").read_text() == "{not json"
    (tmp_path / ".claude" / "settings.json").write_text("{}")
    assert run_cli("init", "--claude-code", str(tmp_path))[0] == 0  # and then it works


def test_plain_init_still_refuses_an_existing_project(tmp_path, run_cli) -> None:
    assert run_cli("init", str(tmp_path))[0] == 0
    code, _, err = run_cli("init", str(tmp_path))
    assert code == 2 and "already exists" in err


# ---- doctor --------------------------------------------------------------------------------------


@pytest.fixture
def integrated(tmp_path, run_cli, monkeypatch) -> Path:
    assert run_cli("init", "--claude-code", str(tmp_path))[0] == 0
    monkeypatch.chdir(tmp_path)
    return tmp_path


def failing(run_cli) -> list[str]:
    code, out, _ = run_cli("doctor", "--json")
    checks = json.loads(out)
    fails = [f"{c['item']}: {c['detail']}" for c in checks if c["status"] == "FAIL"]
    assert code == (1 if fails else 0)
    return fails


def test_doctor_on_a_fresh_integration_fails_only_the_daemon(integrated, run_cli) -> None:
    fails = failing(run_cli)
    assert len(fails) == 1 and fails[0].startswith("daemon")


def _edit(root: Path, fn) -> None:
    path = root / ".claude" / "settings.json"
    doc = json.loads(path.read_text())
    fn(doc)
    path.write_text(json.dumps(doc))


def _moved(line: str) -> str:
    """The hook's command line with its interpreter gone (forge-tui moved, another machine's path)."""
    return "/nonexistent/python3 " + line.split(" ", 1)[1]


def _first(doc: dict, event: str = "PreToolUse") -> dict:
    return doc["hooks"][event][-1]["hooks"][0]


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        (lambda d: _first(d).update(timeout="660"), "timeout is not a number"),
        (lambda d: _first(d).update(timeout=30), "not above the hook's deadline"),
        (
            lambda d: _first(d)["args"].__setitem__(1, _moved(_first(d)["args"][1])),
            "does not exist",
        ),
        (
            lambda d: _first(d)["args"].__setitem__(1, _first(d)["args"][1].replace(" || exit 2", "")),
            "no `|| exit 2`",
        ),
        (
            lambda d: d["hooks"]["PreToolUse"][-1].update(matcher="Bash|Edit|Write|Read|WebFetch"),
            "misses mcp__",
        ),
        (lambda d: d.update(disableAllHooks=True), "disableAllHooks"),
        (lambda d: d["hooks"].pop("PostToolUse"), "no forge-tui hook"),
    ],
    ids=[
        "string-timeout",
        "low-timeout",
        "missing-command",
        "no-guard",
        "matcher-misses-mcp",
        "disabled",
        "no-post",
    ],
)
def test_doctor_finds_what_makes_the_host_skip_the_gate(integrated, run_cli, breakage, expected) -> None:
    _edit(integrated, breakage)
    assert any(expected in f for f in failing(run_cli)), failing(run_cli)


def test_doctor_finds_invalid_json_and_a_local_override(integrated, run_cli) -> None:
    (integrated / ".claude" / "settings.local.json").write_text('{"disableAllHooks": true}')
    assert any("settings.local.json" in f and "disableAllHooks" in f for f in failing(run_cli))
    (integrated / ".claude" / "settings.json").write_text('{"hooks": ')
    assert any("not valid JSON" in f and "runs no hook" in f for f in failing(run_cli))


def test_doctor_outside_a_project_is_a_usage_error(tmp_path, run_cli, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli("doctor")
    assert code == 2 and "forge-tui init" in err


def test_doctor_with_a_running_daemon_passes(integrated, run_cli) -> None:
    from forge_tui.core.project import find_project
    from forge_tui.daemon.spawn import start_daemon, stop_daemon
    from forge_tui.paths import socket_path

    project = find_project(integrated)
    proc = start_daemon(integrated, socket_path(project.project_id), log_path=integrated.parent / "d.log")
    try:
        assert failing(run_cli) == []
    finally:
        stop_daemon(proc)


@pytest.mark.parametrize("host", ["claude-code", "codex", "gemini"])
def test_a_missing_interpreter_blocks_instead_of_letting_the_tool_run(tmp_path, host) -> None:
    """Run an entry the way the host does, after forge-tui moved: exit 2 (block), never 127."""
    import subprocess

    from forge_tui.hooks.settings import HOSTS, hook_entry

    entry = hook_entry(HOSTS[host], 600)
    line = entry["args"][1] if "args" in entry else entry["command"]
    moved = line.replace(entry_argv(entry)[0], str(tmp_path / "gone" / "python3"), 1)
    r = subprocess.run(["/bin/sh", "-c", moved], input=b"{}", capture_output=True, timeout=30)
    assert r.returncode == 2


def test_doctor_tells_sandboxing_from_what_the_daemon_saw_not_from_the_environment(
    integrated, run_cli, monkeypatch
) -> None:
    """Broken if doctor believed FORGE_SANDBOX (any agent can set it) or missed an unsandboxed agent."""
    from forge_tui.client import Client
    from forge_tui.core.project import find_project
    from forge_tui.daemon.spawn import start_daemon, stop_daemon
    from forge_tui.paths import socket_path

    project = find_project(integrated)
    sock = socket_path(project.project_id)
    proc = start_daemon(integrated, sock, log_path=integrated.parent / "d.log")
    try:

        def sandbox_check() -> dict:
            code, out, _ = run_cli("doctor", "--json")
            return next(c for c in json.loads(out) if c["item"] == "sandbox")

        assert "no agent request yet" in sandbox_check()["detail"]
        with Client(sock, client="test") as c:  # this test process is not sandboxed
            c.call(
                "gate.request", {"action": {"kind": "file.read", "paths": ["README"]}, "actor": {"id": "a"}}
            )
        monkeypatch.setenv("FORGE_SANDBOX", "bwrap")  # a claim an agent could make
        check = sandbox_check()
        assert check["status"].upper() == "WARN"
        assert "1 of 1 agent requests" in check["detail"] and "outside a sandbox" in check["detail"]
    finally:
        stop_daemon(proc)
