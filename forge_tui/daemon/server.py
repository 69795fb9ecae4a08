"""The daemon's Unix-socket servers: JSON-RPC 2.0, one JSON object per line (docs/design.md §9, §6.1).

Two sockets, two roles. The agent socket (`paths.socket_path`) answers only `protocol.AGENT_METHODS`;
the reviewer socket (`paths.review_socket_path`, in its own 0700 folder that `forge-tui run` hides from
the agent) answers everything. The role is the socket a connection came in on, never anything the
client says.

Per connection: peer credentials are read first (another uid is refused, and each peer process may hold
at most MAX_CONN_PER_PEER connections); a connection idle for `idle_timeout_s`, or holding a partial
line for `partial_timeout_s`, is closed; lines are framed by hand so
a line over 1 MiB gets error 4013 and is skipped without disturbing anything else; each request runs in
its own task (a long `gate.request` wait never blocks the next message), at most MAX_INFLIGHT_PER_CONN at
a time per connection (then reading pauses: back-pressure, never unbounded buffering); notifications to subscribers go
through a bounded queue so a reader that stops reading is dropped instead of stalling the daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import gc
import json
import os
import signal
import socket
import stat
import struct
import time
from pathlib import Path
from typing import Any

from forge_tui import __version__
from forge_tui.core.approvals import WITNESS_FIELD
from forge_tui.core.jcs import canonical
from forge_tui.core.ledger import LedgerWriter
from forge_tui.core.trust import replay
from forge_tui.daemon.admission import Admission, load_admission, prepare_pair_dir
from forge_tui.daemon.appender import GroupAppender
from forge_tui.daemon.gate import Gate, peer_process
from forge_tui.daemon.hookserve import HookService
from forge_tui.daemon.policy_offload import PolicyOffload
from forge_tui.daemon.policy_watch import PolicyHolder, watch_policy
from forge_tui.daemon.queries import QueryRunner
from forge_tui.daemon.witness_book import WitnessBook
from forge_tui.errors import ConfigError, LedgerError
from forge_tui.paths import keys_dir
from forge_tui.protocol import (
    AGENT_METHODS,
    BAD_PARAMS,
    BAD_SIGNATURE,
    EVENT,
    GATE_OUTCOME,
    GATE_REQUEST,
    GATE_WAIT,
    HELLO,
    HOOK_RUN,
    INTERNAL,
    INVALID_REQUEST,
    LEDGER_CHECKPOINT,
    LEDGER_NOTE,
    LEDGER_QUERY,
    LEDGER_UNAVAILABLE,
    MAX_LINE,
    METHOD_NOT_FOUND,
    NOT_PENDING,
    PARSE_ERROR,
    POLICY_APPROVE,
    POLICY_RELOAD,
    PROTOCOL_VERSION,
    QUEUE_DECIDE,
    QUEUE_LIST,
    QUEUE_SUBSCRIBE,
    REVIEWER_ENROL,
    REVIEWER_PROOF,
    STATUS,
    TOO_LARGE,
    UNAUTHORIZED,
    GateError,
)
from forge_tui.protocol import error_message as _error

READ_CHUNK = 1 << 16
# A refused connection is read (and dropped) for this long and this much before it is closed.
LINGER_S = 1.0
LINGER_BYTES = 1 << 16
MAX_INFLIGHT_PER_CONN = 256
EVENT_QUEUE = 1024
# Connections waiting to be accepted while the loop is busy. asyncio's default (100) is easily filled by a
# burst of agents; a client whose connect finds the backlog full is refused or, with asyncio's own
# non-blocking connect, handed a socket that is not connected.
BACKLOG = 1024
MAX_CONN_PER_PEER = 64  # open connections one peer process may hold (per socket)
IDLE_TIMEOUT_S = 300.0  # a connection with nothing in flight and no subscription, silent this long
PARTIAL_TIMEOUT_S = 30.0  # a line started but not finished within this long
AGENT, REVIEWER = "agent", "reviewer"
PAIR = "pair"  # the reviewer role for the other OS accounts the owner admitted (daemon/admission.py)

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode  # made once, not per reply
# json.loads(text) without its own checks (a BOM at the start fails the decoder's parse all the same).
_decode = json.JSONDecoder().decode


def peer_credentials(sock: socket.socket) -> tuple[int | None, int | None, int | None]:
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        return struct.unpack("3i", raw)
    except (OSError, AttributeError):
        return None, None, None


class Connection:
    def __init__(
        self,
        daemon: Daemon,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        role: str = AGENT,
    ) -> None:
        self.daemon = daemon
        self.reader = reader
        self.writer = writer
        self.role = role
        sock = writer.get_extra_info("socket")
        self.pid, self.uid, self.gid = peer_credentials(sock) if sock is not None else (None, None, None)
        self.wrong_socket_recorded = False
        self.client = "unknown"
        self._peer: dict[str, Any] | None = None
        self.events: asyncio.Queue | None = None
        self.pump: asyncio.Task | None = None
        self.tasks: set[asyncio.Task] = set()
        self._write_lock = asyncio.Lock()
        self.closed = False
        # The read timeout (_read_chunk): one timer per connection, moved only when it fires or a
        # shorter limit starts, instead of a timer armed and cancelled around every read.
        self._serve_task: asyncio.Task | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        self._reading = False
        self._read_partial = False
        self._read_limit = 0.0
        self._read_deadline = 0.0
        self._timed_out = False

    @property
    def peer(self) -> dict[str, Any]:
        """The peer process (SO_PEERCRED pid and uid, and its executable), read once per connection."""
        if self._peer is None:
            self._peer = peer_process(self.pid, self.uid)
        return dict(self._peer)

    def _write_now(self, obj: dict[str, Any]) -> bytes | None:
        """The part of `send` that does not wait: None when it is done (all sent, or the connection is
        closed), else what `_write_queued` must still do (the bytes to write under the lock, or b"" when
        they were written but not all sent)."""
        if self.closed:
            return None
        data = (_encode(obj) + "\n").encode("utf-8", "surrogatepass")
        if not self._write_lock.locked():
            # Nobody is waiting for the buffer to drain: write now, and wait (under the lock, so later
            # replies queue behind) only if the reply is not all sent.
            try:
                self.writer.write(data)
                if not self.writer.transport.get_write_buffer_size():
                    return None
            except (ConnectionError, RuntimeError):
                self.close()
                return None
            return b""
        return data

    async def _write_queued(self, data: bytes) -> None:
        async with self._write_lock:
            try:
                if data:
                    self.writer.write(data)
                if self.writer.transport.get_write_buffer_size():  # else it is all sent: nothing to wait for
                    await asyncio.wait_for(self.writer.drain(), timeout=30)
            except (ConnectionError, TimeoutError, RuntimeError):
                self.close()

    async def send(self, obj: dict[str, Any]) -> None:
        data = self._write_now(obj)
        if data is not None:
            await self._write_queued(data)

    async def _linger(self) -> None:
        """After a refusal: end our side and read (and drop) what the client is still sending, a little
        and briefly, so its write does not fail with a broken pipe before it reads why it was refused."""
        with contextlib.suppress(Exception):
            if self.writer.can_write_eof():
                self.writer.write_eof()
            left = LINGER_BYTES
            async with asyncio.timeout(LINGER_S):
                while left > 0:
                    chunk = await self.reader.read(min(left, READ_CHUNK))
                    if not chunk:
                        break
                    left -= len(chunk)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.writer.close()

    @property
    def peer_key(self) -> str:
        """Who this connection is, as the kernel says: the rate limit and the connection cap key on it."""
        return f"uid:{self.uid}" if self.uid is not None else f"conn:{id(self)}"

    def _idle(self) -> bool:
        return not self.tasks and self.events is None

    async def _read_chunk(self, partial: bool) -> bytes | None:
        """The next chunk, or None when the connection has been silent too long (idle or mid-line).
        Called by `serve` only (the watchdog cancels the serve task's read)."""
        d = self.daemon
        limit = d.partial_timeout_s if partial else d.idle_timeout_s
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        self._read_partial, self._read_limit, self._read_deadline = partial, limit, deadline
        if self._watchdog is None or self._watchdog.when() > deadline:
            if self._watchdog is not None:
                self._watchdog.cancel()
            self._watchdog = loop.call_at(deadline, self._watch)
        self._reading = True
        try:
            return await self.reader.read(READ_CHUNK)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if not self._timed_out or task is None or task.uncancel() > 0:
                raise  # cancelled by someone else (the daemon stopping), not (only) by the watchdog
            return None
        finally:
            self._reading = False
            self._timed_out = False

    def _watch(self) -> None:
        """The read timer: time the read out if its deadline has passed and the connection is silent
        mid-line or idle; with requests in flight or a subscription it is not idle: keep listening
        (another full limit). Between reads it lets the next read arm it again."""
        self._watchdog = None
        if self.closed or not self._reading or self._serve_task is None:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        if now < self._read_deadline:
            self._watchdog = loop.call_at(self._read_deadline, self._watch)
        elif self._read_partial or self._idle():
            self._timed_out = True
            self._serve_task.cancel()
        else:
            self._read_deadline = now + self._read_limit
            self._watchdog = loop.call_at(self._read_deadline, self._watch)

    async def serve(self) -> None:
        self._serve_task = asyncio.current_task()
        if not self.daemon.admitted(self):
            await self.send(_error(None, UNAUTHORIZED, "connections from another user are refused"))
            await self._linger()
            self.close()
            return
        buf = bytearray()
        discarding = False
        try:
            while not self.closed:
                chunk = await self._read_chunk(partial=bool(buf) or discarding)
                if chunk is None:
                    what = "a partial line" if buf or discarding else "an idle connection"
                    await self.send(_error(None, INVALID_REQUEST, f"closing {what} after its timeout"))
                    break
                if not chunk:
                    break
                if not buf and not discarding and chunk.find(b"\n") == len(chunk) - 1:
                    # The usual chunk: exactly one whole line (a client sends a request, then reads its
                    # reply). The same as the general case below, without copying it through `buf`.
                    await self._take(chunk[:-1])
                    continue
                buf += chunk
                while True:
                    nl = buf.find(b"\n")
                    if nl < 0:
                        if len(buf) > MAX_LINE:
                            if not discarding:
                                await self.send(_error(None, TOO_LARGE, "message over 1 MiB"))
                            discarding = True
                            buf.clear()
                        break
                    line = bytes(buf[:nl])
                    del buf[: nl + 1]
                    if discarding:  # the end of an overlong line
                        discarding = False
                        continue
                    await self._take(line)
                    if self.closed:
                        break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.closed = True
            if self._watchdog is not None:
                self._watchdog.cancel()
                self._watchdog = None
            for t in list(self.tasks):
                t.cancel()
            self.daemon.subscribers.discard(self)
            with contextlib.suppress(Exception):
                self.writer.close()

    async def _take(self, line: bytes) -> None:
        """One whole line read (without its LF): refused if over the limit, skipped if blank, else
        dispatched once there is room (not if the connection closed while it waited)."""
        if len(line) > MAX_LINE:
            await self.send(_error(None, TOO_LARGE, "message over 1 MiB"))
        elif line.strip():
            if len(self.tasks) >= MAX_INFLIGHT_PER_CONN:
                await self._room()
            if not self.closed:
                self._dispatch(line)

    async def _room(self) -> None:
        """Back-pressure: stop reading until a request finishes, so a peer that sends without reading its
        replies holds a bounded number of tasks and buffers."""
        while len(self.tasks) >= MAX_INFLIGHT_PER_CONN and not self.closed:
            await asyncio.wait(set(self.tasks), return_when=asyncio.FIRST_COMPLETED)

    def _dispatch(self, line: bytes) -> None:
        task = asyncio.create_task(self._handle(line))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _handle(self, line: bytes) -> None:
        try:
            msg = _decode(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            await self.send(_error(None, PARSE_ERROR, "parse error: not UTF-8 JSON"))
            return
        if type(msg) is not dict:
            await self.send(_error(None, INVALID_REQUEST, "invalid request: expected one JSON object"))
            return
        rid = msg.get("id")
        if type(rid) not in (int, str) and rid is not None:
            # JSON-RPC 2.0 ids are strings, integers or null: an object, array, boolean or fraction
            # makes the whole message an invalid request (answered with id null, never executed).
            await self.send(_error(None, INVALID_REQUEST, "invalid request: id must be a string or integer"))
            return
        method = msg.get("method")
        params = msg.get("params", {})
        if msg.get("jsonrpc") != "2.0" or type(method) is not str:
            await self.send(_error(rid, INVALID_REQUEST, "invalid request: needs jsonrpc 2.0 and a method"))
            return
        if params is None:
            params = {}
        if type(params) is not dict:
            await self.send(_error(rid, BAD_PARAMS, "params must be an object"))
            return
        handler = self.daemon.methods.get(method)
        if handler is None:
            if "id" in msg:
                await self.send(_error(rid, METHOD_NOT_FOUND, f"unknown method {method[:64]!r}"))
            return
        reply = "id" in msg  # a notification (no id) is never answered, not even with an error
        if self.role == AGENT and method not in AGENT_METHODS:
            await self._wrong_socket(method)
            if reply:
                await self.send(
                    _error(
                        rid,
                        UNAUTHORIZED,
                        f"{method} is a reviewer method: the agent socket answers only "
                        f"{', '.join(sorted(AGENT_METHODS))}; reviewers connect to the reviewer socket",
                    )
                )
            return
        try:
            result = await handler(self, params)
        except GateError as exc:
            if reply:
                await self.send(_error(rid, exc.code, exc.message, exc.data))
            return
        except LedgerError as exc:
            if reply:
                await self.send(_error(rid, LEDGER_UNAVAILABLE, f"denied: {exc}"))
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug in one handler must not take the daemon down
            self.daemon.log(f"internal error in {method}: {type(exc).__name__}: {exc}")
            if reply:
                await self.send(_error(rid, INTERNAL, "internal error (denied)"))
            return
        if reply:  # `send`, without a coroutine of its own when the reply goes out at once
            data = self._write_now({"jsonrpc": "2.0", "id": rid, "result": result})
            if data is not None:
                await self._write_queued(data)

    async def _wrong_socket(self, method: str) -> None:
        """A reviewer method asked on the agent socket: refused, and written once per connection as a
        `violation` (an agent reaching for the reviewer role is worth a record; a flood is not)."""
        if self.wrong_socket_recorded:
            return
        self.wrong_socket_recorded = True
        await self.daemon.gate.record_violation(
            "wrong_socket", None, f"{method} asked on the agent socket", peer=self.peer
        )

    def push_event(self, event: dict[str, Any]) -> None:
        if self.events is None or self.closed:
            return
        try:
            self.events.put_nowait(event)
        except asyncio.QueueFull:  # a subscriber that does not read is dropped, never waited for
            self.close()

    async def pump_events(self) -> None:
        assert self.events is not None
        while not self.closed:
            ev = await self.events.get()
            await self.send({"jsonrpc": "2.0", "method": EVENT, "params": ev})


class Daemon:
    def __init__(
        self,
        project,
        socket_path: Path,
        *,
        review_socket_path: Path | None = None,
        policy_debounce_ms: int = 200,
        log_file=None,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
        partial_timeout_s: float = PARTIAL_TIMEOUT_S,
        max_conn_per_peer: int = MAX_CONN_PER_PEER,
        policy_worker: bool = True,
    ) -> None:
        from forge_tui.paths import review_socket_path as default_review

        self.project = project
        self.socket_path = socket_path
        self.review_socket_path = review_socket_path or default_review(project.project_id)
        if self.review_socket_path == socket_path:
            raise ConfigError("the reviewer socket and the agent socket must be different paths")
        self.policy_debounce_ms = policy_debounce_ms
        self.idle_timeout_s = idle_timeout_s
        self.partial_timeout_s = partial_timeout_s
        self.max_conn_per_peer = max_conn_per_peer
        self.peer_conns: dict[tuple[str, int | None], int] = {}
        self.log_file = log_file
        self.started = time.monotonic()
        self.subscribers: set[Connection] = set()
        self.methods = {
            HELLO: self.m_hello,
            STATUS: self.m_status,
            GATE_REQUEST: self.m_request,
            GATE_WAIT: self.m_wait,
            GATE_OUTCOME: self.m_outcome,
            QUEUE_LIST: self.m_list,
            QUEUE_SUBSCRIBE: self.m_subscribe,
            QUEUE_DECIDE: self.m_decide,
            LEDGER_QUERY: self.m_query,
            LEDGER_NOTE: self.m_note,
            POLICY_RELOAD: self.m_reload,
            POLICY_APPROVE: self.m_policy_approve,
            REVIEWER_ENROL: self.m_reviewer_enrol,
            REVIEWER_PROOF: self.m_reviewer_proof,
            LEDGER_CHECKPOINT: self.m_ledger_checkpoint,
            HOOK_RUN: HookService(self).handle,  # the agent hooks (forge_tui/daemon/hookserve.py)
        }
        self._lock_fd = -1
        self._server: asyncio.base_events.Server | None = None
        self._review_server: asyncio.base_events.Server | None = None
        self._pair_server: asyncio.base_events.Server | None = None
        self._bound: dict[Path, tuple[int, int]] = {}  # socket path -> (st_dev, st_ino) we bound
        self._stop = asyncio.Event()
        self._watch_stop = asyncio.Event()
        self.connections: dict[Connection, asyncio.Task] = {}  # each open connection and its serve task
        self.writer: LedgerWriter | None = None
        self.queries = QueryRunner(self.log)  # ledger.query, off the event loop
        # Policy evaluation off the event loop under load (a worker process, started when first wanted).
        self.offload = PolicyOffload(log=self.log) if policy_worker else None

    def log(self, text: str) -> None:
        if self.log_file is not None:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
            print(f"{stamp} {text}", file=self.log_file, flush=True)

    # ---- lifecycle --------------------------------------------------------------------------------

    def _take_daemon_lock(self) -> None:
        path = self.project.state_dir / "daemon.lock"
        self._lock_fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                other = os.pread(self._lock_fd, 32, 0).decode().strip()
            except OSError:
                other = "?"
            os.close(self._lock_fd)
            self._lock_fd = -1
            raise ConfigError(f"a daemon already runs for this project (pid {other or '?'})") from None
        os.ftruncate(self._lock_fd, 0)
        os.pwrite(self._lock_fd, f"{os.getpid()}\n".encode(), 0)

    def _prepare_socket(self, path: Path, *, private: bool) -> None:
        """Make the folder if missing (0700, ours), and clear a stale socket of a dead daemon. An existing
        folder is never chmodded: the reviewer socket's must already be private (0700, ours), else the
        daemon refuses to start. Anything at `path` that is not a socket is left alone (refused)."""
        prepare_socket_dir(path.parent, private=private)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(st.st_mode):
            raise ConfigError(
                f"{path} exists and is not a socket: refusing to replace it",
                hint="move it away or choose another socket path",
            )
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(path))
        except OSError:
            path.unlink(missing_ok=True)  # a socket nobody answers on: its daemon is gone
        else:
            raise ConfigError(f"another daemon answers on {path}")
        finally:
            probe.close()

    async def _listen(self, path: Path, role: str) -> asyncio.base_events.Server:
        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._on_connect(reader, writer, role)

        old = os.umask(0o177)
        try:
            server = await asyncio.start_unix_server(
                on_connect, path=str(path), limit=MAX_LINE, backlog=BACKLOG
            )
        finally:
            os.umask(old)
        os.chmod(path, 0o600)  # the socket file the daemon just made, never a folder
        st = os.lstat(path)
        self._bound[path] = (st.st_dev, st.st_ino)
        return server

    def admission(self) -> Admission:
        """Who besides the owner may take the reviewer role (read anew for every pair connection)."""
        return load_admission(self.project.state_dir, self.project.project_id)

    def admitted(self, conn: Connection) -> bool:
        """The agent and reviewer sockets take the owner's uid only; the pair socket only the accounts
        the owner listed, never the owner's own (kernel credentials, never a claim)."""
        if conn.role == PAIR:
            return self.admission().admits(conn.uid, conn.gid)
        return conn.uid is None or conn.uid == os.getuid()

    async def _listen_pair(self) -> None:
        """The pair socket, when the owner admitted other OS accounts (daemon/admission.py)."""
        adm = self.admission()
        for problem in adm.problems:
            self.log(f"pair review off: {problem}")
        if not adm.anyone or adm.socket is None:
            return
        try:
            prepare_pair_dir(adm.socket.parent)
            self._prepare_socket(adm.socket, private=False)
        except ConfigError as exc:  # the gate still works; only the other accounts cannot connect
            self.log(f"pair review off: {exc.diagnostics()}")
            return
        self._pair_server = await self._listen(adm.socket, PAIR)
        os.chmod(adm.socket, 0o666)  # the socket just made: the daemon checks each peer's uid itself
        self.log(f"pair review: other admitted accounts connect on {adm.socket}")

    def _unlink_own(self, path: Path) -> None:
        """Remove the socket at `path` only if it is still the one this daemon bound."""
        ident = self._bound.pop(path, None)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return
        if ident == (st.st_dev, st.st_ino) and stat.S_ISSOCK(st.st_mode):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    async def start(self) -> None:
        self._take_daemon_lock()
        try:
            self._prepare_socket(self.socket_path, private=False)
            self._prepare_socket(self.review_socket_path, private=True)
            self.writer = LedgerWriter.open(self.project)
            for warning in self.writer.warnings:  # what opening found and put right
                self.log(warning)
            self.appender = GroupAppender(self.writer, log=self.log, emit=self.broadcast)
            self.appender.start()
            self.trust = replay(self.project.project_id, self.writer.trust_records())
            # The reviewer records verbatim, for `reviewer.proof` (kept: a handful, never the whole ledger).
            self.reviewer_lines = [
                line.decode("utf-8")
                for line in self.writer.trust_lines()
                if json.loads(line)["type"] == "reviewer"
            ]
            for seq, problem in self.trust.problems:
                self.log(f"ledger seq {seq}: {problem}")
            self.policies = PolicyHolder(
                self.project.policy_path,
                trust=self.trust,
                archives=(self.project.state_dir / "policies", self.project.forge_dir / "policies"),
            )
            for kind, body in self.policies.load_initial():
                written = await self.appender.append([("policy", body)])
                self.trust.apply(written[0].seq, "policy", body)
                self._note_policy_event(kind, body)
            await self.appender.flushed()  # listen once what opening wrote is signed and copied
            self.witnesses = WitnessBook(self.writer)
            self.gate = Gate(
                self.project,
                self.appender,
                self.policies,
                protected_dirs=(keys_dir(), self.project.state_dir),
                emit=self.broadcast,
                trust=self.trust,
                offload=self.offload,
                log=self.log,
                witnesses=self.witnesses,
            )
            self.gate.remember_closed(self.writer.closed_pending)  # orphans of a stopped daemon: denied
            self._server = await self._listen(self.socket_path, AGENT)
            self._review_server = await self._listen(self.review_socket_path, REVIEWER)
            await self._listen_pair()
            self._watch_task = asyncio.create_task(
                watch_policy(
                    self.policies,
                    self._reload,
                    debounce_ms=self.policy_debounce_ms,
                    stop=self._watch_stop,
                    log=self.log,
                )
            )
        except BaseException:
            await self._release()
            raise
        self.log(
            f"daemon {os.getpid()} serving agents on {self.socket_path}, reviewers on "
            f"{self.review_socket_path} (ledger {self.writer.ledger_id}, {self.writer.size} records)"
        )

    async def serve_forever(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._stop.set)
        await self._stop.wait()
        await self.stop()

    def request_stop(self) -> None:
        self._stop.set()

    async def stop(self) -> None:
        self.log("shutting down: denying pending requests")
        for server in (self._server, self._review_server, self._pair_server):
            if server is not None:
                server.close()
        self._watch_stop.set()
        try:
            await self.gate.shutdown()
        except Exception as exc:
            self.log(f"shutdown: {exc}")
        await self._close_connections()
        await self._release()

    async def _close_connections(self, grace: float = 1.0) -> None:
        """Stop reading every connection, let requests in flight send their replies (the pending ones were
        just denied), then close. A peer that does not read its replies is cut off after `grace` seconds.
        Every connection's serve task has ended when this returns (no task is left to be destroyed)."""
        conns = dict(self.connections)
        if not conns:
            return
        for c in conns:
            with contextlib.suppress(Exception):
                c.writer.transport.pause_reading()
        busy = [t for c in conns for t in c.tasks if t is not c.pump]
        if busy:
            await asyncio.wait(busy, timeout=grace)
        for c in conns:
            c.close()
            transport = c.writer.transport
            if transport.get_write_buffer_size():  # unread replies after the grace: drop them
                transport.abort()
        _, late = await asyncio.wait(conns.values(), timeout=grace)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late, timeout=grace)

    async def _release(self) -> None:
        self.queries.close()
        if self.offload is not None:
            await self.offload.close()
        if getattr(self, "appender", None) is not None:
            await self.appender.close()
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        for path in list(self._bound):
            self._unlink_own(path)
        self._server = self._review_server = self._pair_server = None
        task = getattr(self, "_watch_task", None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    async def _on_connect(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, role: str = AGENT
    ) -> None:
        conn = Connection(self, reader, writer, role)
        key = (role, conn.pid)
        if conn.pid is not None and self.peer_conns.get(key, 0) >= self.max_conn_per_peer:
            await conn.send(
                _error(
                    None,
                    TOO_LARGE,
                    f"too many connections from process {conn.pid} (at most {self.max_conn_per_peer})",
                )
            )
            conn.close()
            return
        self.peer_conns[key] = self.peer_conns.get(key, 0) + 1
        task = asyncio.current_task()
        assert task is not None
        self.connections[conn] = task
        try:
            await conn.serve()
        finally:
            self.connections.pop(conn, None)
            left = self.peer_conns.get(key, 1) - 1
            if left > 0:
                self.peer_conns[key] = left
            else:
                self.peer_conns.pop(key, None)

    def broadcast(self, event: dict[str, Any]) -> None:
        for c in list(self.subscribers):
            c.push_event(event)

    async def _reload(self) -> None:
        text = await asyncio.to_thread(self.policies.read)
        old = self.policies.current
        events = self.policies.consider(text)
        if not events:
            return
        new = self.policies.current
        # A policy change is enforced only once its record is durable: while the ledger heals, the last
        # recorded policy stays in force and the record is retried (docs/faults.md).
        self.policies.current = old
        for kind, body in events:
            try:
                written = await self.appender.append_durably([("policy", body)])
            except LedgerError as exc:
                self.log(f"policy change not recorded, not enforced: {exc}")
                self.policies.forget_seen()  # the next look (event or recheck) tries again
                return
            self.trust.apply(written[0].seq, "policy", body)
            self._note_policy_event(kind, body)
        self.policies.current = new

    def _note_policy_event(self, kind: str, body: dict[str, Any]) -> None:
        if kind == "policy.reloaded":
            self.broadcast({"type": kind, "digest": body["digest"], "path": body["path"]})
        elif kind == "policy.pending":
            pending = self.policies.pending
            self.broadcast(
                {
                    "type": kind,
                    "digest": body["digest"],
                    "path": body["path"],
                    "in_force": body["in_force"],
                    "diff": pending.diff if pending is not None else "",
                }
            )
        else:
            self.broadcast({"type": kind, "error": body["error"], "path": body["path"]})
        self.log(f"{kind}: {body.get('error') or body['digest']}")

    # ---- methods ----------------------------------------------------------------------------------

    async def m_hello(self, conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
        client = params.get("client")
        if type(client) is str and client:
            conn.client = client[:32]
        assert self.writer is not None
        return {
            "protocol": PROTOCOL_VERSION,
            "version": __version__,
            "project_id": self.project.project_id,
            "ledger": {
                "id": self.writer.ledger_id,
                "size": self.writer.size,
                "root": self.writer.root().hex(),
            },
        }

    async def m_status(self, conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
        w = self.writer
        assert w is not None
        await self.appender.synced()  # answers precede their checkpoint: report the state after it
        return {
            "project_id": self.project.project_id,
            "project_root": str(self.project.root),
            "policy": self.policies.describe(),
            "ledger": {
                "id": w.ledger_id,
                "size": w.size,
                "root": w.root().hex(),
                "path": str(w.tracked_path),
                "broken": w.broken,
                "health": self.appender.health(),  # ok | degraded | tracked_stale (docs/faults.md)
            },
            "pending": len(self.gate.pending),
            "trust": self._trust_status(),
            "counts": dict(self.gate.counts),
            "requests_by_sandbox": dict(self.gate.sandbox_counts),  # docs/sandbox.md
            # Policy evaluation under load (daemon/policy_offload.py); None when it is turned off.
            "policy_worker": self.offload.describe() if self.offload is not None else None,
            "uptime_s": int(time.monotonic() - self.started),
            "pid": os.getpid(),
        }

    def _trust_status(self) -> dict[str, Any]:
        t = self.trust
        out: dict[str, Any] = {"setup_mode": t.setup_mode, "reviewers": sorted(t.active())}
        if t.setup_mode:
            out["warning"] = (
                "setup mode: no reviewer is enrolled, so policy changes take effect unprotected "
                "(forge-tui reviewer add NAME)"
            )
        return out

    async def m_request(self, conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
        client = params.get("client") if type(params.get("client")) is str else conn.client
        return await self.gate.request(params, conn.peer, client[:32], peer_key=conn.peer_key)

    async def m_wait(self, conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
        return await self.gate.wait(params)

    async def m_outcome(self, conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
        return await self.gate.outcome(params, reported_by=conn.role, peer_key=conn.peer_key)

    async def m_list(self, conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
        return {"pending": [self.gate.describe(p) for p in self.gate.pending.values()]}

    async def m_subscribe(self, conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
        if conn.events is None:
            conn.events = asyncio.Queue(EVENT_QUEUE)
            self.subscribers.add(conn)
            task = conn.pump = asyncio.create_task(conn.pump_events())
            conn.tasks.add(task)
            task.add_done_callback(conn.tasks.discard)
        return {"subscribed": True}

    async def m_decide(self, conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
        return await self.gate.decide(params, conn.peer)

    async def m_note(self, conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
        return await self.gate.note(params)

    async def m_reload(self, conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
        await self._reload()
        return self.policies.describe()

    async def m_policy_approve(self, conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
        """A reviewer's signature over the pending policy change's digest puts it in force."""
        try:
            st, rev = self.trust.check_policy_body(params)
        except ConfigError as exc:
            await self.gate.record_violation("forged_policy_approval", None, str(exc), peer=conn.peer)
            raise GateError(BAD_SIGNATURE, str(exc)) from None
        digest = st["policy_digest"]
        if WITNESS_FIELD in st:
            problem = await self.witnesses.problem(st[WITNESS_FIELD])
            if problem is not None:
                await self.gate.record_violation("witness_mismatch", None, problem, peer=conn.peer)
                raise GateError(BAD_SIGNATURE, problem)
        pending = self.policies.pending
        if pending is None or pending.digest != digest:
            raise GateError(NOT_PENDING, f"no pending policy change with digest {digest[:12]}")
        body = {
            "event": "approved",
            "digest": digest,
            "path": str(self.policies.path),
            "approval": st,
            "reviewer_kid": rev.verifier.kid,
            "reviewer_sig": params["reviewer_sig"],
            "rules": pending.rules,
        }
        written = await self.appender.append([("policy", body)])
        self.trust.apply(written[0].seq, "policy", body)
        self.policies.approve(digest)
        self._note_policy_event("policy.reloaded", {"digest": digest, "path": body["path"]})
        return {"digest": digest, "seq": written[0].seq, "status": "in_force"}

    async def m_reviewer_enrol(self, conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
        """A signed `reviewer` record (enrol or retire), checked against the reviewers in force."""
        from forge_tui.core.reviewers import export_reviewers

        try:
            self.trust.check_reviewer_body(params)
        except ConfigError as exc:
            await self.gate.record_violation("forged_enrolment", None, str(exc), peer=conn.peer)
            raise GateError(UNAUTHORIZED, str(exc)) from None
        body = {k: params[k] for k in ("action", "name", "vkey", "statement", "signer_kid", "signer_sig")}
        body["from_seq"] = None  # the change takes effect at this record's own seq
        written = await self.appender.append([("reviewer", body)])
        self.trust.apply(written[0].seq, "reviewer", body)
        self.reviewer_lines.append(canonical(written[0].record).decode("utf-8"))
        try:
            export_reviewers(self.project, self.trust)
        except OSError as exc:
            self.log(f"could not export .forge/reviewers.toml: {exc}")
        self.broadcast({"type": "reviewers.changed", "reviewers": sorted(self.trust.active())})
        return {"seq": written[0].seq}

    async def m_reviewer_proof(self, conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
        """The ledger's `reviewer` records verbatim: a reviewer's CLI that has no copy of this ledger (a
        second OS account on the pair socket) replays and checks them itself (core/trust_proof.py)."""
        assert self.writer is not None
        return {
            "project_id": self.project.project_id,
            "ledger_id": self.writer.ledger_id,
            "records": list(self.reviewer_lines),
        }

    async def m_ledger_checkpoint(self, conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
        """The latest signed checkpoint, with a consistency proof from `since` (the size the reviewer
        last witnessed), for the reviewer to check and cosign (core/witness.py). Hashing the records
        for the proof runs in a thread."""
        from forge_tui.core.merkle import ProofError
        from forge_tui.core.witness import checkpoint_reply

        since = params.get("since", 0)
        if type(since) is not int or since < 0:
            raise GateError(BAD_PARAMS, "since must be a non-negative integer")
        w = self.writer
        assert w is not None
        note = w.checkpoint_note()
        try:
            reply = await asyncio.to_thread(checkpoint_reply, w.ledger_id, w.path, note, since)
        except ProofError as exc:
            raise GateError(BAD_PARAMS, f"no consistency proof from size {since}: {exc}") from None
        self.witnesses.handed_out(reply["size"], reply["root"])
        return reply

    async def m_query(self, conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
        from forge_tui.core.query import Filters, normalise_time

        limit = params.get("limit", 100)
        if type(limit) is not int or not 1 <= limit <= 1000:
            raise GateError(BAD_PARAMS, "limit must be an integer from 1 to 1000")
        types = params.get("type")
        if isinstance(types, str):
            types = [types]
        if types is not None and (type(types) is not list or not all(type(t) is str for t in types)):
            raise GateError(BAD_PARAMS, "type must be a string or a list of strings")
        for key in ("since", "until", "actor", "path", "status", "rule", "request_id"):
            if params.get(key) is not None and type(params[key]) is not str:
                raise GateError(BAD_PARAMS, f"{key} must be a string")
        try:
            f = Filters(
                since=normalise_time(params.get("since")),
                until=normalise_time(params.get("until"), end=True),
                types=frozenset(types) if types else None,
                actor=params.get("actor"),
                path=params.get("path"),
                status=params.get("status"),
                rule=params.get("rule"),
                request_id=params.get("request_id"),
            )
        except (TypeError, AttributeError):
            raise GateError(BAD_PARAMS, "filters must be strings") from None
        except ValueError as exc:
            raise GateError(BAD_PARAMS, str(exc)) from None
        assert self.writer is not None
        path = self.writer.path
        return {"records": await self.queries.newest(path, f, limit)}


def prepare_socket_dir(folder: Path, *, private: bool) -> None:
    """Create `folder` 0700 when missing. An existing folder is never chmodded; for the reviewer socket
    (`private`) it must be ours and closed to group and others, else the daemon refuses to start."""
    try:
        st = os.stat(folder)
    except FileNotFoundError:
        folder.mkdir(parents=True, mode=0o700)
        return
    if not stat.S_ISDIR(st.st_mode):
        raise ConfigError(f"{folder} is not a folder")
    if private and (st.st_uid != os.getuid() or stat.S_IMODE(st.st_mode) & 0o077):
        raise ConfigError(
            f"the reviewer socket folder {folder} is open to others (mode {stat.S_IMODE(st.st_mode):o}, "
            f"owner uid {st.st_uid}): the daemon does not change folders it did not create",
            hint="make it 0700 and yours, or set FORGE_REVIEW_SOCKET to a path in a private folder",
        )


async def run_daemon(
    project, socket_path: Path, *, review_socket_path: Path | None = None, log_file=None, ready=None
) -> None:
    d = Daemon(project, socket_path, review_socket_path=review_socket_path, log_file=log_file)
    await d.start()
    # The daemon's own process: what is loaded by now lives for good, so keep it out of every collection,
    # and collect the young generation less often. A decision allocates hundreds of short-lived objects
    # (nearly all freed by reference counting), and the default threshold of 700 ran a collection every
    # few decisions; full collections over the growing heap were the largest part of the p99 latency.
    gc.freeze()
    gc.set_threshold(20_000, 20, 100)
    if ready is not None:
        ready(d)
    await d.serve_forever()
