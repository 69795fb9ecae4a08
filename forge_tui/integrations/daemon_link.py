"""The MCP faces' way to the daemon's agent socket: the standard-library client run in a worker thread,
one short connection per call, so a slow approval never blocks the MCP event loop.

Every error turns into a `LinkError` carrying a one-line reason; callers answer it as a denial."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from forge_tui.client import Client
from forge_tui.protocol import (
    GATE_OUTCOME,
    GATE_REQUEST,
    GATE_WAIT,
    LEDGER_QUERY,
    DaemonUnavailable,
    RPCError,
)

REPLY_MARGIN_S = 30.0  # how much longer than the daemon's wait we wait for its reply


class LinkError(Exception):
    """The daemon could not be asked, or refused the call; `str()` is one line for the agent."""

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Actor:
    """Who the MCP face says is asking (a claim the daemon records, never trusts)."""

    id: str
    session: str
    kind: str = "agent"

    def as_params(self) -> dict[str, str]:
        return {"id": self.id, "kind": self.kind, "session": self.session}


class DaemonLink:
    def __init__(self, socket: Path, client: str) -> None:
        self.socket = socket
        self.client = client

    async def call(self, method: str, params: dict[str, Any], *, wait_s: float = 0.0) -> dict[str, Any]:
        # abandon_on_cancel: a client that gives up (timeout, cancel) gets nothing back; the daemon keeps
        # the request pending, so a cancelled wait can never become an approval.
        return await anyio.to_thread.run_sync(self._call_sync, method, params, wait_s, abandon_on_cancel=True)

    def _call_sync(self, method: str, params: dict[str, Any], wait_s: float) -> dict[str, Any]:
        try:
            with Client(self.socket, client=self.client, timeout=wait_s + REPLY_MARGIN_S) as c:
                res = c.call(method, params)
        except DaemonUnavailable as exc:
            raise LinkError(f"daemon unreachable: {exc}") from None
        except RPCError as exc:
            raise LinkError(f"{exc.message} (error {exc.code})", code=exc.code) from None
        if not isinstance(res, dict):
            raise LinkError("the daemon sent a malformed reply")
        return res

    async def request(
        self,
        action: dict[str, Any],
        actor: Actor,
        *,
        wait_s: float,
        requirement: str | None = None,
        content: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        params: dict[str, Any] = {
            "action": action,
            "actor": actor.as_params(),
            "requirement": requirement,
            "wait_s": wait_s,
            "client": self.client,
        }
        if content is not None:
            params["content"] = content
        return await self.call(GATE_REQUEST, params, wait_s=wait_s)

    async def wait(self, request_id: str, *, wait_s: float) -> dict[str, Any]:
        return await self.call(GATE_WAIT, {"request_id": request_id, "wait_s": wait_s}, wait_s=wait_s)

    async def outcome(self, request_id: str, status: str, detail: str | None = None, **extra: Any) -> dict:
        params = {"request_id": request_id, "status": status, "detail": detail, **extra}
        return await self.call(GATE_OUTCOME, params)

    async def query(self, filters: dict[str, Any]) -> dict[str, Any]:
        return await self.call(LEDGER_QUERY, filters)


def process_session() -> str:
    """A session id for this MCP process (one agent connection per stdio process)."""
    return f"mcp-{os.getpid()}"
