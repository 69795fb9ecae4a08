"""Random damage to one ledger line, for the differential tests of verify's quick parsers: each mutation
inserts, deletes or replaces a few bytes with pieces that matter to JSON (quotes, escapes, digits,
brackets, blanks, non-UTF-8)."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence


def mutations(
    rng: random.Random, base: bytes, n: int, pieces: Sequence[bytes], *, edits: int = 2, cut: int = 3
) -> Iterator[bytes]:
    """`n` copies of `base`, each with 1 to `edits` edits (a deletion removes 1 to `cut` bytes)."""
    for _ in range(n):
        line = bytearray(base)
        for _ in range(rng.randint(1, edits)):
            i = rng.randrange(len(line) + 1)
            op = rng.random()
            if op < 0.4:
                line[i:i] = rng.choice(pieces)
            elif op < 0.7 and i < len(line):
                del line[i : i + rng.randint(1, cut)]
            elif i < len(line):
                line[i : i + 1] = rng.choice(pieces)
        yield bytes(line)
