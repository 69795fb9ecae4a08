"""The saved compact Merkle range: what the ledger writer needs to resume without rehashing the file.

`<ledger-id>.range`, beside the authoritative ledger (docs/formats.md "Resume state"), is rewritten after
each signed checkpoint. It holds the RFC 6962 compact range of the signed tree (one subtree hash per set
bit of its size, log2 n of them) with what opening a ledger otherwise learns from every line: where the
signed records end, the last one's leaf hash and time, the requests still pending, and where the
records that carry trust (reviewer, policy, key) are. A writer that opens the ledger starts from it and
scans only what follows, so its start-up and memory do not grow with the ledger.

It is a cache, never a source of truth: it carries a SHA-256 over its own content (a torn or bit-flipped
file is refused), and the writer uses it only when everything it says checks out against the files —
the root it yields equals the signed checkpoint's, the record before `offset` hashes to `last_leaf`, and
each record it points at hashes to the leaf it names. Anything else (missing, stale, corrupt) falls
back to hashing the whole ledger, with a warning in the daemon's log. Written with a temp file and a
rename but no fsync: after a power loss it may be old or empty, which only costs one full rebuild.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from forge_tui.core.merkle import CompactTree, ProofError

RANGE_SUFFIX = ".range"
VERSION = 1
# How a canonical record line of these types ends (JCS sorts `type` and `v` last): the records the
# daemon replays at start (core/trust.py) and so must find without reading the whole ledger.
TRUST_ENDS = (b',"type":"reviewer","v":1}', b',"type":"policy","v":1}', b',"type":"key","v":1}')
DECISION_END = b',"type":"decision","v":1}'  # how a canonical decision record's line ends


class RangeInvalid(ValueError):
    """The saved range cannot be used (the reason is the message): rebuild from the whole ledger."""


@dataclass
class LineWatch:
    """What the writer follows, line by line, besides the tree: the requests whose last decision is
    `pending` (request id -> (offset, leaf) of that decision) and the trust records ((offset, leaf), in
    ledger order). Both are small: they grow with open requests and trust changes, not with records."""

    pending: dict[bytes, tuple[int, bytes]] = field(default_factory=dict)
    trust: list[tuple[int, bytes]] = field(default_factory=list)
    # The JSON of each trust entry, made once: the list is written at every checkpoint and grows with
    # each daemon start (a `policy` record), so it is not re-encoded every time.
    _trust_json: list[str] = field(default_factory=list, compare=False, repr=False)

    def trust_json(self) -> str:
        """`trust` as `_dump` would write it."""
        done = self._trust_json
        if len(done) > len(self.trust):
            done.clear()
        done.extend(f'[{off},"{leaf.hex()}"]' for off, leaf in self.trust[len(done) :])
        return "[" + ",".join(done) + "]"

    def observe(self, off: int, line: bytes, leaf: bytes) -> None:
        """A record accepted at byte `off` (its line without LF, and its leaf hash)."""
        if line.endswith(DECISION_END):
            self._decision(off, line, leaf)
        elif line.endswith(TRUST_ENDS):
            self.trust.append((off, leaf))

    def observe_batch(self, start: int, data: bytes, leaves: list[bytes]) -> None:
        """The lines of one written batch (`data`, each with its LF) that begins at byte `start`."""
        pos = 0
        for leaf in leaves:
            end = data.index(b"\n", pos)
            if data.endswith(DECISION_END, pos, end):
                self._decision(start + pos, data[pos:end], leaf)
            elif data.endswith(TRUST_ENDS, pos, end):
                self.trust.append((start + pos, leaf))
            pos = end + 1

    def _decision(self, off: int, line: bytes, leaf: bytes) -> None:
        """Follow which requests are pending without parsing the line (string values are JSON-escaped,
        so the quoted keys below occur only as keys)."""
        r = line.find(b'"request_id":"')
        k = line.find(b'"status":"')
        if r < 0 or k < 0:
            return
        rid = line[r + 14 : line.find(b'"', r + 14)]
        if line.startswith(b'pending"', k + 10):
            self.pending[rid] = (off, leaf)
        else:
            self.pending.pop(rid, None)

    def copy(self) -> LineWatch:
        return LineWatch(dict(self.pending), list(self.trust), list(self._trust_json))


@dataclass
class SavedRange:
    """The content of a `.range` file (see the module docstring)."""

    size: int  # records covered: the signed checkpoint's tree size when it was written
    offset: int  # bytes those records take in the ledger file (where record `size` begins)
    frontier: list[bytes]  # the compact range of [0, size): CompactTree.frontier()
    last_leaf: bytes  # leaf hash of record size-1
    last_ts_ms: int  # its time
    watch: LineWatch

    def tree(self) -> CompactTree:
        return CompactTree.from_frontier(self.size, self.frontier)

    def encode(self, origin: str) -> bytes:
        body = {
            "v": VERSION,
            "log": origin,
            "size": self.size,
            "offset": self.offset,
            "frontier": [h.hex() for h in self.frontier],
            "last_leaf": self.last_leaf.hex(),
            "last_ts": self.last_ts_ms,
            "pending": [
                [rid.decode("utf-8"), off, leaf.hex()] for rid, (off, leaf) in self.watch.pending.items()
            ],
        }
        # The same bytes as _dump(body with "trust"): keys sorted, "trust" just before "v" (the last).
        head = _dump(body)
        tail = b',"v":%d}' % VERSION
        text = head[: -len(tail)] + b',"trust":' + self.watch.trust_json().encode("ascii") + tail
        return b'{"body":' + text + b',"sha256":"' + hashlib.sha256(text).hexdigest().encode() + b'"}\n'

    @classmethod
    def decode(cls, data: bytes, origin: str) -> SavedRange:
        """Parse and check a `.range` file's bytes; RangeInvalid says why they cannot be used."""
        try:
            outer = json.loads(data)
            body = outer["body"]
            if hashlib.sha256(_dump(body)).hexdigest() != outer["sha256"]:
                raise RangeInvalid("its checksum does not match its content (a torn or damaged file)")
            if body["v"] != VERSION:
                raise RangeInvalid(f"version {body['v']!r}, expected {VERSION}")
            if body["log"] != origin:
                raise RangeInvalid(f"it belongs to another log ({body['log']!r})")
            size, offset, last_ts = _uint(body["size"]), _uint(body["offset"]), _uint(body["last_ts"])
            frontier = [_hash(h) for h in body["frontier"]]
            watch = LineWatch(
                {rid.encode("utf-8"): (_uint(off), _hash(leaf)) for rid, off, leaf in body["pending"]},
                [(_uint(off), _hash(leaf)) for off, leaf in body["trust"]],
            )
            saved = cls(size, offset, frontier, _hash(body["last_leaf"]), last_ts, watch)
            saved.tree()  # the hash count must match the size
        except RangeInvalid:
            raise
        except ProofError as exc:
            raise RangeInvalid(str(exc)) from None
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeError) as exc:
            raise RangeInvalid(f"malformed ({type(exc).__name__}: {exc})") from None
        if size < 1 or offset < size:
            raise RangeInvalid(f"impossible size {size} at offset {offset}")
        return saved


def range_path(ledger_path: Path) -> Path:
    return ledger_path.with_suffix(RANGE_SUFFIX)


def save_range(path: Path, saved: SavedRange, origin: str) -> None:
    """Replace the range file atomically (temp file `.<name>.<pid>.tmp`, rename; no fsync: see the
    module docstring). Raises OSError; the writer reports it and carries on."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            data = memoryview(saved.encode(origin))
            while data:
                data = data[os.write(fd, data) :]
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def load_range(path: Path, origin: str) -> SavedRange | None:
    """The saved range, None when there is none; RangeInvalid when it is unreadable or malformed."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise RangeInvalid(f"unreadable ({exc.strerror or exc})") from None
    return SavedRange.decode(data, origin)


def _dump(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def _uint(v) -> int:
    if type(v) is not int or v < 0:
        raise ValueError(f"{v!r} is not a non-negative integer")
    return v


def _hash(v) -> bytes:
    h = bytes.fromhex(v)
    if len(h) != 32:
        raise ValueError("a hash is not 32 bytes")
    return h


__all__ = ["LineWatch", "RangeInvalid", "SavedRange", "load_range", "range_path", "save_range"]
