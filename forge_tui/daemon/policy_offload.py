"""Policy evaluation off the event loop: the daemon's side of the policy worker (daemon/policy_worker.py).

The event loop runs under the GIL on one core; `decide()` was the largest part of its work per request.
Under load (another `gate.request` in progress) the gate hands the evaluation to a worker process and
goes on with other requests meanwhile; a request that comes alone is still decided in-process (no round
trip added to a lone hook's answer). The worker is started the first time it is wanted, in the
background: until it says it is ready, evaluations stay in-process.

Fail closed: when the worker dies (or its socket closes) every evaluation it had not answered fails with
WorkerStopped, and the gate denies those requests (builtin:policy-error). The next ones are decided
in-process while a new worker starts, after a back-off (RESTART_FIRST_S doubling to RESTART_MAX_S,
back to the first once a worker has lived RESTART_RESET_S). The same policy object and the same
Context the in-process path would use are sent (each once, when it changes), so both paths give the
same Evaluation.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from forge_tui.daemon.policy_worker import (
    EVALUATE,
    READY,
    SET_CONTEXT,
    SET_POLICY,
    FrameReader,
    evaluation_from_wire,
    frame,
)

RESTART_FIRST_S = 0.05
RESTART_MAX_S = 5.0
RESTART_RESET_S = 10.0  # a worker that lived this long resets the back-off
STOP_WAIT_S = 2.0  # how long close() waits for the worker to exit before it kills it


class WorkerStopped(Exception):
    """The policy worker stopped before it answered (the gate denies)."""


class _Link(asyncio.Protocol):
    """The daemon's end of the socket pair: frames in, handed to the offload."""

    def __init__(self, owner: PolicyOffload, proc: subprocess.Popen | None) -> None:
        self.owner = owner
        self.proc = proc  # the worker at the other end
        self.reader = FrameReader()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.owner._connected(self, transport)  # type: ignore[arg-type]

    def data_received(self, data: bytes) -> None:
        received = self.owner._received
        for raw in self.reader.feed(data):
            received(self, raw)

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner._lost(self, "the policy worker stopped" + (f" ({exc})" if exc else ""))


class PolicyOffload:
    """One policy worker process and the evaluations it owes. Used from the event loop thread only."""

    def __init__(self, *, log: Callable[[str], None] = lambda text: None) -> None:
        self.log = log
        self._proc: subprocess.Popen | None = None
        self._link: _Link | None = None
        self._transport: asyncio.Transport | None = None
        self._ready = False
        self._closed = False
        self._started_at = 0.0
        self._retry_at = 0.0
        self._delay = RESTART_FIRST_S
        self._waiting: dict[int, asyncio.Future] = {}
        self._next_id = READY + 1
        self._out: list[bytes] = []
        self._sent_policy: object = None
        self._sent_context: object = None
        self._dead: list[subprocess.Popen] = []
        self.evaluated = 0  # evaluations the worker answered
        self.starts = 0  # workers started
        self.lost = 0  # workers that stopped while the daemon ran

    @property
    def pending(self) -> int:
        """Evaluations sent and not yet answered."""
        return len(self._waiting)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def describe(self) -> dict[str, Any]:
        """For `status`: the worker's pid (None when none runs), whether it takes evaluations, and counts."""
        return {
            "pid": self.pid,
            "ready": self._ready,
            "evaluated": self.evaluated,
            "starts": self.starts,
            "lost": self.lost,
        }

    def available(self) -> bool:
        """Whether a worker is ready for an evaluation now. If none runs (and the back-off allows), one
        is started in the background and this says False until it is ready."""
        if self._ready:
            return True
        if self._proc is None and not self._closed and time.monotonic() >= self._retry_at:
            self._spawn()
        return False

    async def evaluate(self, policy: Any, context: Any, action: dict[str, Any], prior: frozenset[str]):
        """decide(policy, action, context with `prior` as its prior succeeded steps), in the worker.
        Raises WorkerStopped if the worker stops first. `context` is the one Context of the caller
        (sent again only when another object comes), `prior` what differs per request."""
        if not self._ready or self._transport is None:
            raise WorkerStopped("the policy worker is not running")
        frames = []  # all pickled before anything is queued: a frame that fails sends nothing
        if policy is not self._sent_policy:
            frames.append(frame((SET_POLICY, policy)))
        if context is not self._sent_context:
            frames.append(frame((SET_CONTEXT, context)))
        rid = self._next_id
        self._next_id += 1
        frames.append(frame((EVALUATE, rid, action, prior)))
        self._sent_policy, self._sent_context = policy, context
        fut = asyncio.get_running_loop().create_future()
        self._waiting[rid] = fut
        self._queue(frames)
        try:
            return await fut
        finally:
            self._waiting.pop(rid, None)

    # ---- the worker's life ---------------------------------------------------------------------------

    def _spawn(self) -> None:
        self._reap()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            proc = subprocess.Popen(
                worker_argv(theirs.fileno()),
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                env=_worker_env(),
            )
        except OSError as exc:
            ours.close()
            self.log(f"policy worker not started: {exc}; deciding in-process")
            self._back_off()
            return
        finally:
            theirs.close()
        self._proc = proc
        self._started_at = time.monotonic()
        self.starts += 1
        ours.setblocking(False)
        asyncio.get_running_loop().create_task(self._connect(ours, proc), name="policy-worker-link")

    async def _connect(self, sock: socket.socket, proc: subprocess.Popen) -> None:
        link = _Link(self, proc)
        try:
            await asyncio.get_running_loop().create_unix_connection(lambda: link, sock=sock)
        except OSError as exc:
            sock.close()
            self._lost(link, f"the policy worker's socket failed ({exc})")

    def _connected(self, link: _Link, transport: asyncio.Transport) -> None:
        if link.proc is not self._proc or self._closed:  # closed or replaced while connecting
            transport.close()
            return
        self._link, self._transport = link, transport

    def _received(self, link: _Link, raw: memoryview) -> None:
        if link is not self._link:
            return  # an older worker's late answer: its callers heard WorkerStopped already
        rid, wire, error = pickle.loads(raw)
        if rid == READY:
            self._ready = self._transport is not None
            self.log(f"policy worker {self.pid} ready: decisions under load are evaluated there")
            return
        fut = self._waiting.pop(rid, None)
        if fut is None or fut.done():
            return  # its caller went away (the client hung up)
        self.evaluated += 1
        if error is not None:
            fut.set_exception(RuntimeError(error))
        else:
            fut.set_result(evaluation_from_wire(wire))

    def _lost(self, link: _Link, why: str) -> None:
        proc = link.proc
        if proc is not self._proc:  # an older worker's socket
            if proc is not None:
                with contextlib.suppress(OSError):
                    proc.kill()
                self._dead.append(proc)
            return
        self._proc, self._link, self._transport, self._ready = None, None, None, False
        self._sent_policy = self._sent_context = None
        self._out.clear()
        waiting, self._waiting = self._waiting, {}
        for fut in waiting.values():
            if not fut.done():
                fut.set_exception(WorkerStopped(why))
        if proc is not None:
            with contextlib.suppress(OSError):
                proc.kill()
            self._dead.append(proc)
        if not self._closed:
            self.lost += 1
            self.log(f"{why}: {len(waiting)} evaluations denied; deciding in-process until a new one starts")
            self._back_off()

    def _back_off(self) -> None:
        now = time.monotonic()
        if self._started_at and now - self._started_at >= RESTART_RESET_S:
            self._delay = RESTART_FIRST_S
        self._retry_at = now + self._delay
        self._delay = min(self._delay * 2, RESTART_MAX_S)

    def _reap(self) -> None:
        self._dead = [p for p in self._dead if p.poll() is None]

    # ---- writing -------------------------------------------------------------------------------------

    def _queue(self, frames: list[bytes]) -> None:
        """Frames go out once per loop iteration, together: one write for every request of a burst."""
        if not self._out:
            asyncio.get_running_loop().call_soon(self._flush)
        self._out.extend(frames)

    def _flush(self) -> None:
        if not self._out:
            return
        data = b"".join(self._out)
        self._out.clear()
        if self._transport is not None:
            self._transport.write(data)

    async def close(self) -> None:
        """Stop the worker (it exits when its socket closes; killed if it has not after STOP_WAIT_S)."""
        self._closed = True
        proc, transport = self._proc, self._transport
        if transport is not None:
            transport.close()
        elif proc is not None:  # still connecting
            self._lost(_Link(self, proc), "the daemon is stopping")
        for fut in self._waiting.values():
            if not fut.done():
                fut.set_exception(WorkerStopped("the daemon is stopping"))
        self._waiting.clear()
        for p in [*([proc] if proc is not None else []), *self._dead]:
            await asyncio.get_running_loop().run_in_executor(None, _stop, p)
        self._proc = None
        self._dead.clear()


def _stop(proc: subprocess.Popen) -> None:
    try:
        proc.wait(timeout=STOP_WAIT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def worker_argv(fd: int) -> list[str]:
    """The worker's command line, its end of the socket pair being `fd` (a test may put another)."""
    return [sys.executable, "-m", "forge_tui.daemon.policy_worker", str(fd)]


def _worker_env() -> dict[str, str]:
    """The daemon's environment (the same data folder and HOME decide the same way), with the folder
    this forge_tui was imported from first on PYTHONPATH: the worker runs exactly this code."""
    import forge_tui

    env = dict(os.environ)
    src = str(Path(forge_tui.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [env.get("PYTHONPATH")])])
    return env
