"""The hook under attack, as an agent (or a broken host or daemon) would try it: standard input that
never ends, is huge, nested past any parser, not UTF-8, or misses fields; a tool nobody mapped; a
daemon that accepts and never answers, trickles, hangs up or answers garbage.

What would be wrong if these failed: the hook would exit 1, crash, print nothing or outlive the host's
timeout, and each host would then let the tool run (docs/hooks.md, "Every failure is a deny with exit
2"). Each case must print the host's own deny, exit 2, and end before the host's timeout (the hook's
deadline plus the margin init leaves between the two).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hostkit import SHELL_TOOL, Hooked, payload

from forge_tui.hooks.settings import DEADLINE_MARGIN_S, HOOK_SCRIPT, TIMEOUT_MARGIN_S

HOSTS = ("claude-code", "codex", "gemini")
DEADLINE = 2.0
HOST_TIMEOUT = DEADLINE + TIMEOUT_MARGIN_S - DEADLINE_MARGIN_S  # where init puts the host's timeout


def assert_host_deny(host: str, r: subprocess.CompletedProcess, elapsed: float) -> str:
    """The host reads a block: exit 2, its own deny shape, a reason on stderr; before its timeout."""
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    doc = json.loads(r.stdout)
    if host == "gemini":
        assert doc["decision"] == "deny"
        reason = doc["reason"]
    else:
        assert doc["hookSpecificOutput"]["permissionDecision"] == "deny"
        reason = doc["hookSpecificOutput"]["permissionDecisionReason"]
    assert r.stderr.strip()
    assert elapsed < HOST_TIMEOUT, f"the hook ran {elapsed:.1f} s, past the host's timeout"
    return reason


def run_hook(
    host: str, stdin, cwd: Path, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess, float]:
    t0 = time.monotonic()
    r = subprocess.run(
        [sys.executable, "-I", "-S", str(HOOK_SCRIPT), host, "--deadline", str(DEADLINE)],
        stdin=stdin,
        capture_output=True,
        cwd=cwd,
        env=env,
        timeout=HOST_TIMEOUT + 30,
    )
    return r, time.monotonic() - t0


# ---- standard input -------------------------------------------------------------------------------


@pytest.mark.parametrize("host", HOSTS)
def test_standard_input_that_never_ends_denies_at_the_deadline(unstarted: Hooked, host: str) -> None:
    """A host (or a child of it) that keeps the pipe open: the read must not outlive the deadline."""
    r_fd, w_fd = os.pipe()
    try:
        os.write(w_fd, b'{"hook_event_name": "PreToolUse", "tool_name": "Bash", ')
        r, elapsed = run_hook(host, r_fd, unstarted.root)
    finally:
        os.close(r_fd)
        os.close(w_fd)
    assert "deadline" in assert_host_deny(host, r, elapsed)


def test_huge_standard_input_denies_without_reading_it_all(hooked: Hooked, tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    with big.open("wb") as fh:
        fh.write(b'{"hook_event_name": "PreToolUse", "tool_name": "Write", "tool_input": {"content": "')
        fh.write(b"x" * (32 << 20))
        fh.write(b'"}}')
    with big.open("rb") as fh:
        r, elapsed = run_hook("claude-code", fh, hooked.root)
    assert "more than the gate accepts" in assert_host_deny("claude-code", r, elapsed)
    assert not hooked.records("request")


@pytest.mark.parametrize(
    "data",
    [
        b'{"a": ' + b"[" * 200_000 + b"]" * 200_000 + b"}",  # past any recursion limit
        b'{"hook_event_name": "PreToolUse", "tool_name": "\xff\xfe", "tool_input": {}}',  # not UTF-8
        b'{"hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {"command": "ls"}} trailing',
        b'{"hook_event_name": "PreToolUse", "tool_name": 7, "tool_input": {"command": "ls"}}',
        b'{"hook_event_name": "PreToolUse", "tool_input": {"command": "ls"}}',  # no tool_name
        b'{"tool_name": "Bash", "tool_input": {"command": "ls"}}',  # no hook_event_name
        b'{"hook_event_name": ["PreToolUse"], "tool_name": "Bash"}',
    ],
    ids=["nested", "not-utf8", "trailing-garbage", "tool-not-a-string", "no-tool", "no-event", "event-list"],
)
@pytest.mark.parametrize("host", HOSTS)
def test_malformed_payloads_deny(hooked: Hooked, host: str, data: bytes, tmp_path: Path) -> None:
    if host == "gemini":
        data = data.replace(b'"PreToolUse"', b'"BeforeTool"')
    r, elapsed = run_hook(host, _file(tmp_path, data), hooked.root)
    assert_host_deny(host, r, elapsed)
    assert not [d for d in hooked.records("decision") if d["body"]["status"] == "allowed"]


@pytest.mark.parametrize("host", HOSTS)
def test_a_shell_call_without_its_input_is_never_an_allowed_shell_command(
    hooked: Hooked, host: str, tmp_path: Path
) -> None:
    """No tool_input, no session: still gated, as `other` (the solo pack asks: the deadline denies)."""
    doc = payload(host, "pre", SHELL_TOOL[host], {})
    del doc["tool_input"], doc["session_id"]
    r, elapsed = run_hook(host, _file(tmp_path, json.dumps(doc).encode()), hooked.root)
    assert_host_deny(host, r, elapsed)
    req = hooked.records("request")[-1]["body"]
    assert req["action"]["kind"] == "other" and req["actor"]["session"] == "unknown"


@pytest.mark.parametrize("host", HOSTS)
def test_a_tool_nobody_mapped_is_other_and_not_allowed_by_default(
    hooked: Hooked, host: str, tmp_path: Path
) -> None:
    doc = payload(host, "pre", "FrobnicateTheRepository", {"everything": True})
    r, elapsed = run_hook(host, _file(tmp_path, json.dumps(doc).encode()), hooked.root)
    assert_host_deny(host, r, elapsed)
    req = hooked.records("request")[-1]["body"]
    assert req["action"]["kind"] == "other" and req["action"]["tool"] == "FrobnicateTheRepository"
    assert [d["body"]["status"] for d in hooked.records("decision")] == ["pending"]


def _file(tmp_path: Path, data: bytes):
    path = tmp_path / "stdin.json"
    path.write_bytes(data)
    return path.open("rb")


# ---- a daemon that misbehaves ---------------------------------------------------------------------


@contextmanager
def _serve(behaviour: Callable[[socket.socket], None]) -> Iterator[str]:
    """A Unix socket standing in for the daemon; each connection gets `behaviour`."""
    folder = tempfile.mkdtemp(dir="/tmp", prefix="fhk-")
    path = os.path.join(folder, "d.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(8)
    conns: list[socket.socket] = []
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            conns.append(conn)
            threading.Thread(target=behaviour, args=(conn,), daemon=True).start()

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    try:
        yield path
    finally:
        stop.set()
        srv.close()
        for c in conns:
            c.close()
        os.unlink(path)
        os.rmdir(folder)


def _read_line(conn: socket.socket) -> None:
    buf = b""
    while b"\n" not in buf:
        chunk = conn.recv(65536)
        if not chunk:
            return
        buf += chunk


def _silent(conn: socket.socket) -> None:  # accepts and never reads nor answers
    threading.Event().wait(HOST_TIMEOUT + 30)


def _reads_never_answers(conn: socket.socket) -> None:
    _read_line(conn)
    threading.Event().wait(HOST_TIMEOUT + 30)


def _trickles(conn: socket.socket) -> None:  # a reply that never ends
    _read_line(conn)
    try:
        for _ in range(int(HOST_TIMEOUT * 20)):
            conn.sendall(b" ")
            threading.Event().wait(0.05)  # the pace of the trickle, not synchronisation
    except OSError:
        return


def _hangs_up(conn: socket.socket) -> None:
    _read_line(conn)
    conn.close()


def _answers(reply: bytes) -> Callable[[socket.socket], None]:
    def behaviour(conn: socket.socket) -> None:
        _read_line(conn)
        try:
            conn.sendall(reply)
        except OSError:
            return

    return behaviour


DAEMONS = {
    "silent": _silent,
    "reads-never-answers": _reads_never_answers,
    "trickles": _trickles,
    "hangs-up": _hangs_up,
    "garbage": _answers(b"\x00\xffnot json at all\n"),
    "rpc-error": _answers(b'{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"boom"}}\n'),
    "exit-1": _answers(b'{"jsonrpc":"2.0","id":1,"result":{"exit":1,"stdout":"","stderr":""}}\n'),
    "no-exit": _answers(b'{"jsonrpc":"2.0","id":1,"result":{"stdout":"e30=","stderr":""}}\n'),
    "bad-base64": _answers(b'{"jsonrpc":"2.0","id":1,"result":{"exit":0,"stdout":"%%%","stderr":""}}\n'),
    "allow-silently": _answers(b'{"jsonrpc":"2.0","id":1,"result":{"exit":0,"stdout":"","stderr":""}}\n'),
    "allow-not-json": _answers(
        b'{"jsonrpc":"2.0","id":1,"result":{"exit":0,"stdout":"aGVsbG8=","stderr":""}}\n'  # "hello"
    ),
    "too-long": _answers(b'{"jsonrpc":"2.0","id":1,"result":{"exit":0,"stdout":"' + b"A" * (2 << 20) + b'"'),
}


@pytest.mark.parametrize("name", sorted(DAEMONS))
@pytest.mark.parametrize("host", HOSTS)
def test_a_misbehaving_daemon_is_a_deny_before_the_hosts_timeout(
    unstarted: Hooked, host: str, name: str, tmp_path: Path
) -> None:
    doc = payload(host, "pre", SHELL_TOOL[host], {"command": "ls"})
    with _serve(DAEMONS[name]) as sock:
        env = dict(os.environ, FORGE_SOCKET=sock)
        r, elapsed = run_hook(host, _file(tmp_path, json.dumps(doc).encode()), unstarted.root, env)
        assert_host_deny(host, r, elapsed)
