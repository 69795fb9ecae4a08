"""One asyncio JSON-RPC connection to the daemon: the console's link and the tests both use it.

Calls run concurrently, matched by id; `event` notifications go to a callback; a response nobody waits
for goes to another (tests look at those). When the connection ends, every waiting call fails with
`DaemonUnavailable`. Standard library only (it never needs textual), framing as in
`forge_tui.protocol`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from forge_tui.protocol import EVENT, MAX_LINE, DaemonUnavailable, RPCError, is_refusal, request_message

__all__ = ["AsyncConnection"]


class AsyncConnection:
    """A JSON-RPC connection over a Unix socket. Build it with `await AsyncConnection.open(path)`."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        on_event: Callable[[dict[str, Any]], object] | None = None,
        on_unmatched: Callable[[dict[str, Any]], object] | None = None,
        call_timeout: float = 10.0,
    ) -> None:
        self.reader, self.writer = reader, writer
        self.on_event = on_event
        self.on_unmatched = on_unmatched
        self.call_timeout = call_timeout
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future] = {}
        self.closed = False
        self.ended: str | None = None  # why reading stopped, once it has
        self.reading = asyncio.create_task(self._read())
        self.reading.add_done_callback(self._reading_done)

    @classmethod
    async def open(
        cls, path: str | Path, *, connect_timeout: float = 10.0, limit: int = MAX_LINE + 2, **kw: Any
    ) -> AsyncConnection:
        """Connect to the daemon at `path`; DaemonUnavailable when nothing answers there."""
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_unix_connection(str(path), limit=limit), connect_timeout
            )
        except TimeoutError:
            raise DaemonUnavailable(f"no answer from {path}") from None
        except (FileNotFoundError, ConnectionRefusedError):
            raise DaemonUnavailable(f"no daemon at {path}") from None
        except OSError as exc:
            raise DaemonUnavailable(f"cannot connect to {path}: {exc.strerror or exc}") from None
        return cls(reader, writer, **kw)

    # ---- calls -------------------------------------------------------------------------------------

    async def send(self, obj: dict[str, Any]) -> None:
        """Write one message (any object: tests send malformed ones on purpose)."""
        data = (json.dumps(obj, ensure_ascii=False) + "\n").encode("utf-8", "surrogatepass")
        await self.send_bytes(data)

    async def send_bytes(self, data: bytes) -> None:
        if self.closed:
            raise DaemonUnavailable("the connection is closed")
        self.writer.write(data)
        await self.writer.drain()

    async def raw(self, method: str, params: Any = None, *, timeout: float | None = None) -> dict[str, Any]:
        """Send a request and return the whole response object (result or error)."""
        if self.closed:
            raise DaemonUnavailable(f"connection to the daemon lost ({self.ended or 'closed'})")
        rid = next(self._ids)
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        self._waiting[rid] = fut
        msg = request_message(rid, method, params if params is not None else {})

        async def exchange() -> dict[str, Any]:
            await self.send(msg)  # inside the timeout too: a daemon that stops reading must not hang us
            return await fut

        try:
            return await asyncio.wait_for(exchange(), timeout if timeout is not None else self.call_timeout)
        except TimeoutError:
            raise DaemonUnavailable(f"the daemon did not answer {method} in time") from None
        except (ConnectionError, OSError, RuntimeError) as exc:
            raise DaemonUnavailable(f"connection to the daemon failed: {exc}") from None
        finally:
            self._waiting.pop(rid, None)

    async def call(self, method: str, params: Any = None, *, timeout: float | None = None) -> Any:
        """The result of `method`; RPCError for a refusal, DaemonUnavailable when the link fails."""
        resp = await self.raw(method, params, timeout=timeout)
        if "error" in resp:
            err = resp["error"] or {}
            raise RPCError(int(err.get("code", -32603)), str(err.get("message", "error")), err.get("data"))
        return resp.get("result")

    # ---- reading -----------------------------------------------------------------------------------

    async def _read(self) -> None:
        while True:
            try:
                line = await self.reader.readline()
            except (ValueError, asyncio.LimitOverrunError):
                raise ValueError("the daemon sent a line over 1 MiB") from None
            if not line:
                return
            if not line.strip():
                continue
            msg = json.loads(line)
            if type(msg) is not dict:
                continue
            if msg.get("method") == EVENT and "id" not in msg:
                params = msg.get("params")
                if self.on_event is not None and type(params) is dict and type(params.get("type")) is str:
                    self.on_event(params)
                continue
            if is_refusal(msg) and self._waiting:
                # A null-id error answers the connection (a refusal): every call waiting gets it.
                for fut in self._waiting.values():
                    if not fut.done():
                        fut.set_result(msg)
                continue
            fut = self._waiting.get(msg.get("id"))  # type: ignore[arg-type]
            if fut is not None and not fut.done():
                fut.set_result(msg)
            elif self.on_unmatched is not None:
                self.on_unmatched(msg)

    def _reading_done(self, task: asyncio.Task) -> None:
        if task.cancelled():
            why = "closed"
        else:
            exc = task.exception()
            why = "the daemon closed the connection" if exc is None else f"{type(exc).__name__}: {exc}"
        self.abort(why)

    def abort(self, why: str) -> None:
        """Close at once (no waiting): calls in flight fail with DaemonUnavailable naming `why`."""
        if self.ended is None:
            self.ended = why
        self.closed = True
        with contextlib.suppress(Exception):
            self.writer.close()
        for fut in self._waiting.values():
            if not fut.done():
                fut.set_exception(DaemonUnavailable(f"connection to the daemon lost ({why})"))
        self._waiting.clear()

    async def wait_closed(self) -> None:
        """Until the daemon ends the connection (or `close()`); re-raises a reading error."""
        await asyncio.shield(self.reading)

    async def close(self) -> None:
        self.abort("closed")
        self.reading.cancel()
        with contextlib.suppress(BaseException):
            await self.reading
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()
