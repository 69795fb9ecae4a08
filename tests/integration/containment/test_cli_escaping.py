"""Every CLI output escapes agent text (issue 7 §7): `request`, `policy explain`, `log`, `query` and
`trace` print control (ESC sequences, BEL), C1 (0x9b, a one-byte CSI) and bidi (U+202E) characters as
visible escapes through forge_tui.textsafe, so an agent's command, path or summary cannot repaint the
reviewer's terminal or reorder what it shows. JSON outputs stay JSON that decodes to the very values
the ledger holds."""

from __future__ import annotations

import json

from gatehelp import run_cli, spawn_daemon, wait_for_socket

from forge_tui.client import Client

POLICY = 'version = 1\ndefault = "ask"\napproval_timeout = "10m"\n'
CLEAR = "\x1b[2J\x1b]0;pwned\x07"  # clear the screen, set the window title
HOSTILE = f"{CLEAR}\u202e\x9b"
COMMAND = f"make {HOSTILE}"
PATH = "src/\u202eyp.exe\x9b.py"
SUMMARY = f"run the tests{CLEAR}"
RAW = ("\x1b", "\x07", "\u202e", "\x9b")


def assert_escaped(text: str, what: str) -> None:
    """No raw hostile character, and the text did show (escaped) what the agent sent."""
    raw = [repr(ch) for ch in RAW if ch in text]
    assert not raw, f"{what} printed raw {', '.join(raw)}"
    assert "\\x1b" in text or "\\u001b" in text, f"{what} dropped the agent's text instead of escaping it"
    assert "\\u202e" in text, f"{what} does not show the bidi override as an escape"


def holds(value, wanted: str) -> bool:
    """Whether the decoded JSON `value` holds the string `wanted` anywhere."""
    if isinstance(value, dict):
        return any(holds(v, wanted) for v in value.values())
    if isinstance(value, list):
        return any(holds(v, wanted) for v in value)
    return value == wanted


def seed(w) -> str:
    """Requests holding the hostile strings, through a real daemon; returns the shell request's id."""
    proc = spawn_daemon(w)
    try:
        wait_for_socket(w.sock, proc)
        with Client(w.sock, client="sdk") as c:
            rid = c.call(
                "gate.request",
                {"action": {"kind": "shell.exec", "command": COMMAND}, "actor": {"id": "agent"}},
            )["request_id"]
            c.call(
                "gate.request",
                {
                    "action": {"kind": "file.write", "paths": [PATH], "summary": SUMMARY},
                    "actor": {"id": "agent"},
                },
            )
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return rid


def test_log_query_and_trace_escape_what_the_agent_wrote(make_world):
    w = make_world(POLICY)
    rid = seed(w)
    for args in (("log",), ("query",), ("query", "--format", "csv"), ("trace", rid)):
        res = run_cli(w, *args)
        assert res.returncode == 0, (args, res.stderr)
        assert_escaped(res.stdout + res.stderr, " ".join(args))
    for args in (("log", "--json"), ("query", "--format", "jsonl"), ("trace", rid, "--json")):
        res = run_cli(w, *args)
        assert res.returncode == 0, (args, res.stderr)
        assert_escaped(res.stdout, " ".join(args))
        if args[0] == "trace":
            decoded = json.loads(res.stdout)
        else:
            decoded = [json.loads(line) for line in res.stdout.splitlines()]
        assert holds(decoded, COMMAND), f"{args}: the JSON does not decode to the command the agent sent"
    # JSON Lines keep the records' values exactly: only the unsafe characters became escapes.
    lines = run_cli(w, "log", "--json").stdout.splitlines()
    assert [json.loads(x) for x in lines] == w.records()


def test_policy_explain_escapes_the_command_and_paths(make_world):
    w = make_world(POLICY)
    shell = run_cli(
        w, "policy", "explain", "--kind", "shell.exec", "--command", "ls x\u202e && git status y\x9b"
    )
    unparseable = run_cli(w, "policy", "explain", "--kind", "shell.exec", "--command", COMMAND)
    write = run_cli(w, "policy", "explain", "--kind", "file.write", "--path", PATH)
    for res in (shell, unparseable, write):
        assert res.returncode == 0, res.stderr
        assert not [ch for ch in RAW if ch in res.stdout]
    assert "\\u202e" in shell.stdout and "\\x9b" in shell.stdout and "\\u202e" in write.stdout
    as_json = run_cli(w, "policy", "explain", "--kind", "file.write", "--path", PATH, "--json")
    assert not [ch for ch in RAW if ch in as_json.stdout]


def test_request_escapes_the_daemons_answers(make_world):
    """The daemon's refusals quote what the client sent (an unknown field, a request id): printed by
    `forge-tui request`, they are escaped too."""
    w = make_world(POLICY)
    proc = spawn_daemon(w)
    try:
        wait_for_socket(w.sock, proc)
        action = json.dumps({"kind": "shell.exec", "command": "ls", f"x{HOSTILE}": 1}, ensure_ascii=False)
        bad = run_cli(w, "request", "--action", action)
        assert bad.returncode == 2 and "unknown action fields" in bad.stderr, bad.stderr
        assert_escaped(bad.stdout + bad.stderr, "request (unknown field)")
        unknown = run_cli(w, "request", "--wait-for", f"r-{HOSTILE}")
        assert unknown.returncode != 0
        assert_escaped(unknown.stdout + unknown.stderr, "request --wait-for")
        pending = run_cli(w, "request", "--kind", "shell.exec", "--command", COMMAND, "--summary", SUMMARY)
        assert pending.returncode == 1 and not [ch for ch in RAW if ch in pending.stdout + pending.stderr]
        as_json = run_cli(w, "request", "--kind", "file.write", "--path", PATH, "--json")
        assert not [ch for ch in RAW if ch in as_json.stdout]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
