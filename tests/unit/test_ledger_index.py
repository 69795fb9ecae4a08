"""LedgerIndex: line offsets, incremental refresh, torn tails, and filters that agree with `forge-tui log`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from forge_tui.core.ledger import LedgerWriter
from forge_tui.core.ledger_index import LedgerFilter, LedgerIndex, NotIndexed, UnreadableRecord
from forge_tui.core.note import Signer
from forge_tui.core.project import Project
from forge_tui.core.query import Filters, normalise_time


def line(seq: int, type_: str = "note", ts: str = "2026-11-23T20:12:19.123Z", **body) -> bytes:
    rec = {"body": body or {"text": f"n{seq}"}, "seq": seq, "ts": ts, "type": type_, "v": 1}
    return json.dumps(rec, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def test_offsets_and_raw(tmp_path):
    # Wrong if a line's bytes were cut at the wrong offset or the LF were kept.
    lines = [line(i) for i in range(5)] + [line(5, text="ünïcode \u202e")]
    p = tmp_path / "l.jsonl"
    p.write_bytes(b"".join(lines))
    ix = LedgerIndex(p)
    assert len(ix) == 6
    for i, ln in enumerate(lines):
        assert ix.raw(i) == ln[:-1]
        assert ix.record(i)["seq"] == i
    assert ix.raw(-1) == lines[-1][:-1]
    assert ix.indexed_bytes == p.stat().st_size
    with pytest.raises(IndexError):
        ix.raw(6)


def test_refresh_after_append_and_torn_last_line(tmp_path):
    # Wrong if appended lines were missed, a torn (LF-less) tail were shown as a record, or the tail
    # were lost once its LF arrived.
    p = tmp_path / "l.jsonl"
    p.write_bytes(line(0) + line(1))
    ix = LedgerIndex(p)
    assert ix.refresh() == 0
    whole = line(2)
    with open(p, "ab") as fh:
        fh.write(whole[:10])
    assert ix.refresh() == 0 and len(ix) == 2
    with open(p, "ab") as fh:
        fh.write(whole[10:] + line(3) + line(4)[:-1])
    assert ix.refresh() == 2 and len(ix) == 4
    assert ix.record(3)["seq"] == 3
    with open(p, "ab") as fh:
        fh.write(b"\n")
    assert ix.refresh() == 1 and ix.record(4)["seq"] == 4


def test_torn_tail_on_open(tmp_path):
    p = tmp_path / "l.jsonl"
    p.write_bytes(line(0) + line(1)[:-5])
    ix = LedgerIndex(p)
    assert len(ix) == 1
    assert list(ix.search(LedgerFilter(text="n1"))) == []


def test_replaced_or_shrunk_file_starts_over(tmp_path):
    # Wrong if the index kept offsets of a file that was replaced (another inode) or truncated.
    p = tmp_path / "l.jsonl"
    p.write_bytes(line(0) + line(1) + line(2))
    ix = LedgerIndex(p)
    tmp = tmp_path / "new"
    tmp.write_bytes(line(0, text="replaced"))
    os.replace(tmp, p)
    assert ix.refresh() == 1 and ix.generation == 1
    assert ix.record(0)["body"]["text"] == "replaced"
    with open(p, "r+b") as fh:
        fh.truncate(0)
    assert ix.refresh() == 0 and len(ix) == 0 and ix.generation == 2


@pytest.mark.parametrize("content", [None, b""])
def test_empty_or_missing_ledger(tmp_path, content):
    p = tmp_path / "l.jsonl"
    if content is not None:
        p.write_bytes(content)
    ix = LedgerIndex(p)
    assert len(ix) == 0
    assert ix.find_seq(0) is None
    assert list(ix.search(LedgerFilter(types=frozenset({"note"})))) == []
    assert list(ix.search(LedgerFilter())) == []
    p.write_bytes(line(0))
    assert ix.refresh() == 1 and ix.record(0)["seq"] == 0


def test_unreadable_line(tmp_path):
    p = tmp_path / "l.jsonl"
    p.write_bytes(line(0) + b"{not json\n" + b"[1]\n" + line(3))
    ix = LedgerIndex(p)
    assert len(ix) == 4
    for i in (1, 2):
        with pytest.raises(UnreadableRecord):
            ix.record(i)
    assert ix.find_seq(3) == 3
    assert list(ix.search(LedgerFilter(types=frozenset({"note"})))) == [0, 3]


def test_find_seq_when_lines_and_seq_differ(tmp_path):
    # A ledger whose seqs do not start at 0 (e.g. a shown excerpt): found by binary search.
    p = tmp_path / "l.jsonl"
    p.write_bytes(b"".join(line(s) for s in range(100, 140)))
    ix = LedgerIndex(p)
    assert ix.find_seq(117) == 17
    assert ix.find_seq(99) is None and ix.find_seq(140) is None


def test_cancelled_search_returns_none(tmp_path):
    p = tmp_path / "l.jsonl"
    p.write_bytes(b"".join(line(i) for i in range(10)))
    ix = LedgerIndex(p)
    assert ix.search(LedgerFilter(text="n"), cancelled=lambda: True) is None


def test_core_module_is_headless():
    # Wrong if the index pulled in textual or rich (the core must stay importable without a UI).
    code = (
        "import sys, forge_tui.core.ledger_index as m\n"
        "bad = [k for k in sys.modules if k.split('.')[0] in ('textual', 'rich')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---- filters over a real signed ledger ---------------------------------------------------------------


@pytest.fixture(scope="module")
def signed(tmp_path_factory) -> Path:
    """A writer-made ledger with every filterable field varied (fixed clock, fixed key)."""
    base = tmp_path_factory.mktemp("ix")
    mp = pytest.MonkeyPatch()
    mp.setenv("FORGE_DATA_DIR", str(base / "data"))
    try:
        project = Project(root=base, project_id="00000000-0000-4000-8000-000000000001", name="t")
        project.ledger_dir.mkdir(parents=True)
        lid = "00000000000000aa"
        clock = iter(range(1_795_000_000_000, 1_795_000_000_000 + 10**9, 3_600_000))
        w = LedgerWriter.create(
            project, lid, Signer(project.origin(lid), bytes(32)), clock=lambda: next(clock)
        )
        actors = ["claude", "codex", 'we"ird [b]x[/b]']
        paths = [["src/auth/login.py"], ["docs/readme.md"], ["src/auth/deep/x.py", "b.py"], []]
        for i in range(40):
            rid = f"r-{i}"
            req = {
                "request_id": rid,
                "actor": {"id": actors[i % 3], "kind": "agent", "session": "s"},
                "action": {
                    "kind": "file.write",
                    "tool": "Edit",
                    "paths": paths[i % 4],
                    "summary": f"Edit {i}",
                },
                "client": "hook",
            }
            status = ["allowed", "denied", "pending"][i % 3]
            dec = {
                "request_id": rid,
                "request_hash": "0" * 64,
                "status": status,
                "decided_by": "policy",
                "rule": ["tests", "protect-auth", "no-force-push", "tests-extra"][i % 4],
                "reason": f"reason {i} Mixed CASE",
                "policy_digest": "0" * 64,
            }
            w.append([("request", req), ("decision", dec)])
            if i % 5 == 0:
                w.append([("note", {"text": f'say "hi" \\ {i}', "author": actors[(i + 1) % 3]})])
        w.close()
        return project.tracked_ledger(lid)
    finally:
        mp.undo()


def brute(path: Path, flt: LedgerFilter) -> list[int]:
    f = Filters(
        since=flt.since,
        until=flt.until,
        types=flt.types,
        actor=flt.actor,
        path=flt.path,
        status=flt.status,
        rule=flt.rule,
    )
    out = []
    for i, raw in enumerate(path.read_bytes().splitlines()):
        rec = json.loads(raw)
        if not f.matches(rec):
            continue
        if flt.text and json.dumps(flt.text, ensure_ascii=False)[1:-1].lower() not in raw.decode().lower():
            continue
        out.append(i)
    return out


FILTERS = {
    "type": LedgerFilter(types=frozenset({"decision"})),
    "two types": LedgerFilter(types=frozenset({"note", "genesis"})),
    "actor": LedgerFilter(actor="codex"),
    "odd actor": LedgerFilter(actor='we"ird [b]x[/b]'),
    "actor+type": LedgerFilter(actor="codex", types=frozenset({"note"})),
    "status": LedgerFilter(status="denied"),
    "rule": LedgerFilter(rule="tests"),
    "path glob": LedgerFilter(path="src/auth/**"),
    "path star": LedgerFilter(path="**/b.py"),
    "since": LedgerFilter(since=normalise_time("2026-11-19")),
    "until": LedgerFilter(until=normalise_time("2026-11-19T06", end=True)),
    "range+type": LedgerFilter(
        since=normalise_time("2026-11-19"),
        until=normalise_time("2026-11-20", end=True),
        types=frozenset({"request"}),
    ),
    "text any case": LedgerFilter(text="mixed case"),
    "text with quotes": LedgerFilter(text='say "hi" \\ 1'),
    "text+status": LedgerFilter(text="reason 1", status="denied"),
    "nothing": LedgerFilter(text="no such thing anywhere"),
}


@pytest.mark.parametrize("name", list(FILTERS))
def test_filters_agree_with_log_semantics(signed, name):
    # Wrong if the byte prefilter dropped a record `forge-tui log` would show, or kept one it would not.
    flt = FILTERS[name]
    want = brute(signed, flt)
    ix = LedgerIndex(signed)
    got = list(ix.search(flt))
    assert got == want
    if name != "nothing":
        assert 0 < len(want) < len(ix), "the fixture should hold matches and non-matches"
    # Restricted to a range of lines, the same answer cut to that range.
    assert list(ix.search(flt, start=20, stop=60)) == [i for i in want if 20 <= i < 60]


# ---- tail first (browse paints the newest records, then indexes the rest) -----------------------------


def test_a_tail_index_completes_to_the_full_index(tmp_path):
    # Wrong if the tail were placed at the wrong line numbers, records appended meanwhile were lost, or
    # the joined index differed from one built from the start.
    p = tmp_path / "l.jsonl"
    p.write_bytes(b"".join(line(i) for i in range(500)))
    ix = LedgerIndex(p, tail_bytes=2000)
    assert not ix.complete and len(ix) == 500
    first = ix.first_indexed
    assert 400 < first < 500 and ix.record(first)["seq"] == first and ix.record(-1)["seq"] == 499
    with pytest.raises(NotIndexed):
        ix.raw(first - 1)
    assert ix.find_seq(499) == 499 and ix.find_seq(3) is None
    with pytest.raises(NotIndexed):
        ix.search(LedgerFilter(types=frozenset({"note"})))
    steps: list[tuple[int, int]] = []
    built = ix.build_prefix(step=lambda done, total: steps.append((done, total)))
    with open(p, "ab") as fh:  # appended while the rest was being indexed
        fh.write(line(500))
    assert ix.refresh() == 1
    assert ix.complete_with(built) is True
    assert steps[0][0] == 0 and steps[-1][0] == steps[-1][1]
    full = LedgerIndex(p)
    assert ix.complete and len(ix) == len(full) == 501
    assert [ix.raw(i) for i in range(501)] == [full.raw(i) for i in range(501)]
    assert ix.find_seq(3) == 3


def test_a_wrong_estimate_or_a_replaced_file_is_said(tmp_path):
    # Wrong if line numbers guessed from seq (here they do not start at 0) were kept silently, or a
    # prefix built over a file since replaced were joined to the new one.
    p = tmp_path / "l.jsonl"
    p.write_bytes(b"".join(line(i + 7) for i in range(300)))
    ix = LedgerIndex(p, tail_bytes=1500)
    gen = ix.generation
    assert ix.complete_with(ix.build_prefix()) is False
    assert ix.generation == gen + 1 and ix.complete and ix.record(0)["seq"] == 7
    q = tmp_path / "m.jsonl"
    q.write_bytes(b"".join(line(i) for i in range(300)))
    iy = LedgerIndex(q, tail_bytes=1500)
    built = iy.build_prefix()
    os.replace(p, q)  # another file at the path
    iy.refresh()
    assert iy.complete_with(built) is None
