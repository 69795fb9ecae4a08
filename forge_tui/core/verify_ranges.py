"""How `verify` shares a ledger file among its worker processes (forge_tui.core.verify_chunk): byte
ranges of whole lines, each handed over with the position of its first record and the hash its
first `prev` must name, the results taken back in ledger order.

A range's first position is what its first line says its `seq` is: for an intact ledger that is the
position, and the parent need not count the lines before it. Each result says how many lines its
range held, so before a result is used the position it was given is checked against the lines
counted so far; from the first that is wrong (a record deleted, inserted or renumbered before it)
the parent counts the lines itself and checks the rest of the ranges again with the right positions.
Every result handed on was therefore computed with its range's true position.
"""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor

from forge_tui.core.records import ZERO_HASH
from forge_tui.core.verify_chunk import PREV_KEY, SEQ_KEY, ChunkResult, check_chunk

CHUNK_BYTES = 4 << 20  # a range's size at most (about): results stream back while the rest is checked
FAST_POOL_BYTES = 16 << 20  # --fast starts worker processes only for a ledger at least this big
TAIL_BYTES = 256 << 10  # the smallest range the last ones shrink to (see byte_bounds)


class Pool:
    """The worker processes, started when a ledger first needs them and shared by all ledgers."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def get(self, fast: bool, size: int) -> ProcessPoolExecutor | None:
        if self.workers < 2 or (fast and size < FAST_POOL_BYTES):
            return self._pool
        if self._pool is None:
            # The workers' objects hold no cycles: no collector pauses over their growing results.
            self._pool = ProcessPoolExecutor(max_workers=self.workers, initializer=gc.disable)
        return self._pool

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None


class Ranges:
    """The ranges of one ledger's complete lines [0, complete) of `data`, started on `pool` (or, with
    none, run here one by one as `results` asks for them). `job`: (path, origin, vkeys, fast,
    reviewers) as `check_chunk` takes them. `data` must stay open until `results` is done."""

    def __init__(self, data, complete: int, pool: ProcessPoolExecutor | None, workers: int, job: tuple):
        self.data = data
        self.pool = pool
        self.job = job
        self.bounds = byte_bounds(data, complete, workers * 4 if pool is not None else 1)
        hints = [0] + [_seq_hint(data, a, b) for a, b in self.bounds[1:]]
        if None in hints:  # a range starts on a line without a readable seq: count them all
            hints, seq = [], 0
            for a, b in self.bounds:
                hints.append(seq)
                seq += data[a:b].count(b"\n")
        self.firsts: list[int] = hints  # type: ignore[assignment]
        self.jobs: list[Future | tuple] = [self._start(i) for i in range(len(self.bounds))]
        self.count = 0  # lines checked so far; all of them once `results` is done
        self.done = 0  # bytes checked so far

    def _start(self, i: int) -> Future | tuple:
        a, b = self.bounds[i]
        path, origin, vkeys, fast, reviewers = self.job
        args = (path, a, b, self.firsts[i], line_hash_before(self.data, a), origin, vkeys, fast, reviewers)
        return self.pool.submit(check_chunk, *args) if self.pool is not None else args

    def results(self) -> Iterator[ChunkResult]:
        """Each range's result, in ledger order, numbered by its lines' true positions."""
        for i in range(len(self.bounds)):
            if self.firsts[i] != self.count:
                self._restart_from(i)
            job = self.jobs[i]
            res = job.result() if isinstance(job, Future) else check_chunk(*job)
            self.jobs[i] = None  # type: ignore[call-overload]  # done: let the result go
            self.count = res.first_seq + res.count
            self.done = self.bounds[i][1]
            yield res

    def _restart_from(self, i: int) -> None:
        """Count the lines from range i on and check again each range given a wrong position."""
        seq = self.count
        for j in range(i, len(self.bounds)):
            if self.firsts[j] != seq:
                job = self.jobs[j]
                if isinstance(job, Future):
                    job.cancel()
                self.firsts[j] = seq
                self.jobs[j] = self._start(j)
            a, b = self.bounds[j]
            seq += self.data[a:b].count(b"\n")


def byte_bounds(data, complete: int, parts: int) -> list[tuple[int, int]]:
    """Split the complete lines into byte ranges that start and end at line boundaries: about
    `parts` of them, or more, of at most about CHUNK_BYTES each. With several parts (workers), the
    ranges get smaller toward the end, each at most a (parts / 2)-th of what is left and at least
    TAIL_BYTES: the workers then finish at about the same time, where with equal ranges one of them
    would often check a last whole range alone while the other waits (half a range on average)."""
    size = max(1, min(CHUNK_BYTES, -(-complete // max(parts, 1))))
    floor, share = min(size, TAIL_BYTES), max(1, parts // 2)
    bounds = []
    start = 0
    while start < complete:
        step = size if parts < 2 else max(floor, min(size, (complete - start) // share))
        end = data.find(b"\n", min(start + step, complete) - 1) + 1
        if end <= start or end > complete:
            end = complete
        bounds.append((start, end))
        start = end
    return bounds


def line_hash_before(data, start: int) -> bytes:
    """The leaf hash (hex) of the line that ends just before byte `start` (ZERO_HASH at 0): what the
    first line of a range must name as `prev`."""
    if start == 0:
        return ZERO_HASH.encode()
    j = data.rfind(b"\n", 0, start - 1)
    return hashlib.sha256(b"\x00" + data[j + 1 : start - 1]).hexdigest().encode()


def _seq_hint(data, start: int, end: int) -> int | None:
    """The `seq` the line at `start` says it has, read from its bytes where a canonical record has
    it; None when it is not there."""
    nl = data.find(b"\n", start, end)
    k = data.rfind(PREV_KEY, start, nl)
    if k < 0 or data[k + 72 : k + 80] != SEQ_KEY:
        return None
    q = data.find(b",", k + 80, nl)
    said = data[k + 80 : q] if q > 0 else b""
    return int(said) if said.isdigit() and said == str(int(said)).encode() else None
