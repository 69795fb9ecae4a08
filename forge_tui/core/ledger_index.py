"""A read-only index over a ledger file for browsing: line offsets, records on demand, and filters.

The file is memory-mapped and only the byte offsets of its lines are kept (one 8-byte integer per
record), so a million-record ledger is indexed in a fraction of a second and costs ~8 MB. Records are
parsed when asked for (a small LRU cache keeps the ones on screen). Pages of the mapping are released
after every scan so the whole file never counts towards the process's resident memory.

Opened with `tail_bytes`, only the last lines (about that many bytes) are indexed at once, so the newest
records can be shown while `build_prefix` indexes the rest (in a worker thread) and `complete_with`
puts the two together; until then `complete` is False, the total is estimated from the first indexed
record's `seq` (line i holds seq i in a well-formed ledger), and older lines raise NotIndexed.

Only complete lines count: a torn last line (no final LF, e.g. a write in progress) is ignored until
its LF arrives. `refresh()` indexes appended lines incrementally and starts over if the file was
replaced or shrank.

This is a viewer, not a verifier: it parses leniently (plain `json.loads`) and never checks the chain or
signatures; `forge-tui verify` does that. Standard library only (the core stays headless).
"""

from __future__ import annotations

import json
import mmap
import os
import re
from array import array
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Scans walk the file in chunks of this many lines, then drop those pages from the mapping.
_CHUNK_LINES = 32768
_PAGE = mmap.PAGESIZE
# A record line ends with `"ts":"<24 chars>","type":"<type>","v":1}` (JCS sorts the keys), so the
# top-level timestamp and type can be read from the line's tail without parsing it.
_TAIL_RE = re.compile(rb'"ts":"([^"]{24})","type":"([a-z]+)","v":\d+}$')


class UnreadableRecord(ValueError):
    """A line of the ledger is not a JSON object (run `forge-tui verify`)."""


class NotIndexed(IndexError):
    """A line before the indexed tail, asked for while the rest of the index is being built."""


@dataclass(frozen=True)
class LedgerFilter:
    """What to show; every field set must match (AND). Semantics follow `forge-tui log`.

    `since`/`until` are full RFC 3339 stamps (see `forge_tui.core.query.normalise_time`); `text` is a
    case-insensitive (ASCII case folding) substring of the record's JSON line, matched against the
    JSON-escaped form of the text so quotes and backslashes find what they look like.
    """

    types: frozenset[str] | None = None
    actor: str | None = None
    path: str | None = None
    status: str | None = None
    rule: str | None = None
    since: str | None = None
    until: str | None = None
    text: str | None = None

    def is_empty(self) -> bool:
        return not any(
            (self.types, self.actor, self.path, self.status, self.rule, self.since, self.until, self.text)
        )


def _json_fragment(value: str) -> bytes:
    """How `value` appears inside a JSON string of a record line (JCS escapes like json.dumps)."""
    return json.dumps(value, ensure_ascii=False)[1:-1].encode("utf-8")


def _literal_run(glob: str) -> str:
    """The longest run of a glob without wildcards: every path it matches contains it."""
    if "\\" in glob:  # escapes: keep it simple and use no literal run
        return ""
    runs = re.split(r"\[[^\]]*\]|[*?\[\]{}!]", glob.lstrip("/"))
    # `**/` may match nothing, so a slash next to a wildcard is not guaranteed: trim slashes.
    return max((r.strip("/") for r in runs), key=len)


class LedgerIndex:
    """Line offsets of one ledger file, with records parsed on demand.

    Index `i` is the i-th complete line of the file; in a well-formed ledger that is the record with
    `seq == i`. Not for concurrent writers of the index itself: call `refresh()` from one thread;
    `search()` may run in another thread at the same time (it works on a snapshot).
    """

    def __init__(self, path: Path | str, *, cache_size: int = 512, tail_bytes: int | None = None) -> None:
        self.path = Path(path)
        self._tail_bytes = tail_bytes
        # Lines before the indexed ones: `_offsets[j]` is where line `_base + j` starts. 0 once complete.
        self._base = 0
        self.complete = True
        self._cache_size = cache_size
        self._cache: OrderedDict[int, dict[str, Any]] = OrderedDict()
        self._file = None
        self._mm: mmap.mmap | None = None
        self._ino: int | None = None
        # offsets[i] is where line i starts; offsets[len] is one past the last indexed LF.
        self._offsets = array("Q", [0])
        self.generation = 0  # bumped whenever the index starts over (file replaced or shrunk)
        self._open()

    # ---- opening and refreshing ---------------------------------------------------------------------

    def _open(self) -> None:
        self.close()
        self._offsets = array("Q", [0])
        self._cache.clear()
        try:
            self._file = open(self.path, "rb")  # noqa: SIM115 - held open for the mapping's lifetime
        except FileNotFoundError:
            self._file = None
            self._ino = None
            return
        st = os.fstat(self._file.fileno())
        self._ino = st.st_ino
        self._map(st.st_size)
        self._base, self.complete = 0, True
        tail = self._tail_bytes
        if tail is not None and st.st_size > tail and self._open_tail(st.st_size - tail):
            return
        self._offsets = array("Q", [0])
        self._index_from(0)

    def _open_tail(self, near: int) -> bool:
        """Index only the lines from the first line start after byte `near`; False (nothing changed)
        when the seq of that line cannot be read to place it."""
        mm = self._mm
        nl = mm.find(b"\n", near - 1)
        if nl < 0:
            return False
        start = nl + 1
        end = mm.find(b"\n", start)
        if end < 0:
            return False
        try:
            seq = json.loads(os.pread(self._file.fileno(), end - start, start)).get("seq")
        except (ValueError, UnicodeDecodeError, AttributeError):
            return False
        if type(seq) is not int or seq < 0:
            return False
        self._offsets = array("Q", [start])
        self._base, self.complete = seq, False
        self._index_from(start)
        return True

    def build_prefix(
        self,
        *,
        step: Callable[[int, int], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> tuple[int, array] | None:
        """Index the lines before the indexed tail (safe in a worker thread while the UI reads the
        index); returns (generation, line starts) for `complete_with`, or None when cancelled or when
        the file was reopened meanwhile. `step(done, total)` is called with the bytes done before each
        window of the scan (and once at the end)."""
        generation, mm, file = self.generation, self._mm, self._file
        if self.complete or mm is None or file is None:
            return None
        stop = self._offsets[0]
        prefix = array("Q", [0])
        if not _index_lines(mm, 0, stop, prefix, step=step, cancelled=cancelled):
            return None
        if step is not None:
            step(stop, stop)
        return generation, prefix

    def complete_with(self, built: tuple[int, array] | None) -> bool | None:
        """Join a `build_prefix` result to the tail (call from the thread that refreshes). Returns None
        if it was stale (nothing changed), True if the estimated line numbers were right, False if they
        were not (every index shifted: the caller starts its view over)."""
        if built is None or self.complete:
            return None
        generation, prefix = built
        if generation != self.generation or prefix[-1] != self._offsets[0]:
            return None
        right = len(prefix) - 1 == self._base
        joined = prefix[:-1]
        joined.extend(self._offsets)
        self._offsets = joined
        self._base, self.complete = 0, True
        self._cache.clear()
        if not right:
            self.generation += 1
        return right

    def _map(self, size: int) -> None:
        # The old mapping is dropped, not closed: a search running in a thread may still hold it.
        self._mm = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ) if size else None

    def _index_from(self, pos: int) -> int:
        mm = self._mm
        if mm is None:
            return 0
        before = len(self._offsets)
        _index_lines(mm, pos, len(mm), self._offsets)
        return len(self._offsets) - before

    def refresh(self) -> int:
        """Index lines appended since the last call; returns how many records were added.

        If the file was replaced (another inode) or shrank, the index starts over, `generation` goes up,
        and the return value is the new record count.
        """
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            if self._file is None:
                return 0
            self._open()
            self.generation += 1
            return 0
        end = self._offsets[-1]
        if self._file is None or st.st_ino != self._ino or st.st_size < end:
            self._open()
            self.generation += 1
            return len(self)
        mapped = len(self._mm) if self._mm is not None else 0
        if st.st_size == mapped:
            return 0
        self._map(st.st_size)
        return self._index_from(end)

    def close(self) -> None:
        self._mm = None
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> LedgerIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- access ------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._base + len(self._offsets) - 1

    @property
    def first_indexed(self) -> int:
        """The first line whose record can be read now (0 once the index is complete)."""
        return self._base

    @property
    def indexed_bytes(self) -> int:
        """Bytes covered by complete lines (a torn tail beyond this is ignored)."""
        return self._offsets[-1]

    def raw(self, i: int) -> bytes:
        """The bytes of line `i` without its LF (negative `i` counts from the end)."""
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n or self._file is None:
            raise IndexError(f"record index {i} out of range (0..{n - 1})")
        j = i - self._base
        if j < 0:
            raise NotIndexed(f"record index {i} is not indexed yet")
        start = self._offsets[j]
        # pread, not the mapping: touching one page of a mapping can map a whole large folio around it,
        # and a few hundred scattered reads would then hold most of the file resident.
        return os.pread(self._file.fileno(), self._offsets[j + 1] - 1 - start, start)

    def record(self, i: int) -> dict[str, Any]:
        """Line `i` parsed (cached); raises UnreadableRecord if it is not a JSON object."""
        if i < 0:
            i += len(self)
        cache = self._cache
        rec = cache.get(i)
        if rec is not None:
            cache.move_to_end(i)
            return rec
        raw = self.raw(i)
        try:
            rec = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise UnreadableRecord(f"line {i} is not valid JSON: {exc}") from None
        if not isinstance(rec, dict):
            raise UnreadableRecord(f"line {i} is not a JSON object")
        cache[i] = rec
        if len(cache) > self._cache_size:
            cache.popitem(last=False)
        return rec

    def find_seq(self, seq: int) -> int | None:
        """The index of the record with this `seq`, or None. Normally `seq` itself; otherwise a binary
        search (seq increases along a ledger)."""
        n = len(self)
        if n == 0 or seq < self._base:
            return None
        if not self.complete:  # only the tail is indexed: look there
            return self._linear_seq(seq)
        if seq < n and self._seq_at(seq) == seq:
            return seq
        lo, hi = 0, n
        while lo < hi:
            mid = (lo + hi) // 2
            s = self._seq_at(mid)
            if s is None:
                return self._linear_seq(seq)
            if s < seq:
                lo = mid + 1
            else:
                hi = mid
        return lo if lo < n and self._seq_at(lo) == seq else None

    def _seq_at(self, i: int) -> int | None:
        try:
            s = self.record(i).get("seq")
        except UnreadableRecord:
            return None
        return s if type(s) is int else None

    def _linear_seq(self, seq: int) -> int | None:
        for i in range(self._base, len(self)):
            if self._seq_at(i) == seq:
                return i
        return None

    # ---- filtering ---------------------------------------------------------------------------------

    def search(
        self,
        flt: LedgerFilter,
        *,
        cancelled: Callable[[], bool] | None = None,
        start: int = 0,
        stop: int | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> array | None:
        """Indices (ascending) of the records in [start, stop) (default: all) that match `flt`.

        Raw bytes are checked first (a substring for each field, the line's tail for type and time) and
        only candidates are parsed. `cancelled` is polled between chunks; if it returns True the search
        gives up and returns None; `progress(done, total)` is called between chunks. Safe to run in a
        worker thread while the UI reads the index.
        """
        if not self.complete:
            raise NotIndexed("the index is still being built: search once it is complete")
        offsets = self._offsets
        file = self._file
        n = len(offsets) - 1 if stop is None else min(stop, len(offsets) - 1)
        out = array("Q")
        if file is None or n <= 0:
            return out
        if flt.is_empty():
            return array("Q", range(max(0, start), n))

        plain: list[bytes] = []  # substrings every match contains
        if flt.actor:
            plain.append(b'"' + _json_fragment(flt.actor) + b'"')
        if flt.status:
            plain.append(b'"status":"' + _json_fragment(flt.status) + b'"')
        if flt.rule:
            plain.append(b'"rule":"' + _json_fragment(flt.rule) + b'"')
        if flt.path:
            run = _literal_run(flt.path)
            plain.append(_json_fragment(run) if len(run) >= 2 else b'"paths":[')
        text_re = re.compile(re.escape(_json_fragment(flt.text)), re.IGNORECASE) if flt.text else None
        types = frozenset(t.encode() for t in flt.types) if flt.types else None
        since = flt.since.encode() if flt.since else None
        until = flt.until.encode() if flt.until else None
        exact = None
        if flt.actor or flt.status or flt.rule or flt.path:
            from forge_tui.core.query import Filters  # the same semantics as `forge-tui log`

            exact = Filters(actor=flt.actor, path=flt.path, status=flt.status, rule=flt.rule).matches

        # One substring is searched over whole chunks of the file (fast, in C); the rest per candidate.
        fold = False
        if text_re is not None:
            primary: bytes | None = _json_fragment(flt.text).lower()
            fold = True
        elif plain:
            primary = max(plain, key=len)
        elif types is not None and len(types) == 1:
            primary = b'"type":"' + next(iter(types)) + b'","v":'
        else:
            primary = None

        for c0 in range(max(0, start), n, _CHUNK_LINES):
            if cancelled is not None and cancelled():
                return None
            if progress is not None:
                progress(c0, n)
            c1 = min(n, c0 + _CHUNK_LINES)
            lo, hi = offsets[c0], offsets[c1]
            try:  # read, not mapped: the chunk never stays resident
                chunk = os.pread(file.fileno(), hi - lo, lo)
            except (OSError, ValueError):  # the index was reopened (file replaced) meanwhile
                return None
            candidates: Iterable[int] = (
                range(c0, c1) if primary is None else _hits(primary, fold, chunk, offsets, lo)
            )
            for i in candidates:
                line = chunk[offsets[i] - lo : offsets[i + 1] - 1 - lo]
                if (types is not None or since or until) and not _tail_ok(line, types, since, until):
                    continue
                if text_re is not None and text_re.search(line) is None:
                    continue
                if not all(p in line for p in plain):
                    continue
                if exact is not None:
                    try:
                        rec = json.loads(line)
                    except (ValueError, UnicodeDecodeError):
                        continue
                    if not isinstance(rec, dict) or not exact(rec):
                        continue
                out.append(i)
        if progress is not None:
            progress(n, n)
        return out


def _index_lines(
    mm: mmap.mmap,
    pos: int,
    n: int,
    offsets: array,
    *,
    step: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> bool:
    """Append to `offsets` the start of the line after each LF in bytes [pos, n) of `mm`, window by
    window, releasing the pages behind; False if `cancelled` said so between windows."""
    append = offsets.append
    find = mm.find
    released = pos - pos % _PAGE
    window = 32 << 20
    while pos < n:
        if step is not None:
            step(pos, n)
        if cancelled is not None and cancelled():
            return False
        wend = min(n, pos + window)
        while True:
            end = find(b"\n", pos, wend)
            if end < 0:
                break
            pos = end + 1
            append(pos)
        if wend >= n:
            break
        if pos <= wend - window // 2:  # a line longer than half a window: look further
            window *= 2
        cut = pos - pos % _PAGE
        if cut > released:
            mm.madvise(mmap.MADV_DONTNEED, released, cut - released)
            released = cut
    if n > released:
        mm.madvise(mmap.MADV_DONTNEED, released, n - released)
    return True


def _hits(needle: bytes, fold: bool, chunk: bytes, offsets: array, start: int) -> Iterator[int]:
    """Indices of the lines in `chunk` (file bytes from offset `start`, whole lines) holding `needle`
    (ASCII case folded with `fold`), each once; the search itself runs at memchr speed."""
    if fold:
        chunk = chunk.lower()
    find = chunk.find
    pos = 0
    size = len(chunk)
    while pos < size:
        hit = find(needle, pos)
        if hit < 0:
            return
        i = bisect_right(offsets, start + hit) - 1
        yield i
        pos = offsets[i + 1] - start


def _tail_ok(line: bytes, types: frozenset[bytes] | None, since: bytes | None, until: bytes | None) -> bool:
    m = _TAIL_RE.search(line, max(0, len(line) - 80))
    if m is None:
        return False
    ts, typ = m.group(1), m.group(2)
    if types is not None and typ not in types:
        return False
    if since is not None and ts < since:
        return False
    return not (until is not None and ts > until)


__all__ = ["LedgerFilter", "LedgerIndex", "NotIndexed", "UnreadableRecord"]
