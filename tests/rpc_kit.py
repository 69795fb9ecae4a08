"""An asyncio JSON-RPC connection to a daemon for tests (tests/ is on sys.path by its conftest): the
daemon tests and the console tests both drive a real daemon with it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from forge_tui.aclient import AsyncConnection
from forge_tui.protocol import DaemonUnavailable


class RPC:
    """A test's view of `forge_tui.aclient.AsyncConnection` (the console's own client): concurrent calls
    by id, events and unmatched responses (id null or unknown) kept in queues for assertions."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self.writer = conn.writer
        self.events: asyncio.Queue = asyncio.Queue()
        self.unmatched: asyncio.Queue = asyncio.Queue()
        conn.on_event = self.events.put_nowait
        conn.on_unmatched = self.unmatched.put_nowait

    @classmethod
    async def open(cls, path: Path) -> RPC:
        return cls(await AsyncConnection.open(path, limit=8 << 20))

    async def raw(self, method: str, params: Any = None, timeout: float = 10) -> dict[str, Any]:
        try:
            return await self.conn.raw(method, params, timeout=timeout)
        except DaemonUnavailable as exc:  # the tests' old contract: a dropped connection raises this
            raise ConnectionError(str(exc)) from None

    async def call(self, method: str, params: Any = None, timeout: float = 10) -> Any:
        resp = await self.raw(method, params, timeout)
        assert "error" not in resp, resp
        return resp["result"]

    async def error(self, method: str, params: Any = None, timeout: float = 10) -> dict[str, Any]:
        resp = await self.raw(method, params, timeout)
        assert "error" in resp, resp
        return resp["error"]

    async def event(self, type_: str, timeout: float = 10) -> dict[str, Any]:
        """The next event of `type_` (earlier events of other types are dropped)."""

        async def get() -> dict[str, Any]:
            while True:
                ev = await self.events.get()
                if ev["type"] == type_:
                    return ev

        return await asyncio.wait_for(get(), timeout)

    async def close(self) -> None:
        await self.conn.close()
