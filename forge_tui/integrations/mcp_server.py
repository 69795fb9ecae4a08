"""`forge-tui mcp`: the gate as four MCP tools, over stdio or Streamable HTTP (+ legacy HTTP+SSE).

- `request_approval` asks the gate before an action; `allowed` means go, `denied` is a tool result with
  `isError: true` (the model can react), `pending` means a reviewer has not decided within the short
  wait: the result carries the `request_id` and the agent polls `check_gate`. A client's own timeout
  (AutoGen 5 s, some hosts 60 s) so never turns into an approval: the daemon keeps the request pending.
- `check_gate` long-polls a pending request; `record_outcome` reports how the action went;
  `query_ledger` reads records (the agent socket's read-only `ledger.query`).

Every request goes to the daemon's agent socket and is recorded as an agent's (docs/design.md §6.1).
Built on the SDK's low-level `Server` (no `MCPServer`: it configures logging on construction). Results
are typed pydantic models: their JSON schema is each tool's `outputSchema`, their dump the
`structuredContent`, and the same JSON the text content, for clients that read only text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import mcp_types as types
from mcp.server.lowlevel import Server
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from forge_tui import __version__
from forge_tui.integrations.daemon_link import Actor, DaemonLink, LinkError, process_session
from forge_tui.protocol import ALLOWED, DENIED, PENDING, UNKNOWN_REQUEST

SERVER_NAME = "forge-tui"
ACTION_KINDS = Literal[
    "file.read", "file.write", "file.delete", "shell.exec", "net.fetch", "git.commit", "git.push",
    "deploy", "mcp.call", "other",
]  # fmt: skip


@dataclass(frozen=True)
class ServerConfig:
    """How long tools wait for a reviewer before answering `pending` (seconds)."""

    default_wait_s: float = 20.0
    max_wait_s: float = 50.0

    def wait(self, asked: float | None) -> float:
        return min(self.max_wait_s, self.default_wait_s if asked is None else max(0.0, asked))


# ---- tool inputs ----------------------------------------------------------------------------------
class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RequestApprovalArgs(_Args):
    kind: ACTION_KINDS = Field(description="what the action does")
    summary: str = Field(description="one line for the reviewer: what and why", max_length=4096)
    tool: str | None = Field(None, description="the tool that will act (e.g. Bash, Edit)", max_length=256)
    command: str | None = Field(None, description="the shell command (needed for shell.exec)")
    paths: list[str] = Field(default_factory=list, description="files the action touches")
    url: str | None = Field(None, description="the URL fetched or called")
    diff: str | None = Field(
        None, description="a diff or the content to write: shown to the reviewer, kept as a digest"
    )
    requirement: str | None = Field(None, description="the ticket, issue or URL behind the action")
    wait_s: float | None = Field(None, ge=0, description="how long to wait for a reviewer (server caps it)")


class CheckGateArgs(_Args):
    request_id: str = Field(description="the request_id that request_approval returned", max_length=128)
    wait_s: float | None = Field(None, ge=0, description="how long to wait for a decision (server caps it)")


class RecordOutcomeArgs(_Args):
    request_id: str = Field(description="the request the action was allowed under", max_length=128)
    status: Literal["succeeded", "failed", "skipped"]
    detail: str | None = Field(None, description="one line: what happened", max_length=4096)
    commit: str | None = Field(None, description="the commit the action produced, if any", max_length=64)


class QueryLedgerArgs(_Args):
    type: list[str] | None = Field(None, description="record types: request, decision, outcome, …")
    request_id: str | None = None
    status: str | None = Field(None, description="allowed, denied, pending, succeeded, failed, …")
    actor: str | None = None
    path: str | None = Field(None, description="records whose action touches this path")
    rule: str | None = None
    since: str | None = Field(None, description="RFC 3339 time or a date")
    until: str | None = None
    limit: int = Field(20, ge=1, le=200, description="newest records first")


# ---- tool results ---------------------------------------------------------------------------------
class GateResult(BaseModel):
    """The gate's answer. Act only on `status == "allowed"`."""

    request_id: str | None = Field(description="the request's id (null when the daemon was unreachable)")
    status: Literal["allowed", "denied", "pending"]
    decided_by: str | None = Field(None, description="policy, reviewers, timeout or fallback")
    rule: str | None = None
    reason: str | None = None
    seq: int | None = Field(None, description="the ledger seq of the decision record")
    message: str = Field(description="one line for the model: what to do next")


class OutcomeResult(BaseModel):
    request_id: str
    seq: int = Field(description="the ledger seq of the outcome record")
    message: str


class LedgerRecords(BaseModel):
    count: int
    records: list[dict[str, Any]] = Field(description="ledger records, newest first (docs/formats.md)")


TOOLS: dict[str, tuple[type[_Args], type[BaseModel], str, types.ToolAnnotations]] = {
    "request_approval": (
        RequestApprovalArgs,
        GateResult,
        "Ask forge-tui's gate before acting. Act only when status is 'allowed'. 'denied' comes back as "
        "an error with the reason; 'pending' means a human reviewer has not decided yet: do not act, "
        "call check_gate with the request_id.",
        types.ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False),
    ),
    "check_gate": (
        CheckGateArgs,
        GateResult,
        "Wait for the decision on a pending request (long poll). Act only when status is 'allowed'.",
        types.ToolAnnotations(read_only_hint=True, open_world_hint=False),
    ),
    "record_outcome": (
        RecordOutcomeArgs,
        OutcomeResult,
        "Record how an allowed action went (succeeded, failed or skipped) in the signed ledger.",
        types.ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False),
    ),
    "query_ledger": (
        QueryLedgerArgs,
        LedgerRecords,
        "Read records of the project's signed ledger, newest first, with optional filters.",
        types.ToolAnnotations(read_only_hint=True, open_world_hint=False),
    ),
}


def tool_list() -> list[types.Tool]:
    return [
        types.Tool(
            name=name,
            description=desc,
            input_schema=args.model_json_schema(),
            output_schema=result.model_json_schema(),
            annotations=notes,
        )
        for name, (args, result, desc, notes) in TOOLS.items()
    ]


# ---- answers --------------------------------------------------------------------------------------
def gate_message(res: dict[str, Any]) -> str:
    rid, status = res.get("request_id"), res.get("status")
    why = res.get("reason") or (f"rule {res['rule']}" if res.get("rule") else "")
    why = f" ({why})" if why else ""
    where = f"request {rid}, ledger seq {res.get('seq')}"
    if status == ALLOWED:
        return f"allowed{why}; {where}. Go ahead, then call record_outcome."
    if status == PENDING:
        return (
            f"pending: a reviewer has not decided yet; {where}. Do not act: call check_gate with "
            f"request_id {rid!r} to wait for the decision."
        )
    return f"denied{why}; {where}. Do not perform the action."


def gate_result(res: dict[str, Any]) -> GateResult:
    status = res.get("status")
    if status not in (ALLOWED, PENDING):
        status = DENIED  # anything the daemon did not call allowed or pending is a denial
    return GateResult(
        request_id=res.get("request_id"),
        status=status,
        decided_by=res.get("decided_by"),
        rule=res.get("rule"),
        reason=res.get("reason"),
        seq=res.get("seq"),
        message=gate_message({**res, "status": status}),
    )


def refused(request_id: str | None, reason: str) -> GateResult:
    """The gate could not be asked: a denial (fail closed), never recorded as allowed."""
    return GateResult(
        request_id=request_id,
        status=DENIED,
        reason=reason,
        message=f"denied ({reason}). Do not perform the action.",
    )


def answer(result: BaseModel, *, error: bool) -> types.CallToolResult:
    data = result.model_dump(mode="json")
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=json.dumps(data, ensure_ascii=False))],
        structured_content=data,
        is_error=error,
    )


def error_text(text: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=True)


# ---- the server -----------------------------------------------------------------------------------
class GateTools:
    """The four tools over one DaemonLink."""

    def __init__(self, link: DaemonLink, config: ServerConfig) -> None:
        self.link = link
        self.config = config

    async def call(self, name: str, arguments: dict[str, Any], actor: Actor) -> types.CallToolResult:
        spec = TOOLS.get(name)
        if spec is None:
            return error_text(f"unknown tool {name!r}")
        try:
            args = spec[0].model_validate(arguments)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors()
            )
            return error_text(f"bad arguments for {name}: {problems}")
        return await getattr(self, name)(args, actor)

    async def request_approval(self, a: RequestApprovalArgs, actor: Actor) -> types.CallToolResult:
        action = {"kind": a.kind, "tool": a.tool, "command": a.command, "paths": a.paths, "url": a.url}
        action["summary"] = a.summary
        content = {"kind": "diff", "text": a.diff} if a.diff is not None else None
        try:
            res = await self.link.request(
                action, actor, wait_s=self.config.wait(a.wait_s), requirement=a.requirement, content=content
            )
        except LinkError as exc:
            return answer(refused(None, str(exc)), error=True)
        result = gate_result(res)
        return answer(result, error=result.status == DENIED)

    async def check_gate(self, a: CheckGateArgs, actor: Actor) -> types.CallToolResult:
        try:
            res = await self.link.wait(a.request_id, wait_s=self.config.wait(a.wait_s))
        except LinkError as exc:
            reason = f"unknown request {a.request_id}" if exc.code == UNKNOWN_REQUEST else str(exc)
            return answer(refused(a.request_id, reason), error=True)
        result = gate_result(res)
        return answer(result, error=result.status == DENIED)

    async def record_outcome(self, a: RecordOutcomeArgs, actor: Actor) -> types.CallToolResult:
        try:
            res = await self.link.outcome(a.request_id, a.status, a.detail, commit=a.commit)
        except LinkError as exc:
            return error_text(f"outcome not recorded: {exc}")
        seq = int(res.get("seq", -1))
        return answer(
            OutcomeResult(
                request_id=a.request_id, seq=seq, message=f"outcome {a.status} recorded at seq {seq}"
            ),
            error=False,
        )

    async def query_ledger(self, a: QueryLedgerArgs, actor: Actor) -> types.CallToolResult:
        filters = {k: v for k, v in a.model_dump().items() if v is not None}
        try:
            res = await self.link.query(filters)
        except LinkError as exc:
            return error_text(f"ledger query failed: {exc}")
        records = res.get("records") or []
        return answer(LedgerRecords(count=len(records), records=records), error=False)


def actor_of(ctx: Any, fallback_session: str) -> Actor:
    """The client's claimed name (from `initialize`, absent on stateless revisions) and a session id."""
    name = "client"
    params = getattr(ctx.session, "client_params", None)
    info = getattr(params, "client_info", None)
    if info is not None and getattr(info, "name", None):
        name = str(info.name)[:64]
    session = fallback_session
    request = getattr(ctx, "request", None)
    headers = getattr(request, "headers", None)
    if headers is not None and headers.get("mcp-session-id"):
        session = "mcp-" + str(headers.get("mcp-session-id"))[:64]
    return Actor(id=f"mcp:{name}", session=session)


def build_server(link: DaemonLink, config: ServerConfig | None = None) -> Server:
    tools = GateTools(link, config or ServerConfig())
    session = process_session()

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tool_list())

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        return await tools.call(params.name, dict(params.arguments or {}), actor_of(ctx, session))

    return Server(
        SERVER_NAME,
        version=__version__,
        instructions=(
            "forge-tui gates actions: call request_approval before acting and act only on 'allowed'; "
            "on 'pending' call check_gate; afterwards call record_outcome."
        ),
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


async def serve_stdio(server: Server) -> None:
    from mcp.server.stdio import stdio_server

    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())
