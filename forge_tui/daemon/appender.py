"""Group commit: concurrent callers share one ledger write and one fdatasync.

Callers `await append(items)`; everything queued while the previous batch was being built becomes one
batch. Two threads besides the event loop, in a pipeline: the *preparer* builds and signs batch N+1
(canonical JSON, Ed25519) while the *writer* writes batch N and fdatasyncs it; the writer resolves
every caller's future with its own records (on the loop, through `call_soon_threadsafe`). The loop only
queues items and hands out answers: building and signing, about a third of its CPU per decision when it
did them itself, run beside it (the signatures release the GIL, so they overlap the loop's own work).
Batches are written strictly in the order they were prepared (each is chained onto the one before, and
`commit` refuses one whose predecessor is not exactly the durable head). A caller hears back only after
its records are durable; if the write fails, every caller in the batch gets the error (and the gate
denies), and so do the callers of a batch already prepared on top of it (it is never written: the chain
stays exact). A record body given as a callable (it needs earlier records of its batch) is called in the
preparer thread: it must only read what it closed over.

Callers are answered as soon as their records are durable (fdatasync returned), from the writer thread,
before it signs anything: the checkpoint and the tracked copy follow in that thread while the loop sends
the replies (docs/design.md §4.6 asks only for durable records before an answer). They follow each batch,
except under load: when another caller is queued once a batch is durable (or arrives within
CHECKPOINT_WAIT_S), the batch skips them (its records are durable all the same) and the next batch that
finds nobody coming, or the first one after CHECKPOINT_EVERY_S, signs once for all of them. So an idle
daemon's checkpoint covers an answer a few fsyncs after it was sent (`flushed()` waits for that), and a
busy one does not spend a second fsync and two renames per batch.

Faults (docs/faults.md): when the writer enters a fault (a write, fdatasync or checkpoint failed), every
append is refused at once (the gate denies) and a heal task calls `writer.heal()` with back-off
(HEAL_FIRST_S doubling to HEAL_MAX_S) until the disk takes writes again; the tracked copy is retried the
same way but never refuses an append. `health()` is what `status` shows; `append_durably` is for the
records that must not be dropped (a policy change is enforced only once its record is durable).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from typing import Any

from forge_tui.core.ledger import Appended, LedgerWriter, Prepared, StaleBatch
from forge_tui.core.records import format_ts, now_ms
from forge_tui.errors import LedgerError, LedgerUnavailable

MAX_BATCH_RECORDS = 512
CHECKPOINT_EVERY_S = 0.05
# When a batch is durable within CHECKPOINT_EVERY_S of the last checkpoint and nobody is queued yet, the
# writer waits this long for a caller before it signs: under load the next one is usually on its way (its
# client just got its reply), and a checkpoint costs five fsyncs and three renames (about 2 ms of CPU
# here), which the next batch's write waits for. At 1 ms most batches of a 32-client run still signed
# (the clients' next requests came 1-5 ms after their answers); 5 ms: 0.8x the CPU per decision and
# 1.5x the decisions/s (BENCHMARKS.md). An idle daemon does not wait: its last checkpoint is older.
CHECKPOINT_WAIT_S = 0.005
HEAL_FIRST_S = 0.05  # the first retry after a fault; each failed retry doubles it, up to HEAL_MAX_S
HEAL_MAX_S = 2.0


def _flatten(batch: list[tuple[list[tuple[str, Any]], asyncio.Future]]) -> list[tuple[str, Any]]:
    """One list of items for the writer. A callable body sees only its own caller's records (a request's
    decision needs *its* request's hash, not the first record of a batch shared with other callers)."""
    flat: list[tuple[str, Any]] = []
    for items, _ in batch:
        start = len(flat)
        for type_, body in items:
            if callable(body):
                body = _scoped(body, start)
            flat.append((type_, body))
    return flat


def _scoped(body, start: int):
    return lambda done: body(done[start:])


Batch = list[tuple[list[tuple[str, Any]], asyncio.Future]]


class _Worker:
    """A long-lived thread running jobs (callables) in the order they were posted: cheaper per batch
    than an executor's future and wrapper, and `idle()` tells whether any job is waiting. `after` is
    called in the thread after each job that leaves none waiting."""

    def __init__(self, name: str, after: Callable[[], None]) -> None:
        self._after = after
        self._jobs: deque[Callable[[], None] | None] = deque()
        self._ready = threading.Condition(threading.Lock())
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def post(self, job: Callable[[], None] | None) -> None:
        """Queue a job (None: stop once the jobs before it are done)."""
        with self._ready:
            self._jobs.append(job)
            self._ready.notify()

    def idle(self) -> bool:
        return not self._jobs

    def drain(self) -> None:
        """Block until every job posted so far has finished (not from this worker's own thread)."""
        done = threading.Event()
        self.post(done.set)
        done.wait()

    def wait_taken(self) -> None:
        """Block until every job posted so far has been started."""
        with self._ready:
            while self._jobs:
                self._ready.wait()

    def call(self, fn: Callable[[], Any]) -> asyncio.Future:
        """Run fn in this thread after the jobs already posted; an asyncio future of its result."""
        done: concurrent.futures.Future = concurrent.futures.Future()

        def job() -> None:
            if done.set_running_or_notify_cancel():
                try:
                    done.set_result(fn())
                except BaseException as exc:
                    done.set_exception(exc)

        self.post(job)
        return asyncio.wrap_future(done)

    def stop(self) -> None:
        if self._thread.is_alive():
            self.post(None)
            self._thread.join()

    def _serve(self) -> None:
        jobs, ready = self._jobs, self._ready
        while True:
            with ready:
                while not jobs:
                    ready.wait()
                job = jobs.popleft()
                if not jobs:
                    ready.notify_all()  # a poster waiting in wait_taken
            if job is None:
                return
            try:
                job()
                if not jobs:
                    self._after()
            except Exception:  # jobs handle their own errors: this is a bug, or a loop closed under us
                traceback.print_exc()  # (the daemon's stderr is its log); the thread goes on serving


class GroupAppender:
    def __init__(
        self,
        writer: LedgerWriter,
        *,
        log: Callable[[str], None] = lambda text: None,
        emit: Callable[[dict[str, Any]], None] = lambda event: None,
    ) -> None:
        self.writer = writer
        self.log = log
        self.emit = emit  # `ledger.degraded` / `ledger.healed` events for the console
        self.loop: asyncio.AbstractEventLoop | None = None  # the loop callers and answers live on
        # Callers not yet taken by the preparer: the loop's round (_incoming), then handed over (_queue,
        # taken in the preparer thread).
        self._incoming: list[tuple[list[tuple[str, Any]], asyncio.Future]] = []
        self._queue: deque[tuple[list[tuple[str, Any]], asyncio.Future]] = deque()
        self._wake = threading.Event()  # the preparer's: something is queued (set only when clear)
        self._preparer = threading.Thread(target=self._prepare_loop, name="ledger-prepare", daemon=True)
        self._writer = _Worker(
            "ledger-writer", self._after_job
        )  # commits, checkpoints and heals, one at a time
        self._building = False  # the preparer holds a batch it has not yet handed to the writer
        self._started = False
        self._closed = False
        self._stopped = False
        self._idle = asyncio.Event()
        self._idle.set()
        # Callers of append() not yet answered (loop only). A set, not a count: a caller failed twice (a
        # split batch whose preparation then broke) or answered after a failure is still owed once.
        self._owed: set[asyncio.Future] = set()
        self._untold: dict[asyncio.Future, Callable[[list[Appended]], None]] = {}  # see submit()
        self.batches = 0
        self.records = 0
        self.checkpoints = 0
        self._last_checkpoint = time.monotonic()
        self._arrived = threading.Event()  # set by append() (loop thread), awaited by the writer thread
        self._heal_task: asyncio.Task | None = None
        self._healthy = asyncio.Event()
        self._healthy.set()
        self._fault_since_ms: int | None = None
        self.heal_attempts = 0  # retries since the current fault began
        self.faults = 0  # faults entered since start
        self._reported: tuple[str | None, str | None] = (None, None)
        self._closing = asyncio.Event()

    @property
    def waiting(self) -> int:
        """Callers of append() not yet answered (the gate offloads evaluations meanwhile)."""
        return len(self._owed)

    def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._writer.start()
        self._preparer.start()
        self._started = True
        self._watch_faults()  # a fault or a stale tracked copy found while opening

    async def append(self, items: list[tuple[str, Any]]) -> list[Appended]:
        """Append as one batch shared with concurrent callers; the records once durable. Raises
        LedgerError if they could not be made durable (LedgerUnavailable while the writer heals)."""
        return await self.submit(items)

    def submit(
        self,
        items: list[tuple[str, Any]],
        untold: Callable[[list[Appended]], None] | None = None,
    ) -> asyncio.Future:
        """`append` without a coroutine of its own: queue the items and return the future that gets
        their records once durable (or the LedgerError). Raises LedgerUnavailable at once while the
        writer is in a fault or the daemon shuts down. Cancelling the future (its caller hung up) drops
        only the answer: the records are written all the same, and `untold`, if given, is called with
        them once they are durable (on the loop), so the caller can still account for them."""
        if self._closed:
            raise LedgerUnavailable("ledger unavailable: the daemon is shutting down")
        if self.writer.fault:
            raise LedgerUnavailable(f"ledger unavailable: {self.writer.fault} (retrying)")
        fut: asyncio.Future = self.loop.create_future()  # type: ignore[union-attr]
        self._owed.add(fut)
        if untold is not None:
            self._untold[fut] = untold
        self._idle.clear()
        self._incoming.append((items, fut))
        if len(self._incoming) == 1:
            self.loop.call_soon(self._hand_over)  # type: ignore[union-attr]
        return fut

    def _hand_over(self) -> None:
        """(On the loop, once per iteration with callers.) Give the preparer every caller that came in
        the loop's last round at once, so that a burst is one batch, not one taken mid-way."""
        self._queue.extend(self._incoming)
        self._incoming.clear()
        if not self._arrived.is_set():
            self._arrived.set()
        if not self._wake.is_set():  # the preparer clears it before it looks at the queue
            self._wake.set()

    async def append_durably(self, items: list[tuple[str, Any]]) -> list[Appended]:
        """Append, and while the ledger is unavailable wait for it to heal and try again: returns only once
        the records are durable. For what must be recorded before it takes effect (a policy change: enforce
        the new policy only after this returns). Raises LedgerError when the daemon shuts down first, or
        when the records themselves cannot be built (that is not a fault a retry cures)."""
        while True:
            try:
                return await self.append(items)
            except (LedgerUnavailable, StaleBatch):
                if self._closed:
                    raise
            await self.wait_healthy()

    async def wait_healthy(self) -> None:
        """Return once appends are accepted again (at once when they are)."""
        while self.writer.fault and not self._closed:
            self._watch_faults()
            self._healthy.clear()
            closing = asyncio.ensure_future(self._closing.wait())
            healed = asyncio.ensure_future(self._healthy.wait())
            try:
                await asyncio.wait((closing, healed), return_when=asyncio.FIRST_COMPLETED)
            finally:
                closing.cancel()
                healed.cancel()

    def health(self) -> dict[str, Any]:
        """(On the loop.) The write path's state for `status`: `ok`, `degraded` (appends refused: the gate
        denies while the writer retries) or `tracked_stale` (decisions go on; the copy in .forge/ledger/
        lags). The writer thread may have entered or left a fault since the loop last heard (its report
        is a callback still queued): it is taken in first, so `since` and `faults` go with the state."""
        self._watch_faults()
        return self._health()

    def _health(self) -> dict[str, Any]:
        w = self.writer
        state = "degraded" if w.fault else "tracked_stale" if w.tracked_error else "ok"
        return {
            "state": state,
            "fault": w.fault,
            "tracked_error": w.tracked_error,
            "since": format_ts(self._fault_since_ms) if self._fault_since_ms is not None else None,
            "retries": self.heal_attempts,
            "faults": self.faults,
        }

    def _watch_faults(self) -> None:
        """After each write: report a change of state, and start the heal task on a new fault."""
        self._report()
        w = self.writer
        if (w.fault or w.tracked_error) and self._heal_task is None and not self._closed:
            self._heal_task = asyncio.get_running_loop().create_task(self._heal(), name="ledger-heal")

    def _report(self) -> None:
        w = self.writer
        now_state = (w.fault, w.tracked_error)
        if now_state != self._reported:
            was_faulty = self._reported != (None, None)
            self._reported = now_state
            if w.fault or w.tracked_error:
                if not was_faulty:
                    self._fault_since_ms = now_ms()
                    self.heal_attempts = 0
                    self.faults += 1
                what = w.fault or f"tracked copy stale: {w.tracked_error}"
                self.log(f"ledger degraded: {what}")
                self.emit({"type": "ledger.degraded", **self._health()})
            else:
                self.log(f"ledger healed after {self.heal_attempts} retries")
                self._fault_since_ms = None
                self.emit({"type": "ledger.healed", **self._health()})
        if w.fault:
            self._healthy.clear()
        else:
            self._healthy.set()

    async def _heal(self) -> None:
        """Call writer.heal() with back-off until neither a fault nor a stale tracked copy is left."""
        delay = HEAL_FIRST_S
        try:
            while (self.writer.fault or self.writer.tracked_error) and not self._closed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), timeout=delay)
                if self._closed:
                    return
                self.heal_attempts += 1
                await self._writer.call(self.writer.heal)
                self._report()
                delay = min(delay * 2, HEAL_MAX_S)
        finally:
            self._heal_task = None

    # ---- the preparer thread ----------------------------------------------------------------------

    def _take(self) -> Batch:
        batch: Batch = []
        queue = self._queue
        count = 0
        while queue and (not batch or count + len(queue[0][0]) <= MAX_BATCH_RECORDS):
            entry = queue.popleft()
            batch.append(entry)
            count += len(entry[0])
        return batch

    def _prepare_loop(self) -> None:
        """Build and sign whatever is queued as one batch, hand it to the writer, and take the next once
        the writer has started on it: one batch prepared ahead of the one being written, so callers that
        come meanwhile share the next batch (and its fdatasync) instead of queueing small ones."""
        queue, wake = self._queue, self._wake
        while True:
            wake.clear()  # before looking: a caller queued from now on sets it again
            if not queue:
                if self._stopped:
                    return
                wake.wait()
                continue
            self._building = True  # before the batch leaves the queue (see _drained)
            batch: Batch = []
            jobs: list[tuple[Batch, Prepared]] = []
            try:
                batch = self._take()
                jobs = self._prepare(batch)
            except BaseException as exc:  # a bug here must not strand callers: they hear it, and deny
                self.log(f"ledger: preparing a batch failed: {type(exc).__name__}: {exc}")
                self._post_fail(batch, exc)  # (a caller the split already failed hears only once)
                # Part of the batch may have been built and chained (the writer's head points past
                # it) and is now never written: once the writer has finished what it was given, the
                # next batch chains onto the durable head again, or every later one would be stale.
                jobs = []
                self._writer.drain()
                self.writer.discard_prepared()
            self._building = False
            self._writer.post(lambda jobs=jobs: self._commit_all(jobs))  # (none: still see if drained)
            self._writer.wait_taken()

    def _prepare(self, batch: Batch) -> list[tuple[Batch, Prepared]]:
        """Build and sign a batch (nothing is written yet). A record that cannot be built (e.g. a string
        that is not valid Unicode) fails before anything is written: each caller is then built alone so
        only its own caller hears the error. Returns the batches to write, in order."""
        try:
            return [(batch, self.writer.prepare(_flatten(batch)))]
        except BaseException as exc:  # this thread gets no KeyboardInterrupt: a body's bug, or the writer
            # The writer refusing (in a fault, or chained onto a batch that failed) refuses every caller
            # alike; anything else came from one record (its body raised, even a LedgerError, or it
            # cannot be encoded), and only its own caller hears it.
            if len(batch) > 1 and not isinstance(exc, (LedgerUnavailable, StaleBatch)):
                jobs = []
                for entry in batch:
                    jobs.extend(self._prepare([entry]))
                return jobs
            self._post_fail(batch, exc)
            return []

    def _post_fail(self, batch: Batch, exc: BaseException) -> None:
        self.loop.call_soon_threadsafe(self._fail, batch, exc)  # type: ignore[union-attr]

    def _fail(self, batch: Batch, exc: BaseException) -> None:
        """(On the loop.) Every caller of the batch hears the failure and denies."""
        err = exc if isinstance(exc, LedgerError) else LedgerError(f"ledger write failed: {exc}")
        for _, fut in batch:
            if fut not in self._owed:
                continue  # already failed (or answered): each caller hears once
            self._owed.discard(fut)
            self._untold.pop(fut, None)
            if not fut.done():
                fut.set_exception(err)

    # ---- the writer thread ------------------------------------------------------------------------

    def _commit_all(self, jobs: list[tuple[Batch, Prepared]]) -> None:
        """Write the batches one preparation made (several only when a record could not be built and
        its callers were split), in order."""
        for i, (batch, prepared) in enumerate(jobs):
            self._commit(batch, prepared, last=i == len(jobs) - 1)

    def _commit(self, batch: Batch, prepared: Prepared, *, last: bool) -> None:
        """Write one prepared batch; its callers are answered once it is durable, before the checkpoint."""
        loop = self.loop
        answered: list[bool] = []

        def durable(written: list[Appended]) -> None:  # before the checkpoint: answer now
            loop.call_soon_threadsafe(self._answer, batch, written, answered)  # type: ignore[union-attr]

        try:
            self.writer.commit(
                prepared, checkpoint=self._checkpoint_now if last else False, on_durable=durable
            )
        except Exception as exc:
            if not self.writer.is_durable(prepared):
                self._post_fail(batch, exc)
                return
            # The records went through fdatasync before whatever failed after (the checkpoint, the
            # tracked copy): they are in the ledger, so their callers hear what they say. Answering
            # "failed" (denied) would contradict a durable `allowed` (docs/faults.md).
            self.log(f"ledger: {type(exc).__name__}: {exc} after batch {prepared.base} was durable")
            written = prepared.records[prepared.extra :]
            loop.call_soon_threadsafe(self._answer, batch, written, answered)  # type: ignore[union-attr]

    def _drained(self) -> bool:
        """Whether no caller is anywhere in the pipeline (handed over or not, in the preparer, in the
        writer's jobs). One caller between the preparer and the writer at this instant may be missed:
        this only decides whether to sign now (an extra checkpoint is harmless) and asks the loop to
        check for idle, which it confirms by its own count of callers not yet answered."""
        return not self._incoming and not self._queue and not self._building and self._writer.idle()

    def _after_job(self) -> None:
        """After the writer's jobs: tell the loop of a change of health and, once the pipeline is
        drained, sign what is still unsigned (batches that skipped their checkpoint, or whose write
        failed) and let the loop mark the appender idle."""
        w = self.writer
        drained = self._drained()
        if drained:
            self._sign_unsigned()
        if drained or w.fault or w.tracked_error or self._reported != (None, None):
            self.loop.call_soon_threadsafe(self._settled, drained)  # type: ignore[union-attr]

    def _sign_unsigned(self) -> None:
        """(Writer thread.) Sign a checkpoint over whatever is still unsigned, if the writer can. A
        failure is a fault (appends refused, the gate denies, the heal task retries), never an escape
        that would leave the loop waiting for `_settled`."""
        w = self.writer
        if w.signed_size >= w.size or w.broken:
            return
        try:
            w.checkpoint()
            self.checkpoints += 1
        except LedgerError:
            pass  # the writer is in a fault now: appends are refused (the gate denies) until it heals
        except Exception as exc:  # a bug, or an OSError checkpoint() does not turn into a fault itself
            self.log(f"ledger: signing a checkpoint failed: {type(exc).__name__}: {exc}")
            w.fault = w.fault or f"checkpoint failed: {type(exc).__name__}: {exc}"
        self._last_checkpoint = time.monotonic()

    def _settled(self, drained: bool) -> None:
        """(On the loop.) Report the writer's health; idle once nobody waits (a caller that came since
        the writer looked is still waiting: its own batch ends the same way)."""
        self._watch_faults()
        if drained and not self._owed and not self._incoming and not self._queue:
            self._idle.set()

    def _checkpoint_now(self) -> bool:
        """Asked in the writer thread once a batch is durable: sign now, unless the last checkpoint is
        recent and another caller is queued, a batch is being prepared or waits to be written, or a
        caller arrives within CHECKPOINT_WAIT_S (its batch comes next and signs or defers in turn, so
        the last batch of a burst always signs). Its callers have been answered already: the wait
        delays only this thread."""
        now = time.monotonic()
        if now - self._last_checkpoint < CHECKPOINT_EVERY_S and not self._closed:
            self._arrived.clear()
            if not self._drained() or self._arrived.wait(CHECKPOINT_WAIT_S):
                return False
        self._last_checkpoint = time.monotonic()
        self.checkpoints += 1
        return True

    # ---- back on the loop -------------------------------------------------------------------------

    def _answer(self, batch: Batch, written: list[Appended], answered: list[bool]) -> None:
        """The batch is durable: count it and give each caller its own records (once)."""
        if answered:
            return
        answered.append(True)
        self.batches += 1
        self.records += len(written)
        pos = 0
        for items, fut in batch:
            mine = written[pos : pos + len(items)]
            pos += len(items)
            self._owed.discard(fut)
            untold = self._untold.pop(fut, None)
            if not fut.done():
                fut.set_result(mine)
            elif untold is not None and fut.cancelled():
                try:
                    untold(mine)
                except Exception as exc:  # one caller's bookkeeping must not cost the others their answer
                    self.log(f"after a hung-up caller's records were written: {type(exc).__name__}: {exc}")

    async def synced(self) -> None:
        """Return once the batches handed to the writer so far are written and a checkpoint over them
        was tried: `health()` then tells how the work after the answers already given went (a batch
        that deferred its checkpoint, seeing this very request queued behind it, is signed here). Never
        waits for the queue to empty."""
        if self._started and not self._stopped:
            await self._writer.call(self._sign_unsigned)

    async def flushed(self) -> None:
        """Return once everything appended so far is durable and, unless the writer is in a fault,
        covered by a signed checkpoint and copied to the tracked copy (answers come before that)."""
        await self._idle.wait()

    async def close(self) -> None:
        """Write what is queued, sign it, then stop. A second call does nothing."""
        if self._stopped:
            return
        self._closed = True
        self._closing.set()
        if self._heal_task is not None:
            with contextlib.suppress(BaseException):
                await self._heal_task
        if self._started:
            await self._idle.wait()
        self._stopped = True
        if self._started:
            self._wake.set()
            self._preparer.join()
            self._writer.stop()
        try:  # whatever is still unsigned
            if self.writer.fault:
                self.writer.heal()  # one last try: an unsigned tail is signed if the disk allows
            self.writer.checkpoint()
        except LedgerError:
            pass
