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


# ---- every item of the checklist, each with its fix ----------------------------------------------


def doctor_checks(run_cli) -> dict[str, dict]:
    """doctor --json as {item: check} (the last check of each item)."""
    _, out, _ = run_cli("doctor", "--json")
    return {c["item"]: c for c in json.loads(out)}


def _ledger_file(root: Path) -> Path:
    (path,) = (root / ".forge" / "ledger").glob("*.jsonl")
    return path


def test_every_finding_says_how_to_fix_it(tmp_path, run_cli, monkeypatch) -> None:
    """Broken if an item of the issue's checklist is missing from doctor or a finding leaves the user
    with no fix: no daemon, no key, a ledger that does not verify, a local settings file that Claude
    Code cannot read, no managed settings, an untrusted Codex project, agents not known to be sandboxed."""
    from forge_tui.core.keys import ledger_key_path
    from forge_tui.core.project import find_project

    assert run_cli("init", "--claude-code", "--codex", "--gemini", str(tmp_path))[0] == 0
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CODEX_HOME", str(tmp_path.parent / "codex-home"))
    for var in ("GEMINI_CLI_HOME", "GEMINI_CLI_TRUSTED_FOLDERS_PATH", "CLAUDE_CONFIG_DIR"):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / ".claude" / "settings.local.json").write_text("{broken")
    ledger = _ledger_file(tmp_path)
    ledger.write_bytes(ledger.read_bytes().replace(b'"name":"', b'"name":"x', 1))
    ledger_key_path(find_project(tmp_path).local_ledger_id()).unlink()
    code, out, _ = run_cli("doctor", "--json")
    assert code == 1
    checks = json.loads(out)
    status = {c["item"]: c["status"] for c in checks}
    for item in (
        "daemon",
        "ledger key",
        "ledger",
        f"Claude Code ({tmp_path / '.claude' / 'settings.local.json'})",
    ):
        assert status[item] == "FAIL", (item, status)
    for item in (
        "Claude Code managed settings",
        "Codex CLI project trust",
        "Gemini CLI folder trust",
        "sandbox",
    ):
        assert status[item] == "warn", (item, status)
    assert status["policy"] == "ok"
    for host in (
        "Claude Code (.claude/settings.json)",
        "Codex CLI (.codex/hooks.json)",
        "Gemini CLI (.gemini/settings.json)",
    ):
        assert any(item.startswith(host) and s == "ok" for item, s in status.items()), host
    unfixed = [c for c in checks if c["status"] != "ok" and not (c["fix"] or "").strip()]
    assert not unfixed, unfixed
    assert "managed-settings.json" in next(
        c["fix"] for c in checks if c["item"] == "Claude Code managed settings"
    )


def test_doctor_fails_a_policy_that_does_not_load(integrated, run_cli) -> None:
    (integrated / ".forge" / "policy.toml").write_text('version = 1\ndefault = "sometimes"\n')
    check = doctor_checks(run_cli)["policy"]
    assert check["status"] == "FAIL" and "policy.toml:2" in check["detail"] and check["fix"]


def test_doctor_fails_hooks_whose_deadline_the_approval_timeout_outgrew(integrated, run_cli) -> None:
    """The policy's approval timeout raised after init: a reviewer's wait would outlast the hook's
    deadline (the call is denied while the reviewer still looks) and perhaps the host's timeout."""
    policy = integrated / ".forge" / "policy.toml"
    policy.write_text(policy.read_text().replace('approval_timeout = "10m"', 'approval_timeout = "30m"'))
    assert 'approval_timeout = "30m"' in policy.read_text()
    fails = failing(run_cli)
    assert any("is not above the approval timeout (1800 s)" in f for f in fails), fails


def test_doctor_reads_codex_project_trust(tmp_path, run_cli, monkeypatch) -> None:
    assert run_cli("init", "--codex", str(tmp_path))[0] == 0
    monkeypatch.chdir(tmp_path)
    home = tmp_path.parent / "codex-home"
    home.mkdir()
    monkeypatch.setenv("CODEX_HOME", str(home))
    check = doctor_checks(run_cli)["Codex CLI project trust"]
    assert check["status"] == "warn" and "not trusted" in check["detail"] and "--trust" in check["fix"]
    (home / "config.toml").write_text(f'[projects."{tmp_path.resolve()}"]\ntrust_level = "untrusted"\n')
    assert doctor_checks(run_cli)["Codex CLI project trust"]["status"] == "warn"
    (home / "config.toml").write_text(
        f'model = "x"\n\n[projects."{tmp_path.resolve()}"]\ntrust_level = "trusted"\n'
    )
    check = doctor_checks(run_cli)["Codex CLI project trust"]
    assert check["status"] == "ok" and "trust the hooks themselves" in check["detail"]


@pytest.mark.parametrize("where", ["user", "user-local", "config-dir"])
def test_doctor_finds_disable_all_hooks_in_the_users_settings(
    integrated, run_cli, monkeypatch, where
) -> None:
    """Claude Code layers the user's settings (~/.claude, or $CLAUDE_CONFIG_DIR) with the project's:
    disableAllHooks in any of them switches the project's hooks off."""
    monkeypatch.delenv("CLAUDE_CONFIG_DIR", raising=False)
    folder = Path.home() / ".claude"
    if where == "config-dir":
        folder = integrated.parent / "claude-config"
        monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(folder))
    folder.mkdir(parents=True, exist_ok=True)
    name = "settings.local.json" if where == "user-local" else "settings.json"
    (folder / name).write_text('{"disableAllHooks": true}')
    try:
        assert any(str(folder / name) in f and "disableAllHooks" in f for f in failing(run_cli))
    finally:
        (folder / name).unlink()


def test_doctor_reads_gemini_folder_trust(tmp_path, run_cli, monkeypatch) -> None:
    """Gemini CLI loads no project settings, hence no hook, in a folder it does not trust."""
    assert run_cli("init", "--gemini", str(tmp_path))[0] == 0
    monkeypatch.chdir(tmp_path)
    for var in ("GEMINI_CLI_HOME", "GEMINI_CLI_TRUSTED_FOLDERS_PATH"):
        monkeypatch.delenv(var, raising=False)
    gemini = Path.home() / ".gemini"
    gemini.mkdir()
    here = str(tmp_path.resolve())

    def check(rules: dict | None) -> dict:
        if rules is not None:
            (gemini / "trustedFolders.json").write_text(json.dumps(rules))
        return doctor_checks(run_cli)["Gemini CLI folder trust"]

    untrusted = check(None)
    assert untrusted["status"] == "warn" and "not trusted" in untrusted["detail"]
    assert here in untrusted["fix"] and "GEMINI_CLI_TRUST_WORKSPACE" in untrusted["fix"]
    assert check({here: "TRUST_FOLDER"})["status"] == "ok"
    assert check({str(tmp_path.parent / "x"): "TRUST_PARENT"})["status"] == "ok"  # trusts the parent
    assert check({str(tmp_path.parent): "TRUST_FOLDER", here: "DO_NOT_TRUST"})["status"] == "warn"
    assert check({str(tmp_path.parent / "other"): "TRUST_FOLDER"})["status"] == "warn"
    (gemini / "trustedFolders.json").unlink()
    (gemini / "settings.json").write_text('{"security": {"folderTrust": {"enabled": false}}}')
    assert check(None)["status"] == "ok"


def _failing_write(monkeypatch, fail_on: str) -> None:
    """Make the settings writer fail on the file named `fail_on` (a full disk, a read-only folder)."""
    from forge_tui.hooks import settings as settings_mod

    real = settings_mod.atomic_write

    def write(path, data, *a, **kw):
        if Path(path).name == fail_on and b"forge_tui/hooks/run.py" in data:
            raise OSError(28, "No space left on device", str(path))
        return real(path, data, *a, **kw)

    monkeypatch.setattr(settings_mod, "atomic_write", write)


def test_a_settings_write_that_fails_leaves_no_half_made_project(tmp_path, run_cli, monkeypatch) -> None:
    """Broken if, after init fails on the second host's file, a .forge/, the first host's hooks, a
    .gitattributes, the project's private state or its ledger key stay behind."""
    from forge_tui.paths import data_root

    (tmp_path / ".gitattributes").write_bytes(b"*.png binary\n")
    (tmp_path / ".codex").mkdir()
    (tmp_path / ".codex" / "hooks.json").write_text('{"hooks": {}, "mine": 1}')
    _failing_write(monkeypatch, "settings.json")  # .gemini/settings.json, written after .codex/hooks.json
    code, _, err = run_cli("init", "--codex", "--gemini", str(tmp_path))
    assert code == 2 and "nothing was initialised" in err, err
    assert not (tmp_path / ".forge").exists()
    assert (tmp_path / ".gitattributes").read_bytes() == b"*.png binary\n"
    assert json.loads((tmp_path / ".codex" / "hooks.json").read_text()) == {"hooks": {}, "mine": 1}
    assert not (tmp_path / ".gemini" / "settings.json").exists()
    assert not list((data_root() / "projects").iterdir()), "the project's private state stayed"
    assert not [p for p in data_root().rglob("*.key")], "a ledger key for no ledger stayed"


def test_a_failed_forced_init_gives_the_old_project_back(tmp_path, run_cli, monkeypatch) -> None:
    from forge_tui.core.project import find_project

    assert run_cli("init", str(tmp_path))[0] == 0
    old_id = find_project(tmp_path).project_id
    _failing_write(monkeypatch, "settings.json")
    code, _, err = run_cli("init", "--force", "--claude-code", str(tmp_path))
    assert code == 2, err
    assert find_project(tmp_path).project_id == old_id, "the project --force replaced did not come back"
    assert not list(tmp_path.glob(".forge.bak-*"))
    assert not (tmp_path / ".claude" / "settings.json").exists()


def test_hooks_on_an_existing_project_are_written_all_or_none(integrated, run_cli, monkeypatch) -> None:
    _edit(integrated, lambda d: d["hooks"]["PreToolUse"][-1].update(matcher="Bash"))  # init would fix it
    before = (integrated / ".claude" / "settings.json").read_bytes()
    _failing_write(monkeypatch, "hooks.json")  # .codex/hooks.json, written after .claude/settings.json
    code, _, err = run_cli("init", "--claude-code", "--codex", str(integrated))
    assert code == 2 and "No space left" in err and "unchanged" in err, err
    assert (integrated / ".claude" / "settings.json").read_bytes() == before
    assert not (integrated / ".codex" / "hooks.json").exists()


def test_doctor_reads_claudes_managed_settings(integrated, run_cli, monkeypatch) -> None:
    """Managed settings outrank the project's: they can hold the gate for good, or switch it off."""
    from forge_tui.hooks import checks

    managed = integrated.parent / "managed-settings.json"
    monkeypatch.setattr(checks, "MANAGED_SETTINGS", (managed,))
    project_hooks = settings(integrated, ".claude/settings.json")["hooks"]

    def check(doc: dict) -> dict:
        managed.write_text(json.dumps(doc))
        return next(
            c
            for c in json.loads(run_cli("doctor", "--json")[1])
            if c["item"].startswith("Claude Code managed")
        )

    assert check({"hooks": project_hooks, "allowManagedHooksOnly": True})["status"] == "ok"
    only = check({"allowManagedHooksOnly": True, "hooks": {}})
    assert only["status"] == "FAIL" and "ignores the project's hooks" in only["detail"] and only["fix"]
    off = check({"hooks": project_hooks, "disableAllHooks": True})
    assert off["status"] == "FAIL" and "disableAllHooks" in off["detail"]
    assert check({"model": "x"})["status"] == "warn"


@pytest.mark.parametrize(
    ("flag", "rel", "event"),
    [("--codex", ".codex/hooks.json", "PreToolUse"), ("--gemini", ".gemini/settings.json", "BeforeTool")],
)
def test_codex_and_gemini_merges_keep_the_users_settings(tmp_path, run_cli, flag, rel, event) -> None:
    assert run_cli("init", str(tmp_path))[0] == 0
    mine_group = {"matcher": "write_file", "hooks": [{"type": "command", "command": "/bin/true"}]}
    mine = {"security": {"auth": {"selectedType": "gemini-api-key"}}, "hooks": {event: [mine_group]}}
    (tmp_path / rel).parent.mkdir()
    (tmp_path / rel).write_text(json.dumps(mine))
    for _ in range(2):  # a second run updates, never duplicates
        code, _, err = run_cli("init", flag, str(tmp_path))
        assert code == 0, err
    doc = settings(tmp_path, rel)
    assert doc["security"] == mine["security"]
    groups = doc["hooks"][event]
    assert groups[0] == mine_group and len(groups) == 2
    assert str(HOOK_SCRIPT) in groups[1]["hooks"][0]["command"]
