"""The console's asyncio link to the daemon: JSON-RPC 2.0 over the Unix socket, one object per line.

One task owns the connection (`DaemonLink.run`, run by the app as an exclusive worker). It connects,
says hello, subscribes to queue events and fetches the queue, then reads until the daemon goes away, and
reconnects with exponential backoff for as long as the app runs. It never touches widgets: it only posts
messages (`LinkState`, `QueueSnapshot`, `DaemonEvent`) through the `post` callable it was given.
`call()` sends a request and awaits its answer from any coroutine on the app's loop; while the link is
down it raises `DaemonUnavailable` at once, so the UI never waits on a daemon that is not there.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from textual.message import Message

from forge_tui import __version__
from forge_tui.aclient import AsyncConnection
from forge_tui.protocol import HELLO, QUEUE_LIST, QUEUE_SUBSCRIBE, STATUS, DaemonUnavailable, RPCError
from forge_tui.protocol import PROTOCOL_VERSION as PROTOCOL

CONNECTING, CONNECTED, DISCONNECTED = "connecting", "connected", "disconnected"

__all__ = [
    "CONNECTED",
    "CONNECTING",
    "DISCONNECTED",
    "DaemonEvent",
    "DaemonLink",
    "DaemonUnavailable",
    "Link",
    "LinkState",
    "QueueSnapshot",
    "RPCError",
]


class LinkState(Message):
    """The connection changed state: `connecting`, `connected` or `disconnected`."""

    def __init__(self, state: str, detail: str = "", retry_in: float | None = None) -> None:
        super().__init__()
        self.state = state
        self.detail = detail
        self.retry_in = retry_in


class QueueSnapshot(Message):
    """The whole queue (and the daemon's status) right after a (re)connection."""

    def __init__(self, pending: list[dict[str, Any]], status: dict[str, Any] | None) -> None:
        super().__init__()
        self.pending = pending
        self.status = status


class DaemonEvent(Message):
    """One `event` notification from `queue.subscribe` (request.new/updated/decided, violation, policy.*)."""

    def __init__(self, event: dict[str, Any]) -> None:
        super().__init__()
        self.event = event


class Link(Protocol):
    """What the app needs from a daemon link (the tests' fake implements the same)."""

    state: str

    async def run(self) -> None: ...

    async def call(
        self, method: str, params: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> Any: ...

    def reconnect_now(self) -> None: ...

    async def close(self) -> None: ...


class DaemonLink:
    """A reconnecting JSON-RPC connection to the daemon at `path`, reporting through `post`."""

    def __init__(
        self,
        path: str | Path,
        post: Callable[[Message], object],
        *,
        client: str = "tui",
        call_timeout: float = 10.0,
        min_backoff: float = 0.1,
        max_backoff: float = 5.0,
    ) -> None:
        self.path = str(path)
        self.post = post
        self.client = client
        self.call_timeout = call_timeout
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.state = DISCONNECTED
        self.hello: dict[str, Any] | None = None
        self._conn: AsyncConnection | None = None  # open (calls may go out) even before hello answered
        self._wake = asyncio.Event()
        self._closed = False

    # ---- public ------------------------------------------------------------------------------------

    async def call(
        self, method: str, params: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> Any:
        """Send `method` and return its result; RPCError for a daemon refusal, DaemonUnavailable when the
        link is down, goes down meanwhile, or no answer comes within the timeout."""
        conn = self._conn
        if conn is None or conn.closed:
            raise DaemonUnavailable("not connected to the daemon")
        return await conn.call(method, params or {}, timeout=timeout)

    def reconnect_now(self) -> None:
        """Cut a backoff wait short (the user asked to retry)."""
        self._wake.set()

    async def close(self) -> None:
        self._closed = True
        self._wake.set()
        self._drop_connection("closed")

    # ---- the connection loop -----------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, serve, reconnect: until `close()` or cancellation. Never raises for daemon trouble."""
        delay = self.min_backoff
        while not self._closed:
            self._set_state(CONNECTING)
            detail = ""
            try:
                served = await self._serve_once()
                if served:
                    delay = self.min_backoff  # it worked for a while: start the backoff afresh
                detail = "the daemon closed the connection"
            except DaemonUnavailable as exc:
                detail = str(exc)
            except RPCError as exc:
                detail = f"the daemon refused the console: {exc.message} ({exc.code})"
            except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError) as exc:
                detail = _describe(exc)
            finally:
                self._drop_connection(detail or "disconnected")
            if self._closed:
                break
            self._set_state(DISCONNECTED, detail, retry_in=delay)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)  # backoff; reconnect_now() ends it early
            delay = min(delay * 2, self.max_backoff)

    async def _serve_once(self) -> bool:
        """One connection's life. Returns True when it got as far as `connected`."""
        conn = await AsyncConnection.open(
            self.path,
            connect_timeout=self.call_timeout,
            on_event=lambda ev: self.post(DaemonEvent(ev)),
            call_timeout=self.call_timeout,
        )
        self._conn = conn
        try:
            self.hello = await self.call(HELLO, {"client": self.client, "version": __version__})
            if (self.hello or {}).get("protocol") != PROTOCOL:
                raise DaemonUnavailable(
                    f"the daemon speaks protocol {(self.hello or {}).get('protocol')!r}, not {PROTOCOL}"
                )
            await self.call(QUEUE_SUBSCRIBE, {})
            pending = (await self.call(QUEUE_LIST, {}))["pending"]
            try:
                status = await self.call(STATUS, {})
            except RPCError:
                status = None
            self._set_state(CONNECTED)
            self.post(QueueSnapshot(pending, status))
            await conn.wait_closed()
            return True
        finally:
            await conn.close()

    def _drop_connection(self, why: str) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.abort(why)

    def _set_state(self, state: str, detail: str = "", retry_in: float | None = None) -> None:
        self.state = state
        self.post(LinkState(state, detail, retry_in))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"connection failed: {exc.strerror}"
    return f"connection failed: {exc}" if str(exc) else f"connection failed ({type(exc).__name__})"
