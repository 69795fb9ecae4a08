"""The ledger writer and reader (DESIGN §4.6–4.7).

One writer per ledger: an exclusive flock on a lock file beside the authoritative copy (in the user data
folder, outside the working tree). Each batch is one O_APPEND write followed by fdatasync; then a new
checkpoint is signed and atomically replaced (temp file, fsync, rename, fsync of the folder); then the
tracked copy in `.forge/ledger/` is brought up to date.

Opening a ledger checks it before anything is appended:
- a torn last line (no final LF) is copied aside, truncated away, and a `recovery` record is appended;
- the records covered by the signed checkpoint must hash to its root, or opening stops (corrupt; the
  first bad record is named) — nothing is ever repaired automatically;
- fewer records than the last signed checkpoint (here or in the tracked copy) is reported as loss, and
  the writer refuses to sign anything smaller.
"""

from __future__ import annotations

import fcntl
import hashlib
import mmap
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forge_tui.core.jcs import parse_canonical
from forge_tui.core.merkle import CompactTree, leaf_hash
from forge_tui.core.note import Checkpoint, NoteError, Signer, Verifier, b64, open_checkpoint
from forge_tui.core.records import (
    ZERO_HASH,
    build_record,
    check_shape,
    format_ts,
    now_ms,
    parse_ts,
    verify_record_sig,
)
from forge_tui.errors import (
    CanonicalError,
    LedgerBusy,
    LedgerCorrupt,
    LedgerError,
    LedgerLoss,
    SignatureError,
)
from forge_tui.paths import atomic_write, fsync_dir, private_dir


@dataclass(frozen=True)
class Appended:
    seq: int
    leaf: str  # hex leaf hash
    record: dict[str, Any]


class StaleBatch(LedgerError):
    """A prepared batch whose predecessor was never written (its write failed): it is not written."""


@dataclass(frozen=True)
class Prepared:
    """A built and signed batch, not yet written (LedgerWriter.prepare)."""

    base: int  # seq of its first record: the tree size it must be written onto
    prev_in: str  # leaf hash (hex) of the record before it
    prev_out: str  # leaf hash (hex) of its last record
    ts_ms: int
    data: bytes  # the lines, each with its LF
    leaves: list[bytes]
    records: list[Appended]


def authoritative_dir(project) -> Path:
    return private_dir(project.state_dir / "ledger")


def iter_lines(data: bytes | mmap.mmap) -> Iterator[tuple[int, bytes]]:
    """(offset, line without LF) for each complete line; a trailing partial line is not yielded."""
    pos = 0
    n = len(data)
    find = data.find
    while pos < n:
        end = find(b"\n", pos)
        if end < 0:
            return
        yield pos, bytes(data[pos:end])
        pos = end + 1


def read_checkpoint_file(path: Path, verifiers: list[Verifier]) -> Checkpoint | None:
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        raise NoteError(f"checkpoint {path.name} is not UTF-8") from None
    return open_checkpoint(text, verifiers)[0]


class LedgerWriter:
    """The single writer of one ledger. Callers serialise `append`/`commit`/`checkpoint` (the daemon runs
    them in one thread); `prepare` of the next batch may run in another thread meanwhile."""

    def __init__(self, project, ledger_id: str, signer: Signer, *, clock: Callable[[], int] = now_ms) -> None:
        self.project = project
        self.ledger_id = ledger_id
        self.signer = signer
        self.origin = project.origin(ledger_id)
        if signer.name != self.origin:
            raise LedgerError(f"signing key is named {signer.name!r}, expected {self.origin!r}")
        self.clock = clock
        folder = authoritative_dir(project)
        self.path = folder / f"{ledger_id}.jsonl"
        self.checkpoint_path = folder / f"{ledger_id}.checkpoint"
        self.tracked_path = project.tracked_ledger(ledger_id)
        self.tracked_checkpoint_path = project.tracked_checkpoint(ledger_id)
        self._lock_fd = os.open(folder / f"{ledger_id}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise LedgerBusy(
                f"ledger {ledger_id} is being written by another process (the daemon?)"
            ) from None
        self._fd = -1
        self.tree = CompactTree()
        self.last_leaf = ZERO_HASH
        self.last_ts_ms = 0
        self.signed_size = 0
        self.broken: str | None = None
        self.recovered: dict[str, Any] | None = None
        self._tracked_size = -1  # bytes of the tracked copy as this writer last left it
        # The head of the last batch prepared but not yet durable (None: the durable head). prepare() and
        # commit() may run in two threads; this lock guards the head and the durable fields it reads.
        self._spec: tuple[int, str, int] | None = None
        self._head_lock = threading.Lock()

    # ---- opening -----------------------------------------------------------------------------------

    @classmethod
    def create(cls, project, ledger_id: str, signer: Signer, **kw) -> LedgerWriter:
        """A new ledger holding its genesis record and first checkpoint."""
        w = cls(project, ledger_id, signer, **kw)
        try:
            if w.path.exists() and w.path.stat().st_size:
                raise LedgerError(f"ledger {ledger_id} already exists at {w.path}")
            w._fd = os.open(w.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            from forge_tui import __version__

            genesis = {
                "project_id": project.project_id,
                "ledger_id": ledger_id,
                "vkey": signer.verifier.vkey,
                "name": project.name,
                "forge_tui": __version__,
            }
            w.append([("genesis", genesis)])
        except BaseException:
            w.close()
            raise
        return w

    @classmethod
    def open(cls, project, ledger_id: str | None = None, **kw) -> LedgerWriter:
        """Open this machine's ledger for appending, with the checks described in the module docstring."""
        from forge_tui.core.keys import load_ledger_key

        lid = ledger_id or project.local_ledger_id()
        w = cls(project, lid, load_ledger_key(lid), **kw)
        try:
            w._recover()
        except BaseException:
            w.close()
            raise
        return w

    def _recover(self) -> None:
        verifiers = [self.signer.verifier]
        if not self.path.exists() and self.tracked_path.exists():
            # The private copy is gone (a new data folder): adopt the tracked copy; the checks below apply.
            import shutil

            shutil.copyfile(self.tracked_path, self.path)
            if self.tracked_checkpoint_path.exists():
                shutil.copyfile(self.tracked_checkpoint_path, self.checkpoint_path)
        if not self.path.exists():
            raise LedgerLoss(f"ledger {self.ledger_id} is missing ({self.path})")
        self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND)
        try:
            cp = read_checkpoint_file(self.checkpoint_path, verifiers)
            tracked_cp = read_checkpoint_file(self.tracked_checkpoint_path, verifiers)
        except (NoteError, SignatureError) as exc:
            raise LedgerCorrupt(f"ledger {self.ledger_id}: checkpoint does not verify: {exc}") from None
        size = os.fstat(self._fd).st_size
        torn = b""
        with open(self.path, "rb") as fh:
            data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
            try:
                last_lf = data.rfind(b"\n")
                if size and last_lf != size - 1:
                    torn = bytes(data[last_lf + 1 :])
                lines = self._scan(data, cp)
            finally:
                if size:
                    data.close()
        n = self.tree.size
        for label, c in (("signed checkpoint", cp), ("tracked checkpoint", tracked_cp)):
            if c is not None and c.size > n:
                raise LedgerLoss(
                    f"ledger {self.ledger_id} holds {n} records but a {label} covers {c.size}: records were lost",
                    hint="restore the ledger from a backup or the repository; forge-tui never signs a smaller tree",
                )
        self.signed_size = cp.size if cp else 0
        if torn:
            self._truncate_torn(torn, size - len(torn))
        if self.tree.size == 0:
            raise LedgerCorrupt(f"ledger {self.ledger_id} has no genesis record")
        del lines
        if self.recovered is not None:
            self.append([("recovery", self.recovered)])
        elif self.signed_size < self.tree.size:
            self._sign_checkpoint()
            self._sync_tracked(full=True)
        else:
            self._sync_tracked(full=False)

    def _scan(self, data, cp: Checkpoint | None) -> int:
        """Hash every complete line; check the signed prefix against the checkpoint and the tail in full."""
        tree = self.tree
        prev_line = None
        count = 0
        cp_size = cp.size if cp else 0
        root_at_cp = None
        for _off, line in iter_lines(data):
            h = leaf_hash(line)
            if count >= cp_size:
                self._check_tail_line(line, count, prev_line)
            tree.append(h)
            count += 1
            if count == cp_size:
                root_at_cp = tree.root()
            prev_line = line
        if cp is not None:
            if cp.origin != self.origin:
                raise LedgerCorrupt(f"ledger {self.ledger_id}: checkpoint is for another log ({cp.origin})")
            if cp_size == 0:
                root_at_cp = hashlib.sha256(b"").digest()
            if root_at_cp is not None and root_at_cp != cp.root:
                bad = self._first_bad_line(data)
                raise LedgerCorrupt(
                    f"ledger {self.ledger_id}: records do not match the signed checkpoint"
                    + (f"; first bad record at seq {bad[0]}: {bad[1]}" if bad else ""),
                    hint="never repaired automatically: restore from a backup and run `forge-tui verify`",
                )
        if prev_line is not None:
            rec = parse_canonical(prev_line)
            self.last_ts_ms = parse_ts(rec["ts"])
            self.last_leaf = leaf_hash(prev_line).hex()
        return count

    def _check_tail_line(self, line: bytes, seq: int, prev_line: bytes | None) -> None:
        try:
            rec = parse_canonical(line)
            check_shape(rec)
            if rec["seq"] != seq:
                raise CanonicalError(f"seq {rec['seq']} where {seq} was expected")
            expect_prev = leaf_hash(prev_line).hex() if prev_line is not None else ZERO_HASH
            if rec["prev"] != expect_prev:
                raise CanonicalError("prev does not match the previous record")
            if rec["log"] != self.origin:
                raise CanonicalError("record belongs to another log")
            verify_record_sig(rec, self.signer.verifier)
        except (CanonicalError, SignatureError, NoteError) as exc:
            raise LedgerCorrupt(
                f"ledger {self.ledger_id}: corrupt record at seq {seq}: {exc}",
                hint="never repaired automatically: restore from a backup and run `forge-tui verify`",
            ) from None

    def _first_bad_line(self, data) -> tuple[int, str] | None:
        prev = None
        for seq, (_off, line) in enumerate(iter_lines(data)):
            try:
                self._check_tail_line(line, seq, prev)
            except LedgerCorrupt as exc:
                return seq, str(exc).split(": ", 2)[-1]
            prev = line
        return None

    def _truncate_torn(self, torn: bytes, keep: int) -> None:
        stamp = time.strftime("%Y%m%dT%H%M%S")
        aside = self.path.with_name(f"{self.ledger_id}.torn-{stamp}-{keep}")
        atomic_write(aside, torn, mode=0o600)
        os.ftruncate(self._fd, keep)
        os.fsync(self._fd)
        self.recovered = {
            "torn_bytes": len(torn),
            "torn_sha256": hashlib.sha256(torn).hexdigest(),
            "at_offset": keep,
            "saved_as": aside.name,
        }

    # ---- appending ---------------------------------------------------------------------------------

    @property
    def size(self) -> int:
        return self.tree.size

    def root(self) -> bytes:
        return self.tree.root()

    def append(
        self, items: list[tuple[str, Any]], *, checkpoint: bool | Callable[[], bool] = True
    ) -> list[Appended]:
        """Append records as one durable batch; returns them once fdatasync has returned.

        Each item is (type, body) where body is a dict, or a callable taking the records built so far
        in this batch and returning the dict.

        With checkpoint=False (or a callable, asked once the records are durable, that returns False) the
        records are durable but not yet covered by a signed checkpoint and the tracked copy is not updated:
        the caller (the daemon's group commit, under load) calls `checkpoint()` soon after, once for
        several batches.

        Raises LedgerError if anything fails; the file is then truncated back so no partial batch stays,
        and if even that fails the writer refuses every later append (the gate then denies).
        """
        if self.broken:
            raise LedgerError(f"ledger unavailable: {self.broken}")
        if not items:
            return []
        return self.commit(self.prepare(items), checkpoint=checkpoint)

    def _head(self) -> tuple[int, str, int]:
        """(next seq, last leaf hex, last ts) the next prepared batch chains onto. Call with _head_lock."""
        if self._spec is not None:
            return self._spec
        return self.tree.size, self.last_leaf, self.last_ts_ms

    def prepare(self, items: list[tuple[str, Any]]) -> Prepared:
        """Build and sign a batch (nothing is written) chained onto the last batch prepared, which may not
        be durable yet: the daemon signs batch N+1 in one thread while batch N's fdatasync runs in
        another. `commit` then writes it, and only onto exactly the records it was chained to; if a
        batch before it failed, it is refused (StaleBatch) and never written."""
        if self.broken:
            raise LedgerError(f"ledger unavailable: {self.broken}")
        with self._head_lock:
            base, prev_in, last_ts = self._head()
        prev = prev_in
        ts_ms = max(self.clock(), last_ts)
        ts = format_ts(ts_ms)
        out: list[Appended] = []
        chunks: list[bytes] = []
        leaves: list[bytes] = []
        for i, (type_, body) in enumerate(items):
            if callable(body):  # a body that needs earlier records of this batch (e.g. a request's hash)
                body = body(out)
            rec, line = build_record(
                log=self.origin, seq=base + i, ts=ts, type_=type_, prev=prev, signer=self.signer, body=body
            )
            h = leaf_hash(line)
            leaves.append(h)
            prev = h.hex()
            out.append(Appended(base + i, prev, rec))
            chunks.append(line)
            chunks.append(b"\n")
        with self._head_lock:
            if self._head()[:2] != (base, prev_in):  # a batch before this one failed meanwhile
                raise StaleBatch("ledger write failed: an earlier batch could not be written")
            self._spec = (base + len(items), prev, ts_ms)
        return Prepared(base, prev_in, prev, ts_ms, b"".join(chunks), leaves, out)

    def commit(self, batch: Prepared, *, checkpoint: bool | Callable[[], bool] = True) -> list[Appended]:
        """Write a prepared batch (one O_APPEND write, fdatasync) and, as `append` says, the checkpoint.
        Only the writer thread calls this; `prepare` may run meanwhile in another thread."""
        if self.broken:
            with self._head_lock:
                self._spec = None
            raise LedgerError(f"ledger unavailable: {self.broken}")
        if batch.base != self.tree.size or batch.prev_in != self.last_leaf:
            raise StaleBatch("ledger write failed: an earlier batch could not be written")
        start = os.fstat(self._fd).st_size
        try:
            view = memoryview(batch.data)
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
            os.fdatasync(self._fd)
        except OSError as exc:
            self._undo(start, exc)
            with self._head_lock:  # batches prepared on top of this one are now stale
                self._spec = None
            raise LedgerError(f"ledger write failed: {exc.strerror or exc}") from None
        with self._head_lock:
            for h in batch.leaves:
                self.tree.append(h)
            self.last_leaf = batch.prev_out
            self.last_ts_ms = batch.ts_ms
            if self._spec is not None and self._spec[:2] == (self.tree.size, self.last_leaf):
                self._spec = None  # nothing prepared beyond this batch
        if checkpoint is True or (checkpoint is not False and checkpoint()):
            self.checkpoint()
        return batch.records

    def checkpoint(self) -> None:
        """Sign a checkpoint over everything appended (if anything is unsigned) and bring the tracked copy
        up to date. Raises LedgerError (and refuses later appends) if the checkpoint cannot be written."""
        if self.broken:
            raise LedgerError(f"ledger unavailable: {self.broken}")
        if self.signed_size == self.tree.size and self._tracked_size == self._size_bytes():
            return
        if self.signed_size < self.tree.size:
            try:
                self._sign_checkpoint()
            except OSError as exc:
                # The records are durable and chained; only the checkpoint lags (verify: unsigned tail).
                self.broken = f"checkpoint write failed: {exc.strerror or exc}"
                raise LedgerError(self.broken) from None
        self._sync_tracked(full=False)

    def _size_bytes(self) -> int:
        return os.fstat(self._fd).st_size

    def _undo(self, start: int, exc: OSError) -> None:
        try:
            os.ftruncate(self._fd, start)
            os.fsync(self._fd)
        except OSError as exc2:
            self.broken = f"write failed ({exc.strerror}) and could not be undone ({exc2.strerror})"

    def _sign_checkpoint(self) -> None:
        size = self.tree.size
        if size < self.signed_size:  # never sign a smaller tree than one signed before
            raise LedgerLoss(
                f"refusing to sign a checkpoint of {size} records after one of {self.signed_size}"
            )
        note = Checkpoint(self.origin, size, self.tree.root()).sign([self.signer])
        atomic_write(self.checkpoint_path, note.encode(), mode=0o600)
        self.signed_size = size
        self._checkpoint_note = note

    def _sync_tracked(self, *, full: bool) -> None:
        """Bring `.forge/ledger/` up to date; a derived copy, so a failure here never fails the append.
        Only what was appended since the last sync is copied, if the tracked file is still the size this
        writer left it; otherwise (a checkout, an edit, a first sync) it is copied in full."""
        try:
            self.tracked_path.parent.mkdir(parents=True, exist_ok=True)
            try:
                tracked_size = self.tracked_path.stat().st_size
            except FileNotFoundError:
                tracked_size = -1
            size = self._size_bytes()
            if not full and 0 <= self._tracked_size == tracked_size < size:
                with open(self.path, "rb") as src, open(self.tracked_path, "ab") as dst:
                    src.seek(tracked_size)
                    left = size - tracked_size
                    while left > 0 and (chunk := src.read(min(left, 1 << 20))):
                        dst.write(chunk)
                        left -= len(chunk)
            elif full or tracked_size != size:
                tmp = self.tracked_path.with_name(f".{self.tracked_path.name}.tmp")
                with open(self.path, "rb") as src, open(tmp, "wb") as dst:
                    while chunk := src.read(1 << 20):
                        dst.write(chunk)
                os.replace(tmp, self.tracked_path)
            self._tracked_size = size
            note = getattr(self, "_checkpoint_note", None)
            if note is None:
                note = self.checkpoint_path.read_text(encoding="utf-8")
            tmp = self.tracked_checkpoint_path.with_name(f".{self.tracked_checkpoint_path.name}.tmp")
            tmp.write_text(note, encoding="utf-8")
            os.replace(tmp, self.tracked_checkpoint_path)
        except OSError:
            pass

    def checkpoint_note(self) -> str:
        return self.checkpoint_path.read_text(encoding="utf-8")

    def close(self) -> None:
        for attr in ("_fd", "_lock_fd"):
            fd = getattr(self, attr, -1)
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
                setattr(self, attr, -1)

    def __enter__(self) -> LedgerWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def append_note(project, text: str, *, author: str | None = None) -> Appended:
    """Append a signed `note` record directly (no daemon running)."""
    with LedgerWriter.open(project) as w:
        body: dict[str, Any] = {"text": text}
        if author:
            body["author"] = author
        return w.append([("note", body)])[0]


def fsync_tree(path: Path) -> None:
    fsync_dir(path)


__all__ = [
    "Appended",
    "Prepared",
    "StaleBatch",
    "LedgerWriter",
    "append_note",
    "iter_lines",
    "read_checkpoint_file",
    "authoritative_dir",
    "b64",
]
