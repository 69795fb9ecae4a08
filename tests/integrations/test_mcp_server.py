"""`forge-tui mcp` driven by the official MCP SDK's client, over stdio (both wire generations) and
over HTTP (Streamable HTTP and the legacy HTTP+SSE transport), against a real daemon.

Each test says what would be wrong if it failed.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat

import pytest
from integ_kit import START_S, approve, by_request, child_env, forge_cmd

mcp = pytest.importorskip("mcp", reason="the MCP extra is part of the test extra")
from mcp import Client, StdioServerParameters  # noqa: E402


def stdio_server(world, *extra: str) -> StdioServerParameters:
    cmd = forge_cmd(world, "mcp", *extra)
    return StdioServerParameters(command=cmd[0], args=cmd[1:], env=child_env(world))


async def exercise_tools(c: Client, connect, daemon, world) -> None:
    """Each of the four tools, with every kind of answer the gate gives."""
    listed = {t.name: t for t in (await c.list_tools()).tools}
    assert set(listed) == {"request_approval", "check_gate", "record_outcome", "query_ledger"}
    assert all(t.output_schema for t in listed.values()), "a tool lost its typed result schema"

    ok = await c.call_tool(
        "request_approval", {"kind": "shell.exec", "command": "pytest -q", "summary": "run the tests"}
    )
    assert not ok.is_error and ok.structured_content["status"] == "allowed", ok
    assert ok.structured_content["rule"] == "tests" and isinstance(ok.structured_content["seq"], int)
    assert json.loads(ok.content[0].text) == ok.structured_content, "text and structured results differ"

    no = await c.call_tool(
        "request_approval", {"kind": "shell.exec", "command": "git push --force", "summary": "push"}
    )
    assert no.is_error, "a gate denial must be a tool result with isError true"
    assert no.structured_content["status"] == "denied"
    assert no.structured_content["reason"] == "force pushes rewrite shared history", no

    wait = await c.call_tool("request_approval", {"kind": "deploy", "summary": "ship it", "wait_s": 0.2})
    assert not wait.is_error and wait.structured_content["status"] == "pending", (
        "a long wait must come back as pending, not as a timeout or an approval"
    )
    rid = wait.structured_content["request_id"]
    assert "check_gate" in wait.structured_content["message"]
    await approve(connect, daemon, world, rid)
    done = await c.call_tool("check_gate", {"request_id": rid, "wait_s": 5})
    assert done.structured_content["status"] == "allowed" and not done.is_error, done
    assert done.structured_content["decided_by"] == "reviewers"

    unknown = await c.call_tool("check_gate", {"request_id": "r-0000000000000000"})
    assert unknown.is_error and unknown.structured_content["status"] == "denied"

    out = await c.call_tool("record_outcome", {"request_id": rid, "status": "succeeded", "detail": "shipped"})
    assert not out.is_error and isinstance(out.structured_content["seq"], int), out

    q = await c.call_tool("query_ledger", {"request_id": rid})
    types_ = [r["type"] for r in q.structured_content["records"]]
    assert not q.is_error and {"request", "decision", "approval", "outcome"} <= set(types_), types_

    bad = await c.call_tool("request_approval", {"kind": "launch.missiles", "summary": "x"})
    assert bad.is_error and "kind" in bad.content[0].text, "a bad argument was not refused as a tool error"

    recs = by_request(world, rid)
    assert recs["request"][0]["body"]["client"] == "mcp"
    assert recs["request"][0]["body"]["actor"]["kind"] == "agent", "an MCP request is an agent's"
    assert recs["outcome"][0]["body"]["status"] == "succeeded"


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_every_tool_over_stdio(gate_world, start_daemon, connect, mode):
    d = await start_daemon(gate_world)
    async with asyncio.timeout(START_S):
        async with Client(stdio_server(gate_world, "--wait", "1"), mode=mode) as c:
            await exercise_tools(c, connect, d, gate_world)


async def test_no_daemon_means_denied(gate_world):
    async with asyncio.timeout(START_S):
        async with Client(stdio_server(gate_world)) as c:
            res = await c.call_tool(
                "request_approval", {"kind": "shell.exec", "command": "pytest", "summary": "tests"}
            )
    assert res.is_error and res.structured_content["status"] == "denied", "no daemon must mean deny"
    assert "daemon unreachable" in res.structured_content["reason"]
    assert res.structured_content["request_id"] is None


# ---- HTTP ---------------------------------------------------------------------------------------
async def test_every_tool_over_streamable_http(gate_world, start_daemon, connect, http_server):
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    d = await start_daemon(gate_world)
    headers = {"Authorization": f"Bearer {http_server.token}"}
    async with (
        asyncio.timeout(START_S),
        httpx2.AsyncClient(headers=headers) as hc,
        Client(streamable_http_client(http_server.url, http_client=hc)) as c,
    ):
        await exercise_tools(c, connect, d, gate_world)


async def test_legacy_sse_transport(gate_world, start_daemon, http_server):
    from mcp.client.sse import sse_client

    await start_daemon(gate_world)
    sse_url = http_server.url.rsplit("/", 1)[0] + "/sse"
    headers = {"Authorization": f"Bearer {http_server.token}"}
    async with asyncio.timeout(START_S), Client(sse_client(sse_url, headers=headers)) as c:
        res = await c.call_tool(
            "request_approval", {"kind": "shell.exec", "command": "git push --force", "summary": "p"}
        )
    assert res.is_error and res.structured_content["reason"] == "force pushes rewrite shared history"


async def test_http_refuses_bad_token_wrong_host_and_origin(http_server):
    ok = await asyncio.to_thread(http_server.post, token=http_server.token)
    assert ok == 200, f"the right token on the right host was refused ({ok})"
    assert await asyncio.to_thread(http_server.post, token=None) == 401, "no token accepted"
    assert await asyncio.to_thread(http_server.post, token="x" * 43) == 401, "a wrong token accepted"
    port = http_server.netloc.rsplit(":", 1)[1]
    wrong_host = await asyncio.to_thread(
        http_server.post, token=http_server.token, host=f"evil.example:{port}"
    )
    assert wrong_host == 421, "a rebound DNS name (wrong Host) reached the server"
    wrong_origin = await asyncio.to_thread(
        http_server.post, token=http_server.token, origin="http://evil.example"
    )
    assert wrong_origin == 403, "a foreign web page (Origin) reached the server"
    localhost = await asyncio.to_thread(http_server.post, token=http_server.token, host=f"localhost:{port}")
    assert localhost == 200, "localhost is this server too"


async def test_token_is_kept_private_and_reused(http_server):
    mode = stat.S_IMODE(os.stat(http_server.token_file).st_mode)
    assert mode == 0o600, f"the bearer token file is {oct(mode)}"
    with open(http_server.token_file, encoding="ascii") as fh:
        assert fh.read().strip() == http_server.token


def test_non_loopback_address_refused(gate_world, run_cli, monkeypatch):
    monkeypatch.chdir(gate_world.project.root)
    code, _out, err = run_cli("mcp", "--http", "0.0.0.0:0")
    assert code == 2 and "loopback" in err, "the server would listen beyond loopback without being told"
    code, _out, err = run_cli("mcp", "--http", "nonsense")
    assert code == 2 and "HOST:PORT" in err
