"""The hook's pure parts: tool -> action mapping, the input digest, the host answers, finding the socket,
and the agent side's imports.

What would be wrong if these failed: a tool gated as the wrong kind (an Edit as `other`, an MCP call
not as mcp.call), a glob escaping the project unseen, an outcome whose digest cannot match its
request's, an answer the host cannot parse, or a hook that looks for the daemon somewhere else than
the daemon listens.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from forge_tui.hooks.actions import input_digest, map_tool
from forge_tui.hooks.answers import claude_decision, deny_text, gemini_decision, json_string
from forge_tui.hooks.dialects import HookInputError, parse_event

ROOT = "/srv/proj"


def kind_of(host: str, tool: str, args: dict) -> str:
    return map_tool(host, tool, args, cwd=ROOT, root=ROOT).action["kind"]


@pytest.mark.parametrize(
    ("tool", "args", "kind"),
    [
        ("Read", {"file_path": f"{ROOT}/a.py"}, "file.read"),
        ("Glob", {"pattern": "**/*.py"}, "file.read"),
        ("Grep", {"pattern": "TODO", "path": "src"}, "file.read"),
        ("LS", {"path": ROOT}, "file.read"),
        ("Edit", {"file_path": f"{ROOT}/a.py", "old_string": "a", "new_string": "b"}, "file.write"),
        ("Write", {"file_path": f"{ROOT}/a.py", "content": "x"}, "file.write"),
        ("MultiEdit", {"file_path": f"{ROOT}/a.py", "edits": []}, "file.write"),
        ("NotebookEdit", {"notebook_path": f"{ROOT}/n.ipynb", "new_source": "x"}, "file.write"),
        ("Bash", {"command": "ls"}, "shell.exec"),
        ("WebFetch", {"url": "https://docs.python.org/3/", "prompt": "x"}, "net.fetch"),
        ("WebSearch", {"query": "python"}, "net.fetch"),
        ("mcp__github__create_issue", {"title": "x"}, "mcp.call"),
        ("TodoWrite", {"todos": []}, "other"),
        ("SomethingNew", {}, "other"),
        ("Bash", {}, "other"),  # a shell call without a command is never a harmless shell.exec
    ],
)
def test_claude_code_tools_map_to_kinds(tool: str, args: dict, kind: str) -> None:
    assert kind_of("claude-code", tool, args) == kind


@pytest.mark.parametrize(
    ("tool", "args", "kind"),
    [
        ("run_shell_command", {"command": "ls"}, "shell.exec"),
        ("read_file", {"absolute_path": f"{ROOT}/a"}, "file.read"),
        ("write_file", {"file_path": f"{ROOT}/a", "content": "x"}, "file.write"),
        ("replace", {"file_path": f"{ROOT}/a", "old_string": "a", "new_string": "b"}, "file.write"),
        ("glob", {"pattern": "*"}, "file.read"),
        ("web_fetch", {"prompt": "summarise https://pypi.org/project/x/ please"}, "net.fetch"),
        ("save_memory", {"fact": "x"}, "other"),
    ],
)
def test_gemini_tools_map_to_kinds(tool: str, args: dict, kind: str) -> None:
    assert kind_of("gemini", tool, args) == kind


def test_fields_of_the_action() -> None:
    a = map_tool("gemini", "web_fetch", {"prompt": "read https://pypi.org/x now"}, cwd=ROOT, root=ROOT).action
    assert a["url"] == "https://pypi.org/x"
    b = map_tool("claude-code", "Bash", {"command": "pytest -q", "description": "tests"}, cwd=ROOT, root=ROOT)
    assert b.action["command"] == "pytest -q" and b.action["summary"] == "tests"
    c = map_tool("codex", "Bash", {"command": ["bash", "-lc", "git status"]}, cwd=ROOT, root=ROOT)
    assert c.action["command"] == "git status"
    d = map_tool("claude-code", "Grep", {"pattern": "x", "path": "src"}, cwd=ROOT, root=ROOT)
    assert d.action["paths"] == [f"{ROOT}/src"]


def test_a_glob_that_climbs_out_names_where_it_reads() -> None:
    a = map_tool("claude-code", "Glob", {"pattern": "../../etc/*"}, cwd=ROOT, root=ROOT).action
    assert "/etc/*" in a["paths"] and ROOT in a["paths"]
    b = map_tool("claude-code", "Glob", {"pattern": "/home/*/.ssh/*"}, cwd=ROOT, root=ROOT).action
    assert "/home/*/.ssh/*" in b["paths"]


def test_codex_apply_patch_is_a_write_of_its_files() -> None:
    patch = (
        "*** Begin Patch\n*** Update File: src/a.py\n@@\n-x\n+y\n*** Add File: b.txt\n+hi\n*** End Patch\n"
    )
    m = map_tool("codex", "apply_patch", {"input": patch}, cwd=ROOT, root=ROOT)
    assert m.action["kind"] == "file.write"
    assert m.action["paths"] == [f"{ROOT}/src/a.py", f"{ROOT}/b.txt"]
    assert m.content == {"kind": "diff", "text": patch}


def test_an_edit_is_shown_as_a_diff_of_the_whole_file(tmp_path) -> None:
    f = tmp_path / "a.txt"
    f.write_text("one\ntwo\nthree\n")
    m = map_tool(
        "claude-code",
        "Edit",
        {"file_path": str(f), "old_string": "two", "new_string": "2"},
        cwd=None,
        root=str(tmp_path),
    )
    assert m.content is not None
    assert "-two\n+2\n" in m.content["text"] and " one\n" in m.content["text"]
    assert "a/a.txt" in m.content["text"]


def test_a_file_outside_the_project_is_never_read_for_the_diff(tmp_path) -> None:
    outside = tmp_path / "secret"
    outside.write_text("TOKEN=hunter2\n")
    root = tmp_path / "proj"
    root.mkdir()
    m = map_tool(
        "claude-code", "Write", {"file_path": str(outside), "content": "x\n"}, cwd=None, root=str(root)
    )
    assert m.content is not None and "hunter2" not in m.content["text"]


def test_the_digest_is_the_same_for_the_same_input_in_any_key_order() -> None:
    assert input_digest("Bash", {"a": 1, "b": "x"}) == input_digest("Bash", {"b": "x", "a": 1})
    assert input_digest("Bash", {"command": "ls"}) != input_digest("Bash", {"command": "ls "})
    assert input_digest("Bash", {"command": "ls"}) != input_digest("Read", {"command": "ls"})


@given(st.text())
def test_json_string_round_trips_any_text(text: str) -> None:
    out = json_string(text)
    assert out.encode("utf-8")  # never a lone surrogate on the wire
    back = json.loads(out)
    assert back == text


def test_answers_parse_in_each_hosts_shape() -> None:
    c = json.loads(claude_decision("PreToolUse", "deny", 'no "quotes"\n'))
    assert c["hookSpecificOutput"]["permissionDecision"] == "deny"
    assert json.loads(gemini_decision("allow", "ok")) == {"decision": "allow", "reason": "ok"}
    assert json.loads(deny_text("gemini", "r"))["decision"] == "deny"
    assert json.loads(deny_text("codex", "r"))["hookSpecificOutput"]["permissionDecision"] == "deny"
    perm = json.loads(deny_text("claude-code", "r", "PermissionRequest"))
    assert perm["hookSpecificOutput"]["decision"] == {"behavior": "deny", "message": "r"}


def test_parse_event_refuses_what_it_cannot_judge() -> None:
    with pytest.raises(HookInputError):
        parse_event("claude-code", {"hook_event_name": "UserPromptSubmit", "tool_name": "x"})
    with pytest.raises(HookInputError):
        parse_event("gemini", {"hook_event_name": "PreToolUse", "tool_name": "x"})  # Claude's name
    with pytest.raises(HookInputError):
        parse_event("claude-code", {"hook_event_name": "PreToolUse"})
    ev = parse_event("gemini", {"hook_event_name": "BeforeTool", "tool_name": "glob", "session_id": "s"})
    assert ev.phase == "pre" and ev.session == "s"


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"FORGE_RUNTIME_DIR": "/tmp/fr-x"},
        {"FORGE_SOCKET": "/tmp/fr-y/a.sock"},
        {"XDG_RUNTIME_DIR": "/nonexistent-xdg"},
    ],
)
def test_the_hook_finds_the_socket_where_the_daemon_listens(project, monkeypatch, env: dict) -> None:
    from forge_tui.hooks import agent as locate
    from forge_tui.paths import socket_path

    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert os.fsdecode(locate.socket_path()) == str(socket_path(project.project_id))


def test_the_hook_finds_the_project_from_claude_project_dir(project, tmp_path, monkeypatch) -> None:
    from forge_tui.hooks import agent as locate

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CLAUDE_PROJECT_DIR", str(project.root))
    assert locate.project_root() == os.fsencode(str(project.root))
    assert locate.project_id(locate.project_root()) == project.project_id


def test_the_agent_side_imports_only_built_in_modules() -> None:
    """The hook starts once per tool call: on the allowed path, run.py loads agent.py alone (no package
    `__init__`, no other forge-tui file) and nothing but `_socket` and `binascii` besides."""
    from forge_tui.hooks.settings import HOOK_SCRIPT

    code = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "sys.argv = ['run.py', 'nothing']\n"
        f"exec(compile(open({str(HOOK_SCRIPT)!r}).read(), {str(HOOK_SCRIPT)!r}, 'exec'), "
        "{'__name__': 'launcher', '__file__': " + repr(str(HOOK_SCRIPT)) + ", '__package__': None})\n"
        "print(' '.join(sorted(set(sys.modules) - before)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert "agent" in out, out
    assert not [m for m in out if m.startswith("forge_tui")], out
    others = set(out) - {"agent"}
    assert others <= {"_socket", "binascii", "posix"}, others


def test_the_hooks_spelling_of_the_protocol_agrees_with_the_protocol() -> None:
    """agent.py spells the few names it needs itself (importing forge_tui.protocol would load two more
    files at every tool call): they must be the protocol's."""
    from forge_tui import hooks, protocol
    from forge_tui.hooks import agent

    assert (agent.HOOK_RUN, agent.MAX_LINE) == (protocol.HOOK_RUN, protocol.MAX_LINE)
    assert (agent.HOSTS, agent.EXIT_ALLOW, agent.EXIT_BLOCK) == (
        hooks.HOSTS,
        hooks.EXIT_ALLOW,
        hooks.EXIT_BLOCK,
    )
