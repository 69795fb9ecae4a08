"""An asyncio JSON-RPC connection to a daemon for tests (tests/ is on sys.path by its conftest): the
daemon tests and the console tests both drive a real daemon with it."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from pathlib import Path
from typing import Any


class RPC:
    """An asyncio JSON-RPC connection: concurrent calls by id, events kept in a queue."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.ids = itertools.count(1)
        self.waiting: dict[Any, asyncio.Future] = {}
        self.events: asyncio.Queue = asyncio.Queue()
        self.unmatched: asyncio.Queue = asyncio.Queue()  # responses with id null or unknown
        self.task = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, path: Path) -> RPC:
        r, w = await asyncio.open_unix_connection(str(path), limit=8 << 20)
        return cls(r, w)

    async def _read(self) -> None:
        try:
            while True:
                line = await self.reader.readline()
                if not line:
                    break
                msg = json.loads(line)
                if msg.get("method") == "event":
                    self.events.put_nowait(msg["params"])
                    continue
                fut = self.waiting.pop(msg.get("id"), None)
                if fut is not None and not fut.done():
                    fut.set_result(msg)
                else:
                    self.unmatched.put_nowait(msg)
        finally:
            for fut in self.waiting.values():
                if not fut.done():
                    fut.set_exception(ConnectionError("connection closed"))

    async def raw(self, method: str, params: Any = None, timeout: float = 10) -> dict[str, Any]:
        rid = next(self.ids)
        fut = asyncio.get_running_loop().create_future()
        self.waiting[rid] = fut
        msg = {"jsonrpc": "2.0", "id": rid, "method": method, "params": params if params is not None else {}}
        self.writer.write(json.dumps(msg).encode() + b"\n")
        await self.writer.drain()
        return await asyncio.wait_for(fut, timeout)

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
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()
        self.task.cancel()
        with contextlib.suppress(BaseException):
            await self.task
