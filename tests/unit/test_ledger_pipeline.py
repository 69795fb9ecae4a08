"""The writer's two stages (the daemon signs batch N+1 while batch N is written and fdatasync'ed):
`prepare` chains onto the last prepared batch, `commit` writes only onto exactly the records a batch was
chained to, and a batch prepared on top of one whose write failed is never written."""

from __future__ import annotations

import os

import pytest

from forge_tui.core.jcs import parse_canonical
from forge_tui.core.ledger import LedgerWriter, StaleBatch, authoritative_dir
from forge_tui.core.verify import verify_project
from forge_tui.errors import LedgerError


def _ledger_lines(project) -> list[dict]:
    path = authoritative_dir(project) / f"{project.local_ledger_id()}.jsonl"
    return [parse_canonical(x) for x in path.read_bytes().splitlines()]


def _verifies(project) -> None:
    report = verify_project(project, workers=1)
    assert report.exit_code() == 0, [f.line() for f in report.findings]


def test_a_batch_prepared_before_the_previous_is_durable_chains_onto_it(project):
    with LedgerWriter.open(project) as w:
        size = w.size
        first = w.prepare([("note", {"text": "a"}), ("note", {"text": "b"})])
        second = w.prepare([("note", {"text": "c"})])
        assert w.size == size, "prepare wrote something"
        assert second.base == first.base + 2 and second.prev_in == first.prev_out
        w.commit(first, checkpoint=False)
        w.commit(second)
        assert w.size == w.signed_size == size + 3
        third = w.append([("note", {"text": "d"})])  # the plain path continues the same chain
        assert third[0].seq == size + 3
    texts = [r["body"].get("text") for r in _ledger_lines(project)]
    assert texts[-4:] == ["a", "b", "c", "d"]
    _verifies(project)


def test_a_batch_prepared_on_a_failed_write_is_never_written(project):
    with LedgerWriter.open(project) as w:
        size = w.size
        first = w.prepare([("note", {"text": "lost"})])
        second = w.prepare([("note", {"text": "built on the lost one"})])

        def fail(fd):
            raise OSError(5, "Input/output error")

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(os, "fdatasync", fail)
            with pytest.raises(LedgerError, match="write failed"):
                w.commit(first)
        with pytest.raises(StaleBatch):
            w.commit(second)
        assert w.size == size
        assert w.heal()  # the fault clears once fdatasync works again
        again = w.append([("note", {"text": "after"})])  # chained onto the durable head again
        assert again[0].seq == size
    texts = [r["body"].get("text") for r in _ledger_lines(project)]
    assert "lost" not in texts and "built on the lost one" not in texts and texts[-1] == "after"
    _verifies(project)


def test_batches_are_written_only_in_the_order_they_were_prepared(project):
    with LedgerWriter.open(project) as w:
        first = w.prepare([("note", {"text": "1"})])
        second = w.prepare([("note", {"text": "2"})])
        with pytest.raises(StaleBatch):
            w.commit(second)  # its predecessor is not durable yet
        w.commit(first)
        w.commit(second)
    _verifies(project)
