"""An MCP client on the 1.x SDK (the revision agent frameworks still pin: mcp<2), run in its own
environment by test_mcp_v1_client.py:

    python mcp1_client.py stdio PYTHON PROJECT_ROOT      # starts `forge-tui mcp` itself
    python mcp1_client.py http URL TOKEN                 # Streamable HTTP
    python mcp1_client.py sse URL TOKEN                  # legacy HTTP+SSE

It lists the tools, asks for an allowed and a denied shell command, and prints one JSON object.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.sse import sse_client
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamablehttp_client


async def exercise(session: ClientSession) -> dict:
    init = await session.initialize()
    tools = await session.list_tools()
    ok = await session.call_tool(
        "request_approval", {"kind": "shell.exec", "command": "pytest", "summary": "t"}
    )
    no = await session.call_tool(
        "request_approval", {"kind": "shell.exec", "command": "git push --force", "summary": "p"}
    )
    return {
        "protocol": init.protocolVersion,
        "tools": sorted(t.name for t in tools.tools),
        "allowed": [ok.isError, ok.structuredContent],
        "denied": [no.isError, no.structuredContent],
    }


async def main(mode: str, a: str, b: str) -> dict:
    if mode == "stdio":
        params = StdioServerParameters(
            command=a, args=["-m", "forge_tui", "-C", b, "mcp"], env=dict(os.environ)
        )
        async with stdio_client(params) as (r, w), ClientSession(r, w) as s:
            return await exercise(s)
    headers = {"Authorization": f"Bearer {b}"}
    if mode == "http":
        async with streamablehttp_client(a, headers=headers) as (r, w, _), ClientSession(r, w) as s:
            return await exercise(s)
    async with sse_client(a, headers=headers) as (r, w), ClientSession(r, w) as s:
        return await exercise(s)


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(*sys.argv[1:4]))))
