"""`ledger.query` off the event loop: the newest matching records, read from the ledger's end in blocks.

A query that the newest block answers (the usual "last N records") is read in a thread: it is short.
A longer one — a filter that matches old records or nothing, so the scan walks the whole ledger — goes
on in a worker process (one, started on first need with `spawn`, so it inherits no lock or ledger file
descriptor of the daemon), block by block: parsing a million lines of JSON in a thread would hold the
GIL against the event loop and stall every decision meanwhile. The event loop only awaits each block's
result. Between blocks the daemon may await `hook` (tests hold a query there; nothing else uses it).
If no process can be started (no /dev/shm, a sandbox), the blocks run in a thread instead, once logged.

The worker runs at a lower CPU priority (QUERY_NICE) than the daemon, so on a busy machine decisions
are served before the scan. A line is parsed only if it holds each value a `type` or `request_id`
filter names as a JSON string (`"genesis"`), and a block none of whose lines can match is skipped after
one substring search: the usual full scan, for a rare type, reads the file at memchr speed. (A line
that spells such a value with escapes the writer's canonical JSON never uses is not found: only a
hand-edited line does, and `verify` reports it.)
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FIRST_BLOCK = 1 << 20  # read in a thread: a few milliseconds of parsing
BLOCK = 4 << 20  # each further block, in the worker process
QUERY_NICE = 10  # added to the worker's niceness: decisions come first on a busy machine


@dataclass(frozen=True)
class Block:
    """What one block of the scan found: matches newest first, and where the next (older) block ends
    (0: the start of the file was reached). `pid` is the process that read it."""

    records: list[dict[str, Any]]
    end: int
    pid: int


def scan_block(path: str, end: int | None, filters, want: int, block: int) -> Block:
    """Up to `want` records matching `filters` among the complete lines before byte `end` (None: the
    end of the file, less a torn last line), newest first, reading about `block` bytes."""
    with open(path, "rb") as fh:
        fd = fh.fileno()
        if end is None:
            end = _last_line_end(fd, os.fstat(fd).st_size, block)
        out: list[dict[str, Any]] = []
        if end == 0:
            return Block(out, 0, os.getpid())
        start = max(0, end - block)
        data = os.pread(fd, end - start, start)
        # The first LF before the last byte (which ends the line before `end`): none when the block holds
        # less than one line, and then it grows backwards until it holds one.
        while start > 0 and (cut := data.find(b"\n", 0, len(data) - 1)) < 0:
            grow = max(0, start - block)
            data = os.pread(fd, start - grow, grow) + data
            start = grow
        if start > 0:
            data = data[cut + 1 :]
            start += cut + 1
        needles = _needles(filters)
        if needles and not all(any(n in data for n in group) for group in needles):
            return Block(out, start, os.getpid())  # no line of this block can match: none is parsed
        lines = data.split(b"\n")
        lines.pop()  # after the last LF
        matches = filters.matches
        for line in reversed(lines):
            if not line or (needles and not all(any(n in line for n in group) for group in needles)):
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                continue  # `verify` reports it; a query shows what it can read
            if matches(rec):
                out.append(rec)
                if len(out) >= want:
                    break
        return Block(out, start, os.getpid())


def _needles(filters) -> list[tuple[bytes, ...]]:
    """For each `type` / `request_id` filter, the JSON strings of which a matching line holds one."""
    groups = []
    if filters.types:
        groups.append(tuple(_json_string(t) for t in filters.types))
    if filters.request_id:
        groups.append((_json_string(filters.request_id),))
    return groups


def _json_string(value: str) -> bytes:
    """`value` as the writer's canonical JSON spells it, quotes included."""
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


def _lower_priority() -> None:
    """The query worker's initializer: run below the daemon (a failure leaves it as it is)."""
    try:
        os.nice(QUERY_NICE)
    except OSError:
        pass


def _last_line_end(fd: int, size: int, block: int) -> int:
    pos = size
    while pos > 0:
        start = max(0, pos - block)
        chunk = os.pread(fd, pos - start, start)
        nl = chunk.rfind(b"\n")
        if nl >= 0:
            return start + nl + 1
        pos = start
    return 0


class QueryRunner:
    """Runs the daemon's queries (see the module docstring). `close()` stops the worker process."""

    def __init__(self, log: Callable[[str], None]) -> None:
        self.log = log
        self.first_block = FIRST_BLOCK
        self.block = BLOCK
        self.hook: Callable[[], Awaitable[None]] | None = None
        self.pids: set[int] = set()  # the processes that read blocks (the daemon's own for the first)
        self._pool: Executor | None = None
        self._lock = threading.Lock()

    def _executor(self) -> Executor:
        with self._lock:
            return self._start()

    def _start(self) -> Executor:
        if self._pool is None:
            import multiprocessing

            try:
                pool = ProcessPoolExecutor(
                    max_workers=1,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_lower_priority,
                )
                pool.submit(os.getpid).result(timeout=60)  # it starts now, or not at all
            except (OSError, NotImplementedError, RuntimeError, TimeoutError) as exc:
                self.log(f"ledger.query: no worker process ({exc}); long queries run in a thread")
                pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="forge-query")
            self._pool = pool
        return self._pool

    async def newest(self, path: Path, filters, limit: int) -> list[dict[str, Any]]:
        """Up to `limit` matching records of the ledger at `path`, newest first."""
        loop = asyncio.get_running_loop()
        got = await asyncio.to_thread(scan_block, str(path), None, filters, limit, self.first_block)
        out = list(got.records)
        self.pids.add(got.pid)
        while len(out) < limit and got.end > 0:
            if self.hook is not None:
                await self.hook()
            if self._pool is None:
                await loop.run_in_executor(None, self._executor)  # starting it blocks: not on the loop
            got = await loop.run_in_executor(
                self._pool, scan_block, str(path), got.end, filters, limit - len(out), self.block
            )
            self.pids.add(got.pid)
            out.extend(got.records)
        return out

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None
