"""Reading a ledger file that a running daemon may be appending to at this moment.

A daemon appends a batch of records with one write(2), but a reader racing that write can see a prefix of
it: the kernel copies a write into the file page by page and the file grows page by page, so a read that
lands in between ends inside a record. The piece after the last newline is a record still being written,
not a record (the ledger's own readers treat a torn tail the same way; `forge-tui verify` reports one).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def complete_lines(path: Path) -> list[bytes]:
    """The non-empty lines of `path` that end in a newline."""
    return [line for line in path.read_bytes().split(b"\n")[:-1] if line]


def complete_records(path: Path) -> list[dict[str, Any]]:
    """The records of the complete lines of `path`, in order."""
    return [json.loads(line) for line in complete_lines(path)]
