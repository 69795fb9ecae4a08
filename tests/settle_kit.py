"""Wait for a running daemon's checkpoint and tracked copy after an answer (docs/design.md §4.6).

The daemon answers once the records are durable and signs the checkpoint and updates the tracked copy
just after, so a test that reads those files (verify) right after an answer polls for them first.
"""

from __future__ import annotations

import time


def ledger_settled(project, timeout: float = 60.0) -> bool:
    """True when the signed checkpoint covers every record of this machine's ledger and the tracked
    copy and checkpoint equal the authoritative ones (False at the deadline)."""
    lid = project.local_ledger_id()
    ledger = project.state_dir / "ledger" / f"{lid}.jsonl"
    checkpoint = ledger.with_suffix(".checkpoint")
    tracked = project.tracked_ledger(lid)
    tracked_cp = project.tracked_checkpoint(lid)
    deadline = time.monotonic() + timeout
    while True:
        try:
            data = ledger.read_bytes()
            note = checkpoint.read_bytes()
            size = int(note.split(b"\n")[1])
            if size == data.count(b"\n") and tracked.read_bytes() == data and tracked_cp.read_bytes() == note:
                return True
        except (OSError, IndexError, ValueError):
            pass
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)  # polling a condition with a deadline (the writer thread signs meanwhile)
