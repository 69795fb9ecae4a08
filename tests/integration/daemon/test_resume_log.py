"""The daemon resumes from the saved Merkle range, and says so loudly when it cannot (docs/formats.md
"Resume state"): a missing or damaged range is a line in its log and a full rebuild, never trusted."""

from __future__ import annotations

import io

from gatehelp import SMALL_POLICY

from forge_tui.core.ledger import authoritative_dir
from forge_tui.core.merkle import leaf_hash, root_from_leaves


def _range(project):
    lid = project.local_ledger_id()
    return authoritative_dir(project) / f"{lid}.range", authoritative_dir(project) / f"{lid}.jsonl"


async def test_the_daemon_resumes_and_logs_a_rebuild(make_world, start_daemon):
    w = make_world(SMALL_POLICY)
    rng, auth = _range(w.project)
    log = io.StringIO()
    d = await start_daemon(w, log_file=log)
    assert d.writer.resumed and "rebuilding" not in log.getvalue()
    await d.stop()
    rng.write_bytes(rng.read_bytes()[:-10])  # a torn range file
    log2 = io.StringIO()
    d2 = await start_daemon(w, log_file=log2)
    assert not d2.writer.resumed
    assert "ignored" in log2.getvalue() and "rebuilding the Merkle tree" in log2.getvalue()
    lines = auth.read_bytes().rstrip(b"\n").split(b"\n")
    assert d2.writer.root() == root_from_leaves([leaf_hash(x) for x in lines])
