"""Tampering anywhere in a ledger fails verify, full and --fast, with the finding that names it, wherever
the damaged line falls among the worker processes' byte ranges (forge_tui.core.verify_ranges) and the
parts each worker reads at a time (verify_chunk.PART_BYTES): the first, a middle and the last line of
every range, so every boundary between two workers and between two parts is crossed.

--fast reads no record (docs/design.md §5: chain, seq and signed checkpoint): it must still fail on
each of these, through the `prev` of the line after the damaged one, or the checkpoint's root when the
damaged line is the last. Any shortcut in the workers that accepted a line the line-by-line reference
rejects, or lost a finding at a boundary, fails here.
"""

from __future__ import annotations

import base64
import json

import pytest

from forge_tui.core import verify as V
from forge_tui.core import verify_chunk as C
from forge_tui.core import verify_ranges as R
from forge_tui.core.keys import load_ledger_key
from forge_tui.core.ledger import LedgerWriter
from forge_tui.core.merkle import CompactTree, leaf_hash
from forge_tui.core.note import Checkpoint
from forge_tui.core.records import build_record, format_ts

TS0 = 1_830_000_000_000
RECORDS = 40  # notes after the genesis record


@pytest.fixture
def ledger(project, monkeypatch):
    """(path, intact lines) of a ledger of notes, with ranges of about 5 lines (the last ones fewer)
    and parts of about 2 (both workers take part, and --fast uses them too)."""
    with LedgerWriter.open(project, clock=lambda: TS0) as w:
        for i in range(RECORDS):
            w.append([("note", {"text": f"note {i:03d}", "n": i})])
    path = project.tracked_ledger(project.ledger_ids()[0])
    data = path.read_bytes()
    lines = data.split(b"\n")[:-1]
    width = len(data) // len(lines)
    monkeypatch.setattr(R, "CHUNK_BYTES", 5 * width)
    monkeypatch.setattr(R, "TAIL_BYTES", 2 * width)  # the last ranges shrink to about 2 lines
    monkeypatch.setattr(R, "FAST_POOL_BYTES", 0)
    monkeypatch.setattr(C, "PART_BYTES", 2 * width)
    return path, lines


def _positions(lines: list[bytes]) -> list[int]:
    """The first, a middle and the last line of each range verify will hand out."""
    data = b"\n".join(lines) + b"\n"
    starts = [data.count(b"\n", 0, a) for a, _b in R.byte_bounds(data, len(data), 8)]
    ends = starts[1:] + [len(lines)]
    assert len(starts) >= 4, "the ledger must span several ranges"
    out = set()
    for a, b in zip(starts, ends, strict=True):
        out |= {a, (a + b) // 2, b - 1}
    return sorted(out - {0})  # the genesis record has tests of its own


def _verify(project, fast: bool, workers: int = 2) -> tuple[int, set[tuple[str, int | None]]]:
    rep = V.verify_project(project, fast=fast, workers=workers, use_local_state=False, update_seen=False)
    return rep.exit_code(), {(f.code.value, f.seq) for f in rep.findings}


def _next_link(i: int, n: int) -> tuple[str, int | None]:
    """What --fast must see when line i changed: the next line's `prev`, or the root at the end."""
    return ("chain", i + 1) if i + 1 < n else ("root_mismatch", None)


def _rec(line: bytes) -> dict:
    return json.loads(line)


def _sig_flip(line: bytes) -> bytes:
    rec = _rec(line)
    raw = bytearray(base64.b64decode(rec["sig"]))
    raw[10] ^= 0x01
    return line.replace(rec["sig"].encode(), base64.b64encode(bytes(raw)))


def _body_flip(line: bytes) -> bytes:
    return line.replace(b'"text":"note ', b'"text":"Note ', 1)


def _prev_flip(line: bytes) -> bytes:
    k = line.rindex(b'"prev":"') + 8
    c = b"0" if line[k : k + 1] != b"0" else b"1"
    return line[:k] + c + line[k + 1 :]


def _wrong_shape(line: bytes) -> bytes:
    rec = _rec(line)
    del rec["kid"]  # valid canonical JSON, `prev` and `seq` where they belong, no key id
    return json.dumps(rec, sort_keys=True, separators=(",", ":")).encode()


def _duplicate_key(line: bytes) -> bytes:
    return b'{"body":{},' + line[1:]


def _not_canonical(line: bytes) -> bytes:
    return line.replace(b'"kid":"', b'"kid": "', 1)


# (name, change, the full verify's finding at the changed line)
EDITS = [
    ("signature byte", _sig_flip, "signature"),
    ("body byte", _body_flip, "signature"),
    ("prev hash", _prev_flip, "chain"),
    ("valid JSON, wrong shape", _wrong_shape, "malformed"),
    ("duplicate key", _duplicate_key, "malformed"),
    ("not canonical", _not_canonical, "malformed"),
]


@pytest.mark.parametrize(("name", "change", "code"), EDITS, ids=[e[0] for e in EDITS])
def test_an_edited_line_fails_both_at_every_range_position(project, ledger, name, change, code):
    path, lines = ledger
    n = len(lines)
    for i in _positions(lines):
        bad = list(lines)
        bad[i] = change(lines[i])
        assert bad[i] != lines[i] and b"\n" not in bad[i], name
        path.write_bytes(b"\n".join(bad) + b"\n")
        exit_full, full = _verify(project, fast=False)
        exit_fast, fast = _verify(project, fast=True)
        assert exit_full == exit_fast == 1, (name, i, full, fast)
        assert (code, i) in full, (name, i, full)
        assert _next_link(i, n) in full, (name, i, full)
        # The checkpoint's root covers every line, so it no longer matches either.
        want_fast = {_next_link(i, n), ("root_mismatch", None)} | (
            {("chain", i)} if code == "chain" else set()
        )
        assert fast == want_fast, (name, i, fast)  # and nothing blamed elsewhere


def test_reordered_lines_fail_both_at_every_range_position(project, ledger):
    path, lines = ledger
    for i in _positions(lines):
        if i + 1 >= len(lines):
            continue
        bad = list(lines)
        bad[i], bad[i + 1] = bad[i + 1], bad[i]  # across a range boundary when i ends a range
        path.write_bytes(b"\n".join(bad) + b"\n")
        for fast in (False, True):
            exit_code, found = _verify(project, fast=fast)
            assert exit_code == 1
            assert {("chain", i), ("seq", i), ("seq", i + 1)} <= found, (i, fast, found)


def test_a_deleted_line_fails_both_at_every_range_position(project, ledger):
    path, lines = ledger
    for i in _positions(lines):
        bad = lines[:i] + lines[i + 1 :]
        path.write_bytes(b"\n".join(bad) + b"\n")
        for fast in (False, True):
            exit_code, found = _verify(project, fast=fast)
            assert exit_code == 1
            if i < len(bad):
                assert {("chain", i), ("seq", i)} <= found, (i, fast, found)
            else:  # the last line: the checkpoint covers more records than are left
                assert ("truncated", len(bad)) in found, (i, fast, found)


def test_a_truncated_ledger_fails_both(project, ledger):
    path, lines = ledger
    for keep in (len(lines) - 1, len(lines) - 7, len(lines) // 2):
        path.write_bytes(b"\n".join(lines[:keep]) + b"\n")
        for fast in (False, True):
            exit_code, found = _verify(project, fast=fast)
            assert exit_code == 1
            assert ("truncated", keep) in found, (keep, fast, found)


def test_the_intact_ledger_passes_both_and_ranges_do_not_change_the_report(project, ledger):
    """The same ledger, intact and edited, gives the same report with two workers as with one (the
    ranges and parts then fall elsewhere)."""
    path, lines = ledger
    path.write_bytes(b"\n".join(lines) + b"\n")
    assert _verify(project, fast=False) == _verify(project, fast=True) == (0, set())
    bad = list(lines)
    for i, (_name, change, _code) in zip(_positions(lines), EDITS * 9, strict=False):
        bad[i] = change(lines[i])
    path.write_bytes(b"\n".join(bad) + b"\n")
    for fast in (False, True):
        assert _verify(project, fast=fast) == _verify(project, fast=fast, workers=1)


def _signed_ledger(project, stamps: list[int]) -> bytes:
    """Replace the ledger with genesis + one note per stamp (its time in ms), signed by the ledger key,
    with a checkpoint over all of it (the writer itself never lets time run backwards)."""
    lid = project.local_ledger_id()
    signer = load_ledger_key(lid)
    tracked = project.tracked_ledger(lid)
    lines, prev, tree = [tracked.read_bytes().split(b"\n")[0]], None, CompactTree()
    for i, ts in enumerate(stamps, 1):
        prev = leaf_hash(lines[-1]).hex()
        _, line = build_record(
            log=project.origin(lid),
            seq=i,
            ts=format_ts(ts),
            type_="note",
            prev=prev,
            signer=signer,
            body={"text": f"note {i:03d}"},
        )
        lines.append(line)
    for line in lines:
        tree.append(leaf_hash(line))
    data = b"\n".join(lines) + b"\n"
    tracked.write_bytes(data)
    project.tracked_checkpoint(lid).write_text(
        Checkpoint(project.origin(lid), tree.size, tree.root()).sign([signer])
    )
    return data


def test_time_running_backwards_is_found_at_every_range_and_part_boundary(project, monkeypatch):
    """Each worker carries the last timestamp from one part to the next, and the parent from one
    range to the next: a step back in time is reported at the record that takes it, wherever it is."""
    back = {5, 9, 19, 23, 30, RECORDS}  # records whose time is earlier than the one before
    stamps = [TS0 + 1000 * i - (5000 if i in back else 0) for i in range(1, RECORDS + 1)]
    data = _signed_ledger(project, stamps)
    width = len(data) // data.count(b"\n")
    monkeypatch.setattr(R, "FAST_POOL_BYTES", 0)
    for chunk, part in ((5, 2), (3, 1), (7, 3), (1000, 1000)):
        monkeypatch.setattr(R, "CHUNK_BYTES", chunk * width)
        monkeypatch.setattr(C, "PART_BYTES", part * width)
        exit_code, found = _verify(project, fast=False)
        assert exit_code == 1
        assert sorted(seq for code, seq in found if code == "time_backwards") == sorted(back), (chunk, part)
