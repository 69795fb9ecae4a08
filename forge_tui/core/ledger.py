"""The ledger writer and reader (docs/design.md §4.6–4.7).

One writer per ledger: an exclusive flock on a lock file beside the authoritative copy (in the user data
folder, outside the working tree). Each batch is one O_APPEND write followed by fdatasync; then a new
checkpoint is signed and atomically replaced (temp file, fsync, rename, fsync of the folder); then the
tracked copy in `.forge/ledger/` is brought up to date.

Opening a ledger checks it before anything is appended:
- a torn tail — bytes after the last LF, or lines after the signed checkpoint none of which is a valid
  record (a zero-filled, unsynced tail) — is copied aside, truncated away, and a `recovery` record is
  appended; the aside is named `.pending` until that record is durable, so a crash in the middle of a
  recovery is finished by the next open; leftover temp files of this ledger are removed;
- the records covered by the signed checkpoint must hash to its root, or opening stops (corrupt; the
  first bad record is named) — nothing is ever repaired automatically. Opening does not rehash them
  when the compact Merkle range saved beside the ledger at the last checkpoint (core/resume.py) checks
  out: its root must equal the signed root, the record it ends on must hash to the leaf it names, and
  only what follows it is read and checked in full, so start-up and memory do not grow with the ledger.
  An alteration inside that already-checked prefix is then found by `forge-tui verify --authoritative`
  (or by opening with `rehash=True`, or with no usable range), not by every open;
- a request left `pending` by a writer that stopped (a crash) gets its decision (denied, fallback);
- fewer records than the last signed checkpoint (here or in the tracked copy) is reported as loss, and
  the writer refuses to sign anything smaller; an unreadable tracked checkpoint is only rewritten.

Every failure of the write path is a fault the writer can heal from (docs/faults.md).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
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
from forge_tui.core.oscalls import DEFAULT as DEFAULT_OPS
from forge_tui.core.oscalls import OsCalls
from forge_tui.core.records import (
    ZERO_HASH,
    build_record,
    check_shape,
    format_ts,
    now_ms,
    parse_ts,
    verify_record_sig,
)
from forge_tui.core.resume import LineWatch, RangeInvalid, SavedRange, load_range, range_path, save_range
from forge_tui.errors import (
    CanonicalError,
    LedgerBusy,
    LedgerCorrupt,
    LedgerError,
    LedgerLoss,
    LedgerUnavailable,
    SignatureError,
)
from forge_tui.paths import fsync_dir, private_dir

# A wall clock that went back by more than this is recorded (a `note` of kind clock), not smoothed over.
CLOCK_STEP_MS = 2000
PENDING_SUFFIX = ".pending"  # a torn tail set aside whose `recovery` record is not yet durable
DISK_HINT = "free some space or fix the disk, then start again; a running daemon denies and retries by itself"
RESTORE_HINT = (
    "never repaired automatically: `forge-tui verify --authoritative` lists every bad record; restore the"
    " file from a backup (or from the tracked copy in .forge/ledger/ if `forge-tui verify` passes on it)"
)


@dataclass(frozen=True)
class Appended:
    seq: int
    leaf: str  # hex leaf hash
    record: dict[str, Any]


class _ResumeMismatch(LedgerError):
    """A scan resumed from the saved range did not reach the signed root (then every record is hashed)."""


@dataclass(frozen=True)
class Cosigner:
    """A second ledger key that cosigns checkpoints of min_size <= size <= max_size (None: no bound)."""

    signer: Signer
    min_size: int = 0
    max_size: int | None = None

    def signs(self, size: int) -> bool:
        return self.min_size <= size and (self.max_size is None or size <= self.max_size)


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
    extra: int = 0  # records `prepare` put before the caller's items (a clock note)


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


def iter_file_lines(fd: int, start: int, end: int, *, block: int = 1 << 22) -> Iterator[tuple[int, bytes]]:
    """(offset, line without LF) for each complete line of the open file `fd` in bytes [start, end),
    read in blocks with pread: memory stays one block, however long the file."""
    pos = start
    buf = b""
    buf_off = start
    while pos < end:
        chunk = os.pread(fd, min(block, end - pos), pos)
        if not chunk:
            return
        pos += len(chunk)
        buf = buf + chunk if buf else chunk
        i = 0
        find = buf.find
        while (j := find(b"\n", i)) >= 0:
            yield buf_off + i, buf[i:j]
            i = j + 1
        buf = buf[i:]
        buf_off += i


def read_line_at(fd: int, off: int, *, limit: int = (1 << 20) + 1) -> bytes:
    """The line that starts at byte `off` of `fd`, without its LF (a record line is at most 1 MiB)."""
    data = os.pread(fd, limit, off)
    end = data.find(b"\n")
    return data if end < 0 else data[:end]


@dataclass
class _Start:
    """Where a scan begins: the start of the file, or the end of a saved compact range."""

    offset: int = 0
    count: int = 0
    tree: CompactTree | None = None
    prev_line: bytes | None = None  # the record before `offset`
    watch: LineWatch | None = None


def read_checkpoint_file(path: Path, verifiers: list[Verifier]) -> Checkpoint | None:
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        raise NoteError(f"checkpoint {path.name} is not UTF-8") from None
    return open_checkpoint(text, verifiers)[0]


class LedgerWriter:
    """The single writer of one ledger. Callers serialise `append`/`commit`/`checkpoint`/`heal` (the
    daemon runs them in one thread); `prepare` of the next batch may run in another thread meanwhile.

    A failure of the write path puts the writer in a *fault* (`fault` says which): appends are refused
    (the gate denies) until `heal()` succeeds. Nothing is thrown away: `heal` undoes a batch whose undo
    failed, signs what is unsigned and probes the disk, and the daemon calls it with back-off. A failure
    of the tracked copy is only reported (`tracked_error`): the authoritative copy is durable and signed.
    """

    def __init__(
        self,
        project,
        ledger_id: str,
        signer: Signer,
        *,
        clock: Callable[[], int] = now_ms,
        ops: OsCalls = DEFAULT_OPS,
    ) -> None:
        self.project = project
        self.ledger_id = ledger_id
        self.signer = signer
        # A second ledger key during a key rotation's overlap (docs/formats.md "Key records"): its
        # records verify, and it cosigns every checkpoint of a size in [min_size, max_size].
        self.cosigner: Cosigner | None = None
        self.origin = project.origin(ledger_id)
        if signer.name != self.origin:
            raise LedgerError(f"signing key is named {signer.name!r}, expected {self.origin!r}")
        self.clock = clock
        self.ops = ops
        folder = authoritative_dir(project)
        self.path = folder / f"{ledger_id}.jsonl"
        self.checkpoint_path = folder / f"{ledger_id}.checkpoint"
        self.unacked_path = folder / f"{ledger_id}.unacked"
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
        self.range_path = range_path(self.path)
        self.range_error: str | None = None  # why the last save of the range file failed (it is a cache)
        self.resumed = False  # whether opening started from the saved range (else it hashed every record)
        self._rehash = False  # ignore the saved range (LedgerWriter.open(rehash=True))
        self._resumed_size = 0  # records the saved range covered when opening resumed from it
        self._watch = LineWatch()  # pending requests and trust records, for the range file
        self._end = 0  # bytes of the records in `tree` (where the next one begins)
        self.last_leaf = ZERO_HASH
        self.last_ts_ms = 0
        self.signed_size = 0
        self.fault: str | None = None  # why appends are refused until heal() succeeds
        self.tracked_error: str | None = None  # why the tracked copy is behind (reported, not blocking)
        self.warnings: list[str] = []  # what opening found and put right (logged by the daemon)
        self.recovered: dict[str, Any] | None = None  # the recovery record's body, if one was written
        self.closed_pending: list[Appended] = []  # decisions closing what a stopped writer left pending
        self._undo_to: int | None = None  # the ledger's size before a batch whose undo failed
        self._tracked_size = -1  # bytes of the tracked copy as this writer last left it
        self._checkpoint_note: str | None = None
        self._open_pending: list[dict[str, Any]] = []  # decisions left `pending` by a writer that stopped
        # The head of the last batch prepared but not yet durable (None: the durable head). prepare() and
        # commit() may run in two threads; this lock guards the head and the durable fields it reads.
        self._spec: tuple[int, str, int] | None = None
        self._head_lock = threading.Lock()

    def verifiers(self) -> list[Verifier]:
        """The ledger keys this writer accepts: its own and, during a rotation's overlap, the other."""
        if self.cosigner is None:
            return [self.signer.verifier]
        return [self.signer.verifier, self.cosigner.signer.verifier]

    def _verify_sig(self, rec: dict[str, Any]) -> None:
        keys = {v.kid: v for v in self.verifiers()}
        verify_record_sig(rec, keys.get(rec.get("kid"), self.signer.verifier))

    @property
    def broken(self) -> str | None:
        """The fault, under its older name."""
        return self.fault

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
            if w.fault:
                raise LedgerUnavailable(f"cannot write ledger {w.path}: {w.fault}", hint=DISK_HINT)
        except BaseException:
            w.close()
            raise
        return w

    @classmethod
    def open(cls, project, ledger_id: str | None = None, *, rehash: bool = False, **kw) -> LedgerWriter:
        """Open this machine's ledger for appending, with the checks described in the module docstring.
        A system call that fails on the way (a full disk, an I/O error) is LedgerUnavailable (exit 3).
        `rehash` ignores the saved compact range and hashes every record (as when there is none)."""
        from forge_tui.core.keyrotate import load_ledger_signers

        lid = ledger_id or project.local_ledger_id()
        signer, cosigner = load_ledger_signers(project, lid)
        w = cls(project, lid, signer, **kw)
        w.cosigner = cosigner
        w._rehash = rehash
        try:
            w._recover()
            if w.fault:
                raise LedgerUnavailable(f"cannot write ledger {w.path}: {w.fault}", hint=DISK_HINT)
        except OSError as exc:
            w.close()
            where = exc.filename or w.path
            raise LedgerUnavailable(
                f"cannot open ledger {lid}: {where}: {exc.strerror or exc}", hint=DISK_HINT
            ) from None
        except BaseException:
            w.close()
            raise
        return w

    def _recover(self) -> None:
        self._clean_temp_files()
        if not self.path.exists() and self.tracked_path.exists():
            # The private copy is gone (a new data folder): adopt the tracked copy; the checks below apply.
            import shutil

            shutil.copyfile(self.tracked_path, self.path)
            self.range_path.unlink(missing_ok=True)  # it described the lost copy
            if self.tracked_checkpoint_path.exists():
                shutil.copyfile(self.tracked_checkpoint_path, self.checkpoint_path)
        if not self.path.exists():
            raise LedgerLoss(f"ledger {self.ledger_id} is missing ({self.path})")
        self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND)
        try:
            cp = read_checkpoint_file(self.checkpoint_path, self.verifiers())
        except (NoteError, SignatureError) as exc:
            raise LedgerCorrupt(
                f"{self.checkpoint_path}: the signed checkpoint does not verify: {exc}", hint=RESTORE_HINT
            ) from None
        tracked_cp = self._read_tracked_checkpoint()
        size = os.fstat(self._fd).st_size
        torn_at = self._open_scan(cp, tracked_cp, size)
        torn = os.pread(self._fd, size - torn_at, torn_at) if torn_at is not None else b""
        n = self.tree.size
        for label, c, where in (
            ("signed checkpoint", cp, self.checkpoint_path),
            ("tracked checkpoint", tracked_cp, self.tracked_checkpoint_path),
        ):
            if c is not None and c.size > n:
                raise LedgerLoss(
                    f"{self.path} holds {n} records but the {label} {where} covers {c.size}: records were lost",
                    hint="restore the ledger from a backup or the repository; forge-tui never signs a smaller tree",
                )
        self.signed_size = cp.size if cp else 0
        pending = self._pending_recoveries()
        if torn:
            self._truncate_torn(torn, size - len(torn), pending)
        if self.tree.size == 0:
            raise LedgerCorrupt(f"{self.path} has no genesis record", hint=RESTORE_HINT)
        items: list[tuple[str, Any]] = [("recovery", body) for body, _ in pending.values()]
        items.extend(self._corrections())
        items.extend(("decision", closing_decision(b)) for b in self._open_pending)
        if items:
            done = self.append(items)
            if self.fault:
                return
            self.closed_pending = [r for r in done if r.record["type"] == "decision"]
            for _body, aside in pending.values():  # its recovery record is durable: the aside is kept
                os.replace(aside, aside.with_name(aside.name.removesuffix(PENDING_SUFFIX)))
            self.unacked_path.unlink(missing_ok=True)
            self.recovered = next((body for body, _ in pending.values()), None)
        elif self.signed_size < self.tree.size:
            self._sign_checkpoint()
            self._sync_tracked(full=True)
        else:
            if not self.resumed or self._resumed_size != self.tree.size:
                self._save_range()  # so that the next open need not rebuild again
            self._sync_tracked(full=False)

    def _clean_temp_files(self) -> None:
        """Temp files a writer of this ledger left behind (it crashed between write and rename): this
        writer holds the lock, so no other process is using them."""
        for folder in (self.path.parent, self.tracked_path.parent):
            if not folder.is_dir():
                continue
            for tmp in folder.glob(f".{self.ledger_id}.*.tmp"):
                tmp.unlink(missing_ok=True)
                self.warnings.append(f"removed a leftover temp file {tmp}")

    def _read_tracked_checkpoint(self) -> Checkpoint | None:
        """The tracked checkpoint, when it verifies. An empty, partial or foreign one (a copy written
        without fsync, a checkout) proves nothing: it is reported and rewritten, never fatal."""
        try:
            return read_checkpoint_file(self.tracked_checkpoint_path, self.verifiers())
        except (NoteError, SignatureError) as exc:
            self.warnings.append(f"{self.tracked_checkpoint_path} ignored (it is rewritten): {exc}")
            return None
        except OSError as exc:
            self.warnings.append(f"{self.tracked_checkpoint_path} unreadable: {exc.strerror or exc}")
            return None

    def _open_scan(self, cp: Checkpoint | None, tracked_cp: Checkpoint | None, size: int) -> int | None:
        """Scan the ledger from the saved compact range when it checks out, else from the start; returns
        the torn tail's offset (see `_scan`). A resumed scan that does not reach the signed root (or
        reaches fewer records than a checkpoint covers, or finds a bad record) is not trusted to say so:
        the whole ledger is then hashed again and that scan decides."""
        start = self._resume_point(cp, size)
        if start is not None:
            try:
                torn_at = self._scan(cp, size, start)
                short = max(c.size for c in (cp, tracked_cp) if c is not None)
                if self.tree.size >= short:
                    self.resumed = True
                    self._resumed_size = start.count
                    return torn_at
                why = f"it leads to {self.tree.size} records where a checkpoint covers {short}"
            except (_ResumeMismatch, LedgerCorrupt) as exc:
                why = str(exc)
            self.warnings.append(
                f"{self.range_path}: resuming from the saved Merkle range failed ({why}): rebuilding it"
                f" from all {size:,} bytes of the ledger"
            )
            self.tree, self._watch, self._open_pending = CompactTree(), LineWatch(), []
        return self._scan(cp, size, _Start())

    def _resume_point(self, cp: Checkpoint | None, size: int) -> _Start | None:
        """Where the saved range lets the scan begin, or None (with a warning saying why) when it is
        missing, malformed, stale or does not match the files: then every record is hashed."""
        rebuild = f"rebuilding the Merkle tree from all {size:,} bytes of the ledger"
        if cp is None or self._rehash:
            return None  # nothing signed yet to check a range against, or asked to hash everything
        try:
            saved = load_range(self.range_path, self.origin)
            if saved is None:
                self.warnings.append(f"no saved Merkle range ({self.range_path} is missing): {rebuild}")
                return None
            prev_line = self._check_saved(saved, cp, size)
        except RangeInvalid as exc:
            self.warnings.append(f"{self.range_path} ignored ({exc}): {rebuild}")
            return None
        return _Start(saved.offset, saved.size, saved.tree(), prev_line, saved.watch)

    def _check_saved(self, saved: SavedRange, cp: Checkpoint, size: int) -> bytes:
        """Raise RangeInvalid unless the range agrees with the signed checkpoint and the ledger file;
        returns the line of its last record."""
        if saved.size > cp.size:
            raise RangeInvalid(f"it covers {saved.size} records, more than the signed checkpoint's {cp.size}")
        if saved.offset > size:
            raise RangeInvalid(f"it ends at byte {saved.offset}, beyond the ledger's {size}")
        if saved.size == cp.size and saved.tree().root() != cp.root:
            raise RangeInvalid("its root is not the signed checkpoint's")
        head = os.pread(
            self._fd, min(saved.offset, (1 << 20) + 1), saved.offset - min(saved.offset, (1 << 20) + 1)
        )
        if not head.endswith(b"\n"):
            raise RangeInvalid(f"byte {saved.offset} of the ledger does not end a line")
        last = head[:-1].rsplit(b"\n", 1)[-1]
        if leaf_hash(last) != saved.last_leaf:
            raise RangeInvalid(f"the record ending at byte {saved.offset} is not the one it names")
        for off, leaf in [*saved.watch.pending.values(), *saved.watch.trust]:
            if off >= saved.offset or leaf_hash(read_line_at(self._fd, off)) != leaf:
                raise RangeInvalid(f"the record it names at byte {off} is not in the ledger")
        return last

    def _scan(self, cp: Checkpoint | None, size: int, start: _Start) -> int | None:
        """Hash every complete line from `start`; check the signed prefix against the checkpoint and the
        tail in full. Returns the offset of a torn tail (None if there is none): bytes after the last LF,
        or lines after the checkpoint that are not even JSON (zeros: an unsynced tail) with no valid
        record after them. A line that parses but does not check out was altered: that is corruption,
        never torn. Sets the tree, the line watch, the last leaf and time and the open pending requests."""
        tree = start.tree if start.tree is not None else CompactTree()
        watch = start.watch if start.watch is not None else LineWatch()
        prev_line = start.prev_line
        count = start.count
        cp_size = cp.size if cp else 0
        root_at_cp = tree.root() if count and count == cp_size else None
        bad: tuple[int, int, LedgerCorrupt] | None = None  # (seq, offset, error) of the first bad tail line
        later_valid = False
        end = good_end = start.offset
        for off, line in iter_file_lines(self._fd, start.offset, size):
            end = off + len(line) + 1
            if bad is not None:
                if self._is_record(line):
                    later_valid = True
                    break
                continue
            h = leaf_hash(line)
            if count >= cp_size:
                try:
                    self._check_tail_line(line, count, prev_line)
                except LedgerCorrupt as exc:
                    bad = (count, off, exc)
                    # A record that parses but does not check out was altered, not torn: corrupt.
                    later_valid = _parses(line)
                    if later_valid:
                        break
                    continue
            tree.append(h)
            watch.observe(off, line, h)
            count += 1
            if count == cp_size:
                root_at_cp = tree.root()
            prev_line = line
            good_end = end
        self.tree, self._watch, self._end = tree, watch, good_end
        if cp is not None:
            if cp.origin != self.origin:
                raise LedgerCorrupt(
                    f"{self.checkpoint_path} is the checkpoint of another log ({cp.origin})",
                    hint=RESTORE_HINT,
                )
            if cp_size == 0:
                root_at_cp = hashlib.sha256(b"").digest()
            if root_at_cp is not None and root_at_cp != cp.root:
                if start.offset:
                    raise _ResumeMismatch("the records after it do not hash to the signed root")
                found = self._first_bad_line(size)
                seq = found[0] if found else cp_size - 1
                why = found[1] if found else "the records do not hash to the signed root"
                raise LedgerCorrupt(
                    f"{self.path}: records do not match the signed checkpoint; first bad record at seq {seq}: {why}",
                    hint=RESTORE_HINT,
                )
        if bad is not None and later_valid:
            raise bad[2]
        self._open_pending = [
            parse_canonical(read_line_at(self._fd, off))["body"] for off, _leaf in watch.pending.values()
        ]
        if prev_line is not None:
            rec = parse_canonical(prev_line)
            self.last_ts_ms = parse_ts(rec["ts"])
            self.last_leaf = leaf_hash(prev_line).hex()
        if bad is not None:
            return bad[1]
        return end if end < size else None

    def trust_records(self) -> list[tuple[int, str, Any]]:
        """(seq, type, body) of the reviewer, policy and key records, in ledger order, read by offset
        (core/trust.py replays them): the daemon's trust roots without reading the whole ledger."""
        out: list[tuple[int, str, Any]] = []
        for off, _leaf in self._watch.trust:
            try:
                rec = json.loads(read_line_at(self._fd, off))
            except ValueError:
                continue
            out.append((rec.get("seq"), rec.get("type"), rec.get("body")))
        return out

    def trust_lines(self) -> list[bytes]:
        """The lines of the reviewer, policy and key records, in ledger order, read by offset (the
        daemon's `reviewer.proof` hands the reviewer ones out verbatim)."""
        return [read_line_at(self._fd, off) for off, _leaf in self._watch.trust]

    def _save_range(self) -> None:
        """Rewrite the range file for the tree as it is (called once a checkpoint of it is signed). A
        failure is kept in `range_error` and never fails the writer: the next open rebuilds instead."""
        saved = SavedRange(
            self.tree.size,
            self._end,
            self.tree.frontier(),
            bytes.fromhex(self.last_leaf),
            self.last_ts_ms,
            self._watch,
        )
        try:
            save_range(self.range_path, saved, self.origin)
        except OSError as exc:
            self.range_error = f"cannot write {self.range_path}: {exc.strerror or exc}"
        else:
            self.range_error = None

    def _is_record(self, line: bytes) -> bool:
        """Whether a line is a record of this log with a good signature (chain not considered)."""
        try:
            rec = parse_canonical(line)
            check_shape(rec)
            self._verify_sig(rec)
        except (CanonicalError, SignatureError, NoteError):
            return False
        return rec["log"] == self.origin

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
            self._verify_sig(rec)
        except (CanonicalError, SignatureError, NoteError) as exc:
            raise LedgerCorrupt(
                f"{self.path}: corrupt record at seq {seq}: {exc}", hint=RESTORE_HINT
            ) from None

    def _first_bad_line(self, size: int) -> tuple[int, str] | None:
        prev = None
        for seq, (_off, line) in enumerate(iter_file_lines(self._fd, 0, size)):
            try:
                self._check_tail_line(line, seq, prev)
            except LedgerCorrupt as exc:
                return seq, str(exc).split(": ", 2)[-1]
            prev = line
        return None

    def _pending_recoveries(self) -> dict[str, tuple[dict[str, Any], Path]]:
        """Torn tails set aside whose `recovery` record was not yet written (a crash in the middle of a
        recovery), by final name; an aside already recorded by the last record is only renamed."""
        out: dict[str, tuple[dict[str, Any], Path]] = {}
        for aside in sorted(self.path.parent.glob(f"{self.ledger_id}.torn-*{PENDING_SUFFIX}")):
            final = aside.name.removesuffix(PENDING_SUFFIX)
            if self._last_record_saved_as() == final:
                os.replace(aside, aside.with_name(final))
                continue
            torn = aside.read_bytes()
            out[final] = (_recovery_body(torn, int(final.rsplit("-", 1)[1]), final), aside)
        return out

    def _last_record_saved_as(self) -> str | None:
        if self.tree.size == 0:
            return None
        with open(self.path, "rb") as fh:
            end = os.fstat(fh.fileno()).st_size
            fh.seek(max(0, end - (1 << 20)))
            last = fh.read().rstrip(b"\n").rsplit(b"\n", 1)[-1]
        try:
            rec = parse_canonical(last)
        except CanonicalError:
            return None
        return rec["body"].get("saved_as") if rec.get("type") == "recovery" else None

    def _truncate_torn(self, torn: bytes, keep: int, pending: dict) -> None:
        """Copy the torn tail aside (as `<id>.torn-<time>-<offset>.pending` until its recovery record is
        durable), then cut it off. An aside of the same bytes from an interrupted recovery is reused."""
        body = _recovery_body(torn, keep, "")
        for final, (b, _aside) in pending.items():  # noqa: B007 (final is used after the loop)
            if b["torn_sha256"] == body["torn_sha256"] and b["at_offset"] == keep:
                break
        else:
            final = f"{self.ledger_id}.torn-{time.strftime('%Y%m%dT%H%M%S')}-{keep}"
            aside = self.path.with_name(final + PENDING_SUFFIX)
            self.ops.atomic_write("aside", aside, torn, mode=0o600)
            pending[final] = (_recovery_body(torn, keep, final), aside)
        self.ops.ftruncate("ledger", self._fd, keep)
        self.ops.fsync("ledger", self._fd)
        self.warnings.append(f"{self.path}: a torn tail of {len(torn)} bytes at offset {keep} was set aside")

    def _corrections(self) -> list[tuple[str, Any]]:
        """A `note` (kind correction) for records that a crash left in the ledger after their callers
        were told the write failed (the undo of a failed write failed too: see `_fail_write`)."""
        try:
            marker = json.loads(self.unacked_path.read_text(encoding="utf-8"))
            first, count = int(marker["first_seq"]), int(marker["count"])
        except FileNotFoundError:
            return []
        except (OSError, ValueError, KeyError, TypeError):
            self.warnings.append(f"{self.unacked_path} unreadable: ignored")
            return []
        last = min(first + count, self.tree.size) - 1
        if last < first:
            return []  # the records never reached the disk: nothing contradicts what callers heard
        return [("note", correction_body(first, last, marker.get("told", "the write failed")))]

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

        Raises LedgerUnavailable if the records could not be made durable (none of them is then in the
        ledger, or `heal` will take them out); a checkpoint that fails after the records are durable does
        not fail the append, it puts the writer in a fault so the next appends are refused until healed.
        """
        self._refuse_if_faulty()
        if not items:
            return []
        return self.commit(self.prepare(items), checkpoint=checkpoint)

    def _refuse_if_faulty(self) -> None:
        if self.fault:
            raise LedgerUnavailable(f"ledger unavailable: {self.fault} (retrying)")

    def _head(self) -> tuple[int, str, int]:
        """(next seq, last leaf hex, last ts) the next prepared batch chains onto. Call with _head_lock."""
        if self._spec is not None:
            return self._spec
        return self.tree.size, self.last_leaf, self.last_ts_ms

    def _stamp(self, last_ts: int) -> tuple[int, list[tuple[str, Any]]]:
        """The batch's time from the wall clock and the records it needs first. Never earlier than the
        last record's by a little (a clock slewed back by NTP); a clock that went back by more than
        CLOCK_STEP_MS is not papered over: a `note` (kind clock) records the step and time goes on from
        the clock (so one jump forward cannot pin every later record to the future)."""
        now = self.clock()
        if now >= last_ts:
            return now, []
        if last_ts - now <= CLOCK_STEP_MS:
            return last_ts, []
        return now, [("note", clock_body(last_ts, now))]

    def prepare(self, items: list[tuple[str, Any]]) -> Prepared:
        """Build and sign a batch (nothing is written) chained onto the last batch prepared, which may not
        be durable yet: the daemon signs batch N+1 in one thread while batch N's fdatasync runs in
        another. `commit` then writes it, and only onto exactly the records it was chained to; if a
        batch before it failed, it is refused (StaleBatch) and never written."""
        self._refuse_if_faulty()
        with self._head_lock:
            base, prev_in, last_ts = self._head()
        prev = prev_in
        ts_ms, extra = self._stamp(last_ts)
        ts = format_ts(ts_ms)
        out: list[Appended] = []
        chunks: list[bytes] = []
        leaves: list[bytes] = []
        for i, (type_, body) in enumerate([*extra, *items]):
            if callable(body):  # a body that needs earlier records of this batch (e.g. a request's hash)
                body = body(out[len(extra) :])
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
            self._spec = (base + len(out), prev, ts_ms)
        return Prepared(base, prev_in, prev, ts_ms, b"".join(chunks), leaves, out, len(extra))

    def commit(
        self,
        batch: Prepared,
        *,
        checkpoint: bool | Callable[[], bool] = True,
        on_durable: Callable[[list[Appended]], None] | None = None,
    ) -> list[Appended]:
        """Write a prepared batch (one O_APPEND write, fdatasync) and, as `append` says, the checkpoint.
        Only the writer thread calls this; `prepare` may run meanwhile in another thread. Returns the
        records of the batch's items (not the clock note `prepare` may have put first). `on_durable`,
        if given, is called with them as soon as they are durable, before the checkpoint is signed (the
        daemon answers its callers from there, while this thread signs)."""
        if batch.base != self.tree.size or batch.prev_in != self.last_leaf:
            raise StaleBatch("ledger write failed: an earlier batch could not be written")
        if self.fault:
            with self._head_lock:
                self._spec = None
            self._refuse_if_faulty()
        try:
            start = os.fstat(self._fd).st_size
        except OSError as exc:
            with self._head_lock:
                self._spec = None
            self.fault = f"cannot stat the ledger: {exc.strerror or exc}"
            raise LedgerUnavailable(f"ledger write failed: {exc.strerror or exc}") from None
        try:
            self.ops.write_all("ledger", self._fd, batch.data)
            self.ops.fdatasync("ledger", self._fd)
        except OSError as exc:
            with self._head_lock:  # batches prepared on top of this one are now stale
                self._spec = None
            self._fail_write(start, batch, exc)
            raise LedgerUnavailable(f"ledger write failed: {exc.strerror or exc}") from None
        with self._head_lock:
            for h in batch.leaves:
                self.tree.append(h)
            self._watch.observe_batch(start, batch.data, batch.leaves)
            self._end = start + len(batch.data)
            self.last_leaf = batch.prev_out
            self.last_ts_ms = batch.ts_ms
            if self._spec is not None and self._spec[:2] == (self.tree.size, self.last_leaf):
                self._spec = None  # nothing prepared beyond this batch
        written = batch.records[batch.extra :]
        if on_durable is not None:
            on_durable(written)
        if checkpoint is True or (checkpoint is not False and checkpoint()):
            try:
                self.checkpoint()
            except LedgerError:
                pass  # the records are durable (the caller hears so); the fault refuses the next ones
            except OSError as exc:  # e.g. fstat of the ledger: the same, a fault until a retry signs
                self.fault = f"checkpoint failed: {exc.strerror or exc}"
        return written

    def discard_prepared(self) -> None:
        """Forget batches prepared but never to be committed (their callers were told they failed): the
        next batch chains onto the durable head. Only when no prepared batch is still to be committed."""
        with self._head_lock:
            self._spec = None

    def is_durable(self, batch: Prepared) -> bool:
        """Whether `batch` went through fdatasync: its leaves are in the tree only once it did."""
        with self._head_lock:
            return self.tree.size >= batch.base + len(batch.leaves)

    def _fail_write(self, start: int, batch: Prepared, exc: OSError) -> None:
        """Take a failed batch back out (ftruncate, fsync) and enter a fault. If even that fails the
        batch's bytes may be on disk: a marker names them, so that `heal` takes them out or, after a
        crash, the next writer appends a correction saying their callers were told the write failed."""
        why = exc.strerror or str(exc)
        try:
            self.ops.ftruncate("ledger", self._fd, start)
            self.ops.fsync("ledger", self._fd)
        except OSError as exc2:
            self._undo_to = start
            self.fault = f"write failed ({why}) and could not be undone ({exc2.strerror or exc2})"
            marker = {"offset": start, "first_seq": batch.base, "count": len(batch.leaves), "told": why}
            try:
                self.ops.atomic_write("aside", self.unacked_path, json.dumps(marker).encode())
            except OSError:
                pass  # the disk refuses this too; heal() still takes the batch out while we run
            return
        self.fault = f"ledger write failed: {why}"

    def checkpoint(self) -> None:
        """Sign a checkpoint over everything appended (if anything is unsigned) and bring the tracked copy
        up to date. Raises LedgerUnavailable (and enters a fault) if the checkpoint cannot be written."""
        self._refuse_if_faulty()
        if self.signed_size == self.tree.size and self._tracked_size == self._size_bytes():
            return
        if self.signed_size < self.tree.size:
            try:
                self._sign_checkpoint()
            except OSError as exc:
                # The records are durable and chained; only the checkpoint lags (verify: unsigned tail).
                self.fault = f"checkpoint write failed: {exc.strerror or exc}"
                raise LedgerUnavailable(self.fault) from None
        self._sync_tracked(full=False)

    def heal(self) -> bool:
        """Try to clear the fault (the daemon calls this with back-off): take out a batch whose undo
        failed, make the ledger durable, sign what is unsigned (or rewrite the checkpoint: a probe of the
        disk), then bring the tracked copy up to date. True when appends are accepted again. Raises
        nothing: a call that fails leaves the fault (with the new reason) for the next one."""
        if self.fault:
            try:
                if self._undo_to is not None:
                    self.ops.ftruncate("ledger", self._fd, self._undo_to)
                    self.ops.fsync("ledger", self._fd)
                    self._undo_to = None
                    self.unacked_path.unlink(missing_ok=True)
                self.ops.fdatasync("ledger", self._fd)
                self._sign_checkpoint()  # also a probe of the disk when nothing is unsigned
            except OSError as exc:
                self.fault = self.fault.split(" (still:", 1)[0] + f" (still: {exc.strerror or exc})"
                return False
            self.fault = None
        self._sync_tracked(full=self.tracked_error is not None)
        return True

    def _size_bytes(self) -> int:
        return os.fstat(self._fd).st_size

    def _sign_checkpoint(self) -> None:
        size = self.tree.size
        if size < self.signed_size:  # never sign a smaller tree than one signed before
            raise LedgerLoss(
                f"refusing to sign a checkpoint of {size} records after one of {self.signed_size}"
            )
        signers = [self.signer]
        if self.cosigner is not None and self.cosigner.signs(size):
            signers.append(self.cosigner.signer)
        note = Checkpoint(self.origin, size, self.tree.root()).sign(signers)
        self.ops.atomic_write("checkpoint", self.checkpoint_path, note.encode(), mode=0o600)
        self.signed_size = size
        self._checkpoint_note = note
        self._save_range()

    def _sync_tracked(self, *, full: bool) -> None:
        """Bring `.forge/ledger/` up to date with the same care as the authoritative copy (appended and
        fsynced, or replaced atomically; the checkpoint after the records it covers). A derived copy,
        so a failure never fails an append: it is kept in `tracked_error` (status shows it, the daemon
        logs it and retries) until a later sync succeeds. Only what was appended since the last sync is
        copied if the tracked file is still the size this writer left it; otherwise it is copied whole."""
        try:
            self.tracked_path.parent.mkdir(parents=True, exist_ok=True)
            try:
                tracked_size = self.tracked_path.stat().st_size
            except FileNotFoundError:
                tracked_size = -1
            size = self._size_bytes()
            if not full and 0 <= self._tracked_size == tracked_size < size:
                self.ops.append_range("tracked", self.path, self.tracked_path, tracked_size, size)
            elif full or tracked_size != size:
                self._tracked_size = -1
                self.ops.copy_file("tracked", self.path, self.tracked_path)
            self._tracked_size = size
            note = self._checkpoint_note
            if note is None:
                note = self.checkpoint_path.read_text(encoding="utf-8")
            self.ops.atomic_write("tracked", self.tracked_checkpoint_path, note.encode())
        except OSError as exc:
            self._tracked_size = -1  # copy it whole next time: a partial append may be in it
            self.tracked_error = f"cannot update {self.tracked_path.parent}: {exc.strerror or exc}"
            return
        self.tracked_error = None

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


def closing_decision(pending: dict[str, Any]) -> dict[str, Any]:
    """The decision that closes a request a stopped writer left pending (a crash, or a shutdown whose
    own decision could not be written): denied, decided_by fallback."""
    return {
        "request_id": pending["request_id"],
        "request_hash": pending["request_hash"],
        "status": "denied",
        "decided_by": "fallback",
        "rule": pending.get("rule"),
        "reason": "the daemon stopped before a reviewer decided (closed when the ledger was next opened)",
        "policy_digest": pending.get("policy_digest"),
        "approvals_needed": pending.get("approvals_needed", 1),
        "distinct_from": pending.get("distinct_from", ["requester"]),
        "approval_seqs": [],
    }


def _parses(line: bytes) -> bool:
    try:
        parse_canonical(line)
    except CanonicalError:
        return False
    return True


def _recovery_body(torn: bytes, offset: int, saved_as: str) -> dict[str, Any]:
    return {
        "torn_bytes": len(torn),
        "torn_sha256": hashlib.sha256(torn).hexdigest(),
        "at_offset": offset,
        "saved_as": saved_as,
    }


def clock_body(last_ts: int, now: int) -> dict[str, Any]:
    """The `note` that records a wall clock gone back (verify accepts time going back at such a note)."""
    return {
        "kind": "clock",
        "text": f"the wall clock went back by {(last_ts - now) / 1000:.3f} s; timestamps follow it from here",
        "previous_ts": format_ts(last_ts),
    }


def correction_body(first: int, last: int, told: str) -> dict[str, Any]:
    """The `note` for records whose callers heard that the write failed (so: denied)."""
    return {
        "kind": "correction",
        "text": (
            f"records {first}..{last} reached the ledger although their callers were told the write failed"
            f" ({told}): they were answered as denied and must be read as denied"
        ),
        "seqs": [first, last],
        "told": "denied",
    }


def untold_body(request_id: str, seq: int) -> dict[str, Any]:
    """The `note` for an `allowed` decision whose client hung up before its answer (a hook past its
    deadline, say, which told its host no): the action was not run on that decision."""
    return {
        "kind": "correction",
        "text": (
            f"request {request_id} was allowed at seq {seq}, but its client hung up before the answer:"
            " it was never told allowed, so read the decision as not acted on"
        ),
        "seqs": [seq, seq],
        "request_id": request_id,
        "told": "nothing",
    }


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
