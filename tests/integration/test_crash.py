"""Crash safety of the ledger writer (docs/design.md §4.6): SIGKILL at random points loses no acknowledged record.

A writer subprocess appends batches of notes and prints each record's seq and text once `append` has
returned (the record is durable then). The test reads a random number of those acknowledgements, kills
the writer with SIGKILL wherever it happens to be (writing, syncing, signing the checkpoint, updating
the tracked copy), and starts the next round. Some rounds reopen the ledger in the test first, others
leave the recovery to the next writer. At the end every acknowledged record must be present, unchanged
and in order, and the ledger must verify. Synchronisation is by reading acknowledgements, never sleeps.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys

import pytest

from forge_tui.core.jcs import parse_canonical
from forge_tui.core.ledger import LedgerWriter, authoritative_dir
from forge_tui.core.verify import verify_project

WRITER = r"""
import random, sys
from pathlib import Path
from forge_tui.core.ledger import LedgerWriter
from forge_tui.core.project import load_project_file

root, tag, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = random.Random(seed)
project = load_project_file(Path(root) / ".forge")
w = LedgerWriter.open(project)
i = 0
out = sys.stdout
while True:
    batch = []
    for _ in range(rng.randint(1, 4)):
        batch.append(("note", {"text": f"{tag}-{i}", "pad": "x" * rng.randrange(0, 3000)}))
        i += 1
    done = w.append(batch)
    out.write("".join(f"{a.seq} {a.record['body']['text']}\n" for a in done))
    out.flush()
"""


@pytest.mark.slow
def test_sigkill_at_random_points_loses_no_acknowledged_record(project, tmp_path):
    rng = random.Random(20261125)
    acked: dict[int, str] = {}
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    lid = project.local_ledger_id()
    for rnd in range(12):
        proc = subprocess.Popen(
            [sys.executable, str(script), str(project.root), f"round{rnd}", str(rng.randrange(1 << 30))],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        want = rng.randint(1, 120)
        got = 0
        try:
            while got < want:
                line = proc.stdout.readline()
                assert line, f"writer exited early: {proc.stderr.read()}"
                seq, text = line.split()
                acked[int(seq)] = text
                got += 1
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            rest, _err = proc.communicate()
        for line in rest.split("\n")[:-1]:  # acknowledged before the kill, read after it (whole lines)
            seq, text = line.split()
            acked[int(seq)] = text
        assert proc.returncode == -signal.SIGKILL
        if rnd % 2:
            with LedgerWriter.open(project) as w:  # recovery here; otherwise the next writer does it
                assert w.size > max(acked)
    with LedgerWriter.open(project) as w:
        size = w.size
    lines = (authoritative_dir(project) / f"{lid}.jsonl").read_bytes().split(b"\n")
    assert lines[-1] == b""
    records = [parse_canonical(line) for line in lines[:-1]]
    assert len(records) == size
    assert [r["seq"] for r in records] == list(range(size))
    for seq, text in acked.items():
        assert records[seq]["type"] == "note" and records[seq]["body"]["text"] == text, seq
    assert len(acked) >= 8
    assert project.tracked_ledger(lid).read_bytes() == b"\n".join(lines)
    report = verify_project(project, update_seen=False)
    assert report.exit_code() == 0, [f.line() for f in report.findings]
    assert report.ledgers[0].records == size
    assert report.ledgers[0].checkpoint_size == size
