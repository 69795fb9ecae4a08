"""Reading a ledger file from its end: the newest complete lines first, in blocks.

`log --tail N` and the daemon's `ledger.query` need the last few matching records; reading from the end
makes that cost proportional to what is shown, not to the ledger's size. A trailing partial line (a torn
tail) is never yielded, like `core.ledger.iter_lines`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

BLOCK = 1 << 20


def iter_lines_reversed(path: Path, *, block: int = BLOCK) -> Iterator[tuple[int, bytes]]:
    """(offset, line without LF) for each complete line of `path`, last line first."""
    with open(path, "rb") as fh:
        end = fh.seek(0, os.SEEK_END)
        if end == 0:
            return
        # Ignore a partial last line: everything after the final LF is not a record yet.
        pos = end
        while pos > 0:
            start = max(0, pos - block)
            fh.seek(start)
            chunk = fh.read(pos - start)
            nl = chunk.rfind(b"\n")
            if nl >= 0:
                end = start + nl + 1
                break
            pos = start
        else:
            return
        carry = b""
        pos = end
        while pos > 0:
            start = max(0, pos - block)
            fh.seek(start)
            data = fh.read(pos - start) + carry
            # data ends with LF (or is empty); its first line may continue in the block before.
            lines = data.split(b"\n")
            lines.pop()  # the empty piece after the last LF
            first = 0 if start == 0 else 1
            off = start + len(data)
            for line in reversed(lines[first:]):
                off -= len(line) + 1
                yield off, line
            carry = (lines[0] + b"\n") if start > 0 and lines else b""
            pos = start
