"""`forge-tui proxy` in front of a small upstream MCP server (upstream_server.py), driven by the official
SDK's client: allowed calls pass through, denied calls are tool errors that state the reason and never
reach the upstream, and the ledger holds every request, decision and outcome.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
from pathlib import Path

import pytest
from integ_kit import START_S, approve, by_request, child_env, forge_cmd

pytest.importorskip("mcp", reason="the MCP extra is part of the test extra")
from mcp import Client, StdioServerParameters  # noqa: E402

UPSTREAM = str(Path(__file__).with_name("upstream_server.py"))


def proxy(world, log: Path, *args: str) -> StdioServerParameters:
    cmd = forge_cmd(world, "proxy", *args)
    return StdioServerParameters(command=cmd[0], args=cmd[1:], env=child_env(world, UPSTREAM_LOG=str(log)))


def digest(tool: str, arguments: dict) -> str:
    """What a Claude Code hook records for the same MCP call (forge_tui/hooks/actions.py)."""
    text = json.dumps({"tool": tool, "input": arguments}, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def requests_for(world, tool: str) -> list[dict]:
    return [r for r in world.records() if r["type"] == "request" and r["body"]["action"]["tool"] == tool]


async def test_stdio_upstream_allowed_denied_and_failed(gate_world, start_daemon, tmp_path):
    await start_daemon(gate_world)
    log = tmp_path / "upstream.log"
    async with (
        asyncio.timeout(START_S),
        Client(proxy(gate_world, log, "--name", "up", "--wait", "1", "--", sys.executable, UPSTREAM)) as c,
    ):
        tools = {t.name: t for t in (await c.list_tools()).tools}
        assert set(tools) == {"echo", "write_note", "boom"}, "the upstream's tools were not re-exported"
        assert tools["write_note"].annotations.read_only_hint is True, "annotations must pass through"

        ok = await c.call_tool("echo", {"text": "hi"})
        assert not ok.is_error and ok.content[0].text == "echo: hi", "an allowed call did not pass through"

        no = await c.call_tool("write_note", {"text": "should never be written"})
        assert no.is_error, "a denied call must be a tool error"
        assert "the upstream may not write notes" in no.content[0].text, no.content[0].text

        failed = await c.call_tool("boom", {})
        assert failed.is_error and "upstream exploded" in failed.content[0].text

    assert not log.exists(), "a denied call reached the upstream (its readOnlyHint was trusted?)"
    [echo] = requests_for(gate_world, "mcp__up__echo")
    assert echo["body"]["action"]["kind"] == "mcp.call"
    assert echo["body"]["action"]["input_digest"] == digest("mcp__up__echo", {"text": "hi"}), (
        "arguments not digested"
    )
    assert "should never" not in json.dumps(gate_world.records()), "arguments stored in clear in the ledger"
    echo_recs = by_request(gate_world, echo["body"]["request_id"])
    assert echo_recs["decision"][0]["body"]["status"] == "allowed"
    assert echo_recs["outcome"][0]["body"]["status"] == "succeeded", "the passed-through call has no outcome"

    [note] = requests_for(gate_world, "mcp__up__write_note")
    note_recs = by_request(gate_world, note["body"]["request_id"])
    assert note_recs["decision"][0]["body"]["status"] == "denied"
    assert "outcome" not in note_recs, "a denied call has an outcome: did it run?"

    [boom] = requests_for(gate_world, "mcp__up__boom")
    assert by_request(gate_world, boom["body"]["request_id"])["outcome"][0]["body"]["status"] == "failed"


async def test_pending_call_waits_on_the_same_request(gate_world, start_daemon, connect, tmp_path):
    d = await start_daemon(gate_world)
    log = tmp_path / "upstream.log"
    # Under another server name no rule matches: the policy's default asks a reviewer.
    params = proxy(gate_world, log, "--name", "other", "--wait", "0.3", "--", sys.executable, UPSTREAM)
    async with asyncio.timeout(START_S), Client(params) as c:
        first = await c.call_tool("write_note", {"text": "after approval"})
        assert first.is_error and "waiting for a forge-tui reviewer" in first.content[0].text
        assert not log.exists(), "a pending call ran"
        [req] = requests_for(gate_world, "mcp__other__write_note")
        await approve(connect, d, gate_world, req["body"]["request_id"])
        again = await c.call_tool("write_note", {"text": "after approval"})
        assert not again.is_error, again.content[0].text
    assert log.read_text() == "after approval\n"
    assert len(requests_for(gate_world, "mcp__other__write_note")) == 1, "the retry asked anew"


async def test_no_daemon_denies_every_call(gate_world, tmp_path):
    log = tmp_path / "upstream.log"
    async with (
        asyncio.timeout(START_S),
        Client(proxy(gate_world, log, "--name", "up", "--", sys.executable, UPSTREAM)) as c,
    ):
        res = await c.call_tool("write_note", {"text": "x"})
    assert res.is_error and "daemon unreachable" in res.content[0].text
    assert not log.exists(), "with no daemon the call reached the upstream"


@pytest.fixture
async def http_upstream(tmp_path):
    port_file = tmp_path / "port"
    env = {"UPSTREAM_LOG": str(tmp_path / "http-upstream.log"), "PATH": "/usr/bin:/bin"}
    proc = await asyncio.create_subprocess_exec(sys.executable, UPSTREAM, "--http", str(port_file), env=env)
    try:
        async with asyncio.timeout(START_S):
            while not port_file.exists():
                if proc.returncode is not None:
                    raise AssertionError(f"the HTTP upstream exited with {proc.returncode}")
                await asyncio.sleep(0.05)  # polling interval of a bounded condition loop
        yield f"http://127.0.0.1:{port_file.read_text()}/mcp"
    finally:
        proc.terminate()
        await proc.wait()


async def test_http_upstream(gate_world, start_daemon, tmp_path, http_upstream):
    await start_daemon(gate_world)
    params = proxy(gate_world, tmp_path / "unused.log", "--name", "up", "--url", http_upstream)
    async with asyncio.timeout(START_S), Client(params) as c:
        ok = await c.call_tool("echo", {"text": "over http"})
        no = await c.call_tool("write_note", {"text": "x"})
    assert not ok.is_error and ok.content[0].text == "echo: over http"
    assert no.is_error and "the upstream may not write notes" in no.content[0].text
    assert not (tmp_path / "http-upstream.log").exists(), "a denied call reached the HTTP upstream"


def test_proxy_usage_errors(gate_world, run_cli, monkeypatch):
    monkeypatch.chdir(gate_world.project.root)
    code, _out, err = run_cli("proxy")
    assert code == 2 and "upstream" in err, "a proxy without an upstream started"
    code, _out, err = run_cli("proxy", "--url", "http://127.0.0.1:1/mcp", "--", "cmd")
    assert code == 2, "both a command and a URL were accepted"
