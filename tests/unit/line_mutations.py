"""Random damage to one ledger line, for the differential tests of verify's quick parsers: each mutation
inserts, deletes or replaces a few bytes with pieces that matter to JSON (quotes, escapes, digits,
brackets, blanks, non-UTF-8)."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

# Bytes that matter to a JSON parser: blanks, digits, signs, quotes, escapes, brackets, separators,
# control and non-UTF-8 bytes, escapes of surrogates, numbers past 2**53, non-JSON numbers, combining
# characters and characters outside the BMP.
JSON_PIECES = [
    b" ",
    b"\r",
    b"\t",
    b"0",
    b"1",
    b"-",
    b".",
    b"e",
    b"E",
    b"+",
    b'"',
    b"\\",
    b"/",
    b"u",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"\x00",
    b"\x7f",
    b"\xc3\xa9",
    b"\xff",
    b"\\u00e9",
    b"\\ud800",
    b"\\u0041",
    b"9007199254740992",
    b"NaN",
    b"Infinity",
    b"1.0",
    b"1e2",
    b"-0",
    b"00",
    b'"a":1,',
    b'"v":1,',
    "e\u0301".encode(),
    "\U0001f600".encode(),
]


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
