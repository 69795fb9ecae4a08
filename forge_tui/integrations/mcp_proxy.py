"""`forge-tui proxy`: an MCP server in front of another one, gating every `tools/call`.

The upstream server (a command on stdio, or a Streamable HTTP / legacy SSE URL) is connected once, in
the server's lifespan. Its tools are re-exported as they are, annotations included: `readOnlyHint`
and the like are the upstream's claims, shown to the client and never consulted here (an upstream can
call a destructive tool read-only). Each call becomes a gate request of kind `mcp.call` for tool
`mcp__<server>__<tool>` (Claude Code's naming, so one policy rule fits both), the arguments kept as a
digest in the ledger and shown in full to the reviewer while pending. Allowed calls pass through and
their outcome is recorded; denied ones are answered with a tool error (`isError: true`) that states
the reason. A call still pending after the wait is answered with a tool error too and nothing runs;
the same call again (same tool, same arguments) waits on the same request instead of asking anew.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import mcp_types as types
from mcp.server.lowlevel import Server

from forge_tui import __version__
from forge_tui.hooks.actions import input_digest
from forge_tui.integrations.daemon_link import Actor, DaemonLink, LinkError, process_session
from forge_tui.protocol import ALLOWED, MAX_CONTENT, PENDING, UNKNOWN_REQUEST


@dataclass(frozen=True)
class Upstream:
    """Where the real MCP server is: a command (stdio) or a URL (Streamable HTTP, or SSE)."""

    command: tuple[str, ...] = ()
    url: str | None = None
    sse: bool = False
    headers: tuple[tuple[str, str], ...] = ()

    def transport(self) -> Any:
        if self.url is None:
            from mcp import StdioServerParameters
            from mcp.client.stdio import stdio_client

            params = StdioServerParameters(
                command=self.command[0], args=list(self.command[1:]), env=dict(os.environ), cwd=os.getcwd()
            )
            return stdio_client(params)
        if self.sse:
            from mcp.client.sse import sse_client

            return sse_client(self.url, headers=dict(self.headers))
        import httpx2
        from mcp.client.streamable_http import streamable_http_client

        client = httpx2.AsyncClient(headers=dict(self.headers), timeout=httpx2.Timeout(30.0, read=300.0))
        return streamable_http_client(self.url, http_client=client)


def server_label(text: str) -> str:
    """A name usable inside `mcp__<server>__<tool>`: letters, digits, `_` and `-`."""
    label = re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_")
    return label or "upstream"


def default_name(upstream: Upstream) -> str:
    if upstream.url is not None:
        from urllib.parse import urlsplit

        return server_label(urlsplit(upstream.url).hostname or "upstream")
    base = os.path.basename(upstream.command[0])
    return server_label(os.path.splitext(base)[0])


def tool_error(text: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=True)


@dataclass
class GatedCalls:
    """The gate in front of one upstream: asks, waits, remembers pending calls, records outcomes."""

    link: DaemonLink
    name: str
    wait_s: float
    actor: Actor
    pending: dict[tuple[str, str], str] = field(default_factory=dict)  # (tool, digest) -> request_id

    def gate_tool(self, tool: str) -> str:
        return f"mcp__{self.name}__{tool}"

    def action(self, tool: str, digest: str) -> dict[str, Any]:
        # The arguments stay out of the summary: the ledger keeps their digest only (they may hold
        # secrets); the reviewer sees them in full as the request's content while it is pending.
        return {
            "kind": "mcp.call",
            "tool": self.gate_tool(tool),
            "summary": f"MCP tool {tool} on server {self.name}",
            "input_digest": digest,
        }

    async def decide(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        # The hooks' digest of the same call: a Claude Code hook and this proxy agree on it (docs/mcp.md).
        digest = input_digest(self.gate_tool(tool), arguments)
        key = (tool, digest)
        rid = self.pending.get(key)
        if rid is not None:
            try:
                res = await self.link.wait(rid, wait_s=self.wait_s)
            except LinkError as exc:
                if exc.code != UNKNOWN_REQUEST:
                    raise
                self.pending.pop(key, None)  # the daemon restarted and forgot it: ask anew
                rid = None
        if rid is None:
            pretty = json.dumps(arguments, indent=2, sort_keys=True, ensure_ascii=False)
            content = {"kind": "json", "text": pretty} if len(pretty.encode()) <= MAX_CONTENT else None
            res = await self.link.request(
                self.action(tool, digest), self.actor, wait_s=self.wait_s, content=content
            )
        if res.get("status") == PENDING:
            self.pending[key] = str(res.get("request_id"))
        else:
            self.pending.pop(key, None)
        return res

    async def call(self, upstream: Any, tool: str, arguments: dict[str, Any]) -> types.CallToolResult:
        try:
            res = await self.decide(tool, arguments)
        except LinkError as exc:
            return tool_error(f"denied by forge-tui: {exc}. The tool did not run.")
        rid = str(res.get("request_id"))
        where = f"request {rid}, ledger seq {res.get('seq')}"
        if res.get("status") == PENDING:
            return tool_error(
                f"not run: waiting for a forge-tui reviewer to approve ({where}). Call the tool again with "
                "the same arguments to wait for the decision."
            )
        if res.get("status") != ALLOWED:
            why = res.get("reason") or (f"rule {res['rule']}" if res.get("rule") else "denied")
            return tool_error(f"denied by forge-tui: {why} ({where}). The tool did not run.")
        return await self.run_allowed(upstream, rid, tool, arguments)

    async def run_allowed(
        self, upstream: Any, rid: str, tool: str, arguments: dict[str, Any]
    ) -> types.CallToolResult:
        status, detail = "failed", "cancelled"
        try:
            result = await upstream.call_tool(tool, arguments)
            status = "failed" if result.is_error else "succeeded"
            detail = "the tool returned an error" if result.is_error else None
            return result
        except Exception as exc:
            detail = f"{type(exc).__name__}: {exc}"[:1000]
            return tool_error(f"the upstream server failed: {detail}")
        finally:
            with anyio.CancelScope(shield=True):
                try:
                    await self.link.outcome(rid, status, detail)
                except LinkError:
                    pass  # the call has happened; an unrecorded outcome is visible as a gap in the ledger


@dataclass
class ProxyState:
    upstream: Any


def build_proxy(upstream: Upstream, link: DaemonLink, *, name: str, wait_s: float) -> Server:
    calls = GatedCalls(link, name, wait_s, Actor(id=f"mcp-proxy:{name}", session=process_session()))

    @asynccontextmanager
    async def lifespan(_server: Server) -> AsyncIterator[ProxyState]:
        from mcp import Client

        async with Client(upstream.transport()) as up:
            yield ProxyState(up)

    async def list_tools(ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        cursor = params.cursor if params is not None else None
        return await ctx.lifespan_context.upstream.list_tools(cursor=cursor)

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        return await calls.call(ctx.lifespan_context.upstream, params.name, dict(params.arguments or {}))

    return Server(
        f"forge-tui-proxy:{name}",
        version=__version__,
        lifespan=lifespan,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )
