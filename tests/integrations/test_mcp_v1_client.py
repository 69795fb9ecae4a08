"""An MCP 1.x client (the SDK revision crewai and langchain-mcp-adapters pin) against `forge-tui mcp`
on the 2.x SDK, over stdio, Streamable HTTP and legacy SSE. The 1.x client lives in its own
environment, named by FORGE_TEST_MCP1_PYTHON (.ci/run makes one with `mcp==1.30.0`).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest
from integ_kit import child_env

CLIENT = str(Path(__file__).with_name("mcp1_client.py"))
MCP1 = os.environ.get("FORGE_TEST_MCP1_PYTHON")
pytestmark = pytest.mark.skipif(
    not MCP1, reason="FORGE_TEST_MCP1_PYTHON (an interpreter with mcp<2) is unset; .ci/run sets it"
)


async def run_client(world, *args: str) -> dict:
    env = child_env(world)
    env.pop("PYTHONPATH", None)  # the 1.x client must not see this venv's mcp 2.x
    proc = await asyncio.create_subprocess_exec(
        MCP1, CLIENT, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 240)
    assert proc.returncode == 0, err.decode()[-3000:]
    return json.loads(out)


def check(res: dict) -> None:
    assert res["tools"] == ["check_gate", "query_ledger", "record_outcome", "request_approval"]
    is_error, allowed = res["allowed"]
    assert not is_error and allowed["status"] == "allowed", res
    is_error, denied = res["denied"]
    assert is_error and denied["reason"] == "force pushes rewrite shared history", res


async def test_mcp1_client_over_stdio(gate_world, start_daemon):
    await start_daemon(gate_world)
    # The server runs on this checkout's interpreter (mcp 2.x); only the client is 1.x.
    res = await run_client(gate_world, "stdio", sys.executable, str(gate_world.project.root))
    check(res)


async def test_mcp1_client_over_http_and_sse(gate_world, start_daemon, http_server):
    await start_daemon(gate_world)
    check(await run_client(gate_world, "http", http_server.url, http_server.token))
    sse = http_server.url.rsplit("/", 1)[0] + "/sse"
    check(await run_client(gate_world, "sse", sse, http_server.token))
