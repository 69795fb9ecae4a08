"""`hook.run`: the daemon's side of the agent hooks (docs/hooks.md).

The agent-side hook (forge_tui/hooks/run.py) sends the host's payload as it came, base64-encoded, and
prints what this returns. Here the payload is parsed, mapped to an action, sent through the gate like
any agent request, and answered in the host's format: every failure is that host's deny (exit 2).

PreToolUse decisions are remembered by `tool_use_id` (and by session and input digest, for hosts and
events that carry no id) so that the PostToolUse of the same call records its outcome against the
request the gate decided. A PostToolUse for a call the gate never allowed is evidence of a bypass: the
outcome is recorded against the denied request (verify: execution without authorization), and a call
the gate never saw becomes a `violation` record of kind `bypass`.
"""

from __future__ import annotations

import asyncio
import binascii
import json
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from forge_tui.errors import LedgerError
from forge_tui.hooks.actions import input_digest, map_tool
from forge_tui.hooks.dialects import (
    PERMISSION,
    POST,
    POST_FAILED,
    PRE,
    HookEvent,
    HookInputError,
    HookReply,
    allow,
    deny,
    failure_is_reported,
    parse_event,
    recorded,
)
from forge_tui.protocol import ALLOWED, DENIED, MAX_LINE, PENDING, GateError

REMEMBERED = 20_000  # decided tool calls kept for their PostToolUse
DEFAULT_WAIT_S = 540.0  # when the hook states no deadline: below Claude Code's default 600 s timeout
ACTOR_KIND = "agent"  # every request on the agent socket is an agent's (docs/design.md §6.1)


@dataclass
class Decided:
    request_id: str
    status: str
    digest: str
    session: str
    tool: str
    seq: int | None


class HookService:
    """Registered as the daemon's `hook.run` method; holds the decided calls awaiting their outcome."""

    def __init__(self, daemon) -> None:
        self.daemon = daemon
        self.by_call: OrderedDict[str, Decided] = OrderedDict()  # tool_use_id -> decision
        self.by_input: OrderedDict[tuple[str, str], list[Decided]] = OrderedDict()  # (session, digest)
        # Requests still pending when the hook's own deadline ended (the host was told no): the same
        # input asked again in the same session waits on (or takes the decision of) that request.
        self.gave_up: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()

    async def handle(self, conn, params: dict[str, Any]) -> dict[str, str | int]:
        host = params.get("host") if isinstance(params.get("host"), str) else "?"
        try:
            reply = await self._run(conn, host, params)
        except asyncio.CancelledError:
            raise
        except (HookInputError, GateError, LedgerError) as exc:
            reply = deny(host, f"forge-tui denied: {_message(exc)}")
        except Exception as exc:  # a bug here must deny, never let the tool run
            self.daemon.log(f"internal error in hook.run: {type(exc).__name__}: {exc}")
            reply = deny(host, f"forge-tui denied: internal error ({type(exc).__name__})")
        return {
            "exit": reply.exit,
            "stdout": _b64(reply.stdout),
            "stderr": _b64(reply.stderr),
        }

    async def _run(self, conn, host: str, params: dict[str, Any]) -> HookReply:
        raw = params.get("payload")
        if not isinstance(raw, str) or len(raw) > MAX_LINE:
            raise HookInputError("hook.run needs the payload as a base64 string")
        try:
            payload = json.loads(binascii.a2b_base64(raw))
        except (binascii.Error, ValueError, RecursionError):
            raise HookInputError("the hook's standard input is not JSON") from None
        ev = parse_event(host, payload)
        if ev.phase == PRE:
            return await self._pre(conn, ev, _wait(params.get("wait_s")))
        if ev.phase in (POST, POST_FAILED):
            return await self._post(ev)
        assert ev.phase == PERMISSION
        return self._permission(ev)

    # ---- PreToolUse ------------------------------------------------------------------------------

    async def _pre(self, conn, ev: HookEvent, wait_s: float) -> HookReply:
        gate = self.daemon.gate
        mapped = map_tool(ev.host, ev.tool, ev.tool_input, cwd=ev.cwd, root=str(self.daemon.project.root))
        params: dict[str, Any] = {
            "action": mapped.action,
            "actor": {"id": _actor_id(ev), "kind": ACTOR_KIND, "session": ev.session},
            "wait_s": wait_s,
        }
        if mapped.content is not None:
            params["content"] = mapped.content
        until = time.monotonic() + wait_s
        key = (ev.session, mapped.action["input_digest"])
        res = self._asked_before(key)
        if res is None:
            res = await gate.request(params, conn.peer, "hook")
        res = await _settle(gate, res, until)
        if res["status"] == PENDING:
            self.gave_up[key] = res
            while len(self.gave_up) > REMEMBERED:
                self.gave_up.popitem(last=False)
        self._remember(ev, res, mapped.action["input_digest"])
        where = f"request {res['request_id']}, ledger seq {res.get('seq')}"
        if res["status"] == ALLOWED:
            return allow(ev, f"forge-tui: {_why(res)} ({where})")
        if res["status"] == DENIED:
            instead = self._instead(res.get("rule"))
            tail = f" Instead: {instead}" if instead else ""
            return deny(ev.host, f"forge-tui denied: {_why(res)}.{tail} ({where})", ev.event_name)
        return deny(
            ev.host,
            f"forge-tui denied: still waiting for a reviewer after {wait_s:.0f} s ({where}); "
            "the same call asked again waits on this request and runs once a reviewer approves it",
            ev.event_name,
        )

    def _asked_before(self, key: tuple[str, str]) -> dict[str, Any] | None:
        """The request this session's same input left pending when its hook gave up: still pending, or
        decided since (an approval given after the host was told no is used by the retry, once)."""
        res = self.gave_up.pop(key, None)
        if res is None:
            return None
        gate = self.daemon.gate
        rid = res["request_id"]
        if rid in gate.pending:
            return res
        if rid in gate.decided:
            return dict(gate.decided[rid])
        return None  # forgotten since: ask anew

    def _instead(self, rule_id: str | None) -> str | None:
        if not rule_id:
            return None
        for rule in getattr(self.daemon.policies.current, "rules", ()):
            if rule.id == rule_id:
                text = getattr(rule, "instead", None)
                return text if isinstance(text, str) and text else None
        return None

    def _remember(self, ev: HookEvent, res: dict[str, Any], digest: str) -> None:
        d = Decided(res["request_id"], res["status"], digest, ev.session, ev.tool, res.get("seq"))
        if ev.tool_use_id:
            self.by_call[ev.tool_use_id] = d
            while len(self.by_call) > REMEMBERED:
                self.by_call.popitem(last=False)
        self.by_input.setdefault((ev.session, digest), []).append(d)
        self.by_input.move_to_end((ev.session, digest))
        while len(self.by_input) > REMEMBERED:
            self.by_input.popitem(last=False)

    def _take(self, ev: HookEvent, digest: str) -> Decided | None:
        """The decision a PostToolUse reports on: by tool_use_id, else the oldest of the same input."""
        d = self.by_call.pop(ev.tool_use_id, None) if ev.tool_use_id else None
        same = self.by_input.get((ev.session, digest))
        if d is None and same:
            d = same[0]
        if d is not None and same and d in same:
            same.remove(d)
            if not same:
                del self.by_input[(ev.session, digest)]
        return d

    # ---- PostToolUse -----------------------------------------------------------------------------

    async def _post(self, ev: HookEvent) -> HookReply:
        gate = self.daemon.gate
        digest = input_digest(ev.tool, ev.tool_input)
        d = self._take(ev, digest)
        status = "failed" if failure_is_reported(ev) else "succeeded"
        if d is None:
            await self._bypass(ev, digest, "no gate decision is known for this tool call")
            return recorded(ev)
        detail = f"{ev.host} {ev.event_name} {ev.tool}"
        if d.digest != digest:
            detail += f"; input changed after the decision ({d.digest[:19]} -> {digest[:19]})"
        await gate.outcome(
            {
                "request_id": d.request_id,
                "status": status,
                "detail": detail,
                "tool_use_id": ev.tool_use_id,
                "input_digest": digest,
            }
        )
        if d.status != ALLOWED:
            await self._bypass(ev, digest, f"the tool ran although request {d.request_id} was {d.status}")
        return recorded(ev)

    async def _bypass(self, ev: HookEvent, digest: str, why: str) -> None:
        gate = self.daemon.gate
        detail = f"{ev.host} ran {ev.tool} ({ev.event_name}, session {ev.session}): {why}"
        body = {
            "kind": "bypass",
            "request_id": None,
            "detail": detail,
            "host": ev.host,
            "tool": ev.tool,
            "tool_use_id": ev.tool_use_id,
            "input_digest": digest,
            "session": ev.session,
        }
        await gate.appender.append([("violation", body)])
        gate.emit({"type": "violation", "kind": "bypass", "request_id": None, "detail": detail})

    # ---- PermissionRequest -----------------------------------------------------------------------

    def _permission(self, ev: HookEvent) -> HookReply:
        """Claude Code's PermissionRequest carries no tool_use_id: answer from the gate's decision for
        the same input in the same session (its PreToolUse ran first), and deny when there is none."""
        digest = input_digest(ev.tool, ev.tool_input)
        same = self.by_input.get((ev.session, digest)) or []
        d = same[-1] if same else None
        if d is not None and d.status == ALLOWED:
            return allow(ev, f"forge-tui: request {d.request_id} was allowed (ledger seq {d.seq})")
        why = f"request {d.request_id} is {d.status}" if d else "the gate has no decision for this input"
        return deny(ev.host, f"forge-tui denied: {why}", ev.event_name)


async def _settle(gate, res: dict[str, Any], until: float) -> dict[str, Any]:
    """Wait for a pending request's decision until `until`. The gate waits at most the approval
    timeout and its expiry can land just after that wait ends; between leaving the queue and being
    recorded, a request is in neither the queue nor the decided map, so look again shortly."""
    rid = res["request_id"]
    while res["status"] == PENDING and (left := until - time.monotonic()) > 0:
        p = gate.pending.get(rid)
        if p is not None:
            res = await gate.wait_for(p, left)
        elif rid in gate.decided:
            res = dict(gate.decided[rid])
        else:
            await asyncio.sleep(0.005)  # its decision record is being written this instant
    return res


def _actor_id(ev: HookEvent) -> str:
    return f"{ev.host}/{ev.agent}" if ev.agent else ev.host


def _why(res: dict[str, Any]) -> str:
    rule = res.get("rule")
    reason = res.get("reason") or ""
    by = res.get("decided_by")
    if by == "reviewers":
        return reason or "decided by reviewers"
    if by == "timeout":
        return reason or "no reviewer decided in time"
    source = f"rule {rule}" if rule else "the policy default"
    verb = "allowed" if res.get("status") == ALLOWED else "denied"
    said = reason.rstrip(".") if reason and not reason.startswith(("allowed by", "denied by")) else ""
    return f"{verb} by {source}" + (f": {said}" if said else "")


def _wait(raw: Any) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or raw != raw or raw < 0:
        return DEFAULT_WAIT_S
    return float(raw)


def _message(exc: Exception) -> str:
    return getattr(exc, "message", None) or str(exc)


def _b64(text: str) -> str:
    return binascii.b2a_base64(text.encode("utf-8", "replace"), newline=False).decode("ascii")
