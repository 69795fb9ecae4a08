"""Truncation at every byte of the last record (docs/design.md §4.6).

A crash after the records of a batch are written but before its checkpoint is signed can leave any
prefix of the last line on disk. Opening the writer must keep every earlier record byte-exact, set the
torn bytes aside, append a `recovery` record naming them, and leave a ledger that verifies.

When the checkpoint already covered the last record, the same truncation is a loss: opening refuses
(LedgerLoss) and changes nothing.
"""

from __future__ import annotations

import hashlib
import os
import shutil

import pytest

from forge_tui.core.jcs import parse_canonical
from forge_tui.core.ledger import LedgerWriter, authoritative_dir
from forge_tui.core.verify import verify_project
from forge_tui.errors import LedgerLoss


class Crashed:
    """A ledger whose last batch (one note) was written but whose checkpoint was not."""

    def __init__(self, project, signed_last: bool):
        self.project = project
        self.lid = project.local_ledger_id()
        folder = authoritative_dir(project)
        self.auth = folder / f"{self.lid}.jsonl"
        self.auth_cp = folder / f"{self.lid}.checkpoint"
        self.tracked = project.tracked_ledger(self.lid)
        self.tracked_cp = project.tracked_checkpoint(self.lid)
        with LedgerWriter.open(project) as w:
            w.append([("note", {"text": "first"})])
            w.append([("request", _request()), ("decision", _decision)])
        before = {p: p.read_bytes() for p in (self.auth_cp, self.tracked, self.tracked_cp)}
        with LedgerWriter.open(project) as w:
            w.append([("note", {"text": "the last record, torn at every byte", "author": "crash"})])
        self.full = self.auth.read_bytes()
        if signed_last:
            self.files = {p: p.read_bytes() for p in (self.auth_cp, self.tracked, self.tracked_cp)}
        else:
            self.files = before  # the checkpoints (and the tracked copy) predate the last batch
        self.start = self.full.rstrip(b"\n").rfind(b"\n") + 1  # offset of the last line
        self.earlier = self.full[: self.start].split(b"\n")[:-1]

    def restore(self, cut: int) -> None:
        self.auth.write_bytes(self.full[:cut])
        for p, data in self.files.items():
            p.write_bytes(data)
        for p in self.auth.parent.glob(f"{self.lid}.torn-*"):
            p.unlink()


def _request():
    return {
        "request_id": "r-1",
        "actor": {"id": "agent", "kind": "agent", "session": "s"},
        "action": {"kind": "shell.exec", "command": "make"},
        "client": "cli",
    }


def _decision(done):
    return {
        "request_id": "r-1",
        "request_hash": done[0].leaf,
        "status": "denied",
        "decided_by": "fallback",
        "rule": "none",
        "reason": "test",
        "policy_digest": None,
    }


@pytest.fixture
def crashed(project, monkeypatch):
    """The conftest project; its private data lives in the per-test XDG data folder.

    The crash is simulated by cutting files, not by losing power, so durability is not what these
    tests check: fsync and fdatasync are no-ops here, or the hundreds of reopenings would take seconds
    of disk flushes."""
    monkeypatch.setattr(os, "fsync", lambda fd: None)
    monkeypatch.setattr(os, "fdatasync", lambda fd: None)
    return lambda signed_last=False: Crashed(project, signed_last)


def _verify_clean(project):
    report = verify_project(project, use_local_state=True, update_seen=False, workers=1)
    assert report.findings == [], [f.line() for f in report.findings]
    return report


@pytest.mark.slow
@pytest.mark.parametrize("parity", [0, 1])
def test_truncation_at_every_byte_of_the_last_record_recovers(crashed, parity):
    """Every cut from the start of the last line to its LF; even and odd cuts in two runs (for -n)."""
    c = crashed()
    line_len = len(c.full) - c.start - 1
    assert line_len > 100
    for cut in range(c.start + parity, len(c.full) + 1, 2):
        c.restore(cut)
        torn = c.full[c.start : cut] if cut <= c.start + line_len else b""
        with LedgerWriter.open(c.project) as w:
            n = w.size
            if cut == len(c.full):
                assert w.recovered is None and n == len(c.earlier) + 1  # whole line: nothing torn
            elif not torn:
                assert w.recovered is None and n == len(c.earlier)
            else:
                assert w.recovered is not None and n == len(c.earlier) + 1
            if cut % 8 < 2:  # the next append works too (not every time: file renames are slow here)
                appended = w.append([("note", {"text": "after recovery"})])[0]
                assert appended.seq == n
        data = c.auth.read_bytes()
        lines = data.split(b"\n")[:-1]
        assert lines[: len(c.earlier)] == c.earlier, f"cut {cut}: an earlier record changed"
        if torn:
            rec = parse_canonical(lines[len(c.earlier)])
            assert rec["type"] == "recovery", cut
            body = rec["body"]
            assert body["torn_bytes"] == len(torn)
            assert body["torn_sha256"] == hashlib.sha256(torn).hexdigest()
            assert body["at_offset"] == c.start
            assert (c.auth.parent / body["saved_as"]).read_bytes() == torn
        else:
            assert b'"type":"recovery"' not in data
        assert c.tracked.read_bytes() == data, f"cut {cut}: the tracked copy differs"
        report = _verify_clean(c.project)
        assert report.ledgers[0].records == len(lines)
        assert report.ledgers[0].checkpoint_size == len(lines)


def test_truncating_a_signed_record_is_loss_and_nothing_is_changed(crashed):
    c = crashed(signed_last=True)
    for cut in range(c.start, len(c.full), 7):
        c.restore(cut)
        with pytest.raises(LedgerLoss):
            LedgerWriter.open(c.project)
        assert c.auth.read_bytes() == c.full[:cut]
        assert not list(c.auth.parent.glob(f"{c.lid}.torn-*"))
        for p, data in c.files.items():
            assert p.read_bytes() == data
    c.restore(len(c.full))
    with LedgerWriter.open(c.project) as w:
        assert w.recovered is None and w.size == len(c.earlier) + 1
    _verify_clean(c.project)


def test_missing_private_copy_is_adopted_from_the_tracked_copy(crashed):
    """A new data folder: the tracked copy becomes the authoritative one, unchanged."""
    c = crashed(signed_last=True)
    c.restore(len(c.full))
    shutil.copyfile(c.auth, c.auth.with_suffix(".bak"))
    c.auth.unlink()
    c.auth_cp.unlink()
    with LedgerWriter.open(c.project) as w:
        assert w.size == len(c.earlier) + 1
    assert c.auth.read_bytes() == c.full
    _verify_clean(c.project)
