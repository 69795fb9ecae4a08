"""`verify --fast` checks the hash chain of a whole part of a range at once (verify_chunk._chain_holds)
and words findings line by line only where that fails (verify_chunk._chain_findings). Both are
compared here with a plain reference written from the rule itself (docs/design.md §5: each line's
last `"prev":"` names the hex leaf hash of the line before, its `"seq":` the line's position), on
synthetic chains at every kind of position (below a thousand, across thousands, past a million),
after random single-byte damage, with decoy `"prev":"` text in the body, and through check_chunk
with parts smaller and larger than a line. A disagreement would let a broken chain pass, or blame
the wrong line."""

from __future__ import annotations

import hashlib
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forge_tui.core import verify_chunk as C
from forge_tui.core.merkle import root_from_leaves
from forge_tui.core.records import ZERO_HASH

SIG = "A" * 86 + "=="


def _leaf_hex(line: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + line).hexdigest().encode()


def _line(seq: int, prev: bytes, body: str = '{"n":1}', kind: str = "note") -> bytes:
    return (
        f'{{"body":{body},"kid":"k","log":"l","prev":"{prev.decode()}","seq":{seq},'
        f'"sig":"{SIG}","ts":"2026-12-01T00:00:00.000Z","type":"{kind}","v":1}}'
    ).encode()


def _chain(first: int, count: int, prev: bytes, rng: random.Random) -> list[bytes]:
    """`count` chained lines from position `first`; some bodies hold decoy prev/seq text."""
    decoys = [
        '{"n":1}',
        '{"x":"\\"prev\\":\\"' + "0" * 64 + '\\",\\"seq\\":1,"}',
        '{"prev":"' + "ab" * 32 + '","seq":5}',
        '{"a":"' + "x" * rng.randrange(1, 900) + '"}',
    ]
    lines = []
    for i in range(count):
        line = _line(first + i, prev, rng.choice(decoys))
        lines.append(line)
        prev = _leaf_hex(line)
    return lines


def _reference(lines: list[bytes], first: int, prev: bytes) -> list[tuple[int, str]]:
    """(position, code) of every chain finding, one line at a time, from the rule."""
    out = []
    for i, line in enumerate(lines):
        seq = first + i
        k = line.rfind(b'"prev":"')
        if k < 0 or line[k + 8 : k + 72] != prev:
            out.append((seq, "chain"))
        if k >= 0:
            rest = line[k + 72 :]
            said = rest[8 : rest.find(b",", 8)] if rest.startswith(b'","seq":') and b"," in rest[8:] else None
            if said != str(seq).encode():
                out.append((seq, "seq"))
        prev = _leaf_hex(line)
    return out


def _leaves(lines: list[bytes]) -> bytes:
    return b"".join(hashlib.sha256(b"\x00" + x).digest() for x in lines)


def _agree(lines: list[bytes], first: int, prev: bytes) -> bool:
    ref = _reference(lines, first, prev)
    leaves = _leaves(lines)
    words = [(s, str(c)) for s, c, _m in C._chain_findings(lines, leaves, first, prev)]
    assert words == ref, (first, ref, words)
    holds = C._chain_holds(lines, leaves, first, prev)
    assert holds == (not ref), (first, holds, ref)
    return holds


FIRSTS = [0, 1, 7, 990, 999, 1000, 1001, 1998, 9_995, 99_999, 999_990, 1_000_000, 123_456_789_995]


@pytest.mark.parametrize("first", FIRSTS)
def test_intact_chains_hold_at_every_kind_of_position(first):
    rng = random.Random(first)
    prev = ZERO_HASH.encode() if first == 0 else _leaf_hex(b"before")
    lines = _chain(first, 30, prev, rng)
    assert _agree(lines, first, prev)
    # Shifted by one position, or handed the wrong hash before, every line / the first fails.
    assert not _agree(lines, first + 1, prev)
    assert not _agree(lines, first, _leaf_hex(b"other"))


@pytest.mark.parametrize("first", FIRSTS)
def test_single_byte_damage_agrees_with_the_reference(first):
    rng = random.Random(first * 7 + 1)
    prev = _leaf_hex(b"before")
    lines = _chain(first, 12, prev, rng)
    for _ in range(150):
        got = list(lines)
        i = rng.randrange(len(got))
        line = bytearray(got[i])
        k = rng.randrange(len(line))
        op = rng.random()
        if op < 0.5:
            line[k] = rng.choice(b'0123456789abcdef",:{}x\\')
        elif op < 0.7:
            del line[k]
        elif op < 0.9:
            line[k:k] = rng.choice([b'"prev":"', b'","seq":', b",", b"9", b'"'])
        else:  # the top-level prev or seq, exactly where the check looks
            j = line.rfind(b'"prev":"') + rng.choice([8, 40, 71, 72, 79, 80, 81])
            line[j] = ord("0") if line[j] != ord("0") else ord("1")
        got[i] = bytes(line)
        _agree(got, first, prev)


@settings(max_examples=150, deadline=None)
@given(
    st.integers(0, 3_000_000),
    st.integers(1, 40),
    st.lists(st.tuples(st.integers(0, 39), st.integers(0, 2000), st.binary(min_size=1, max_size=1))),
)
def test_random_positions_and_bytes_agree_with_the_reference(first, count, edits):
    rng = random.Random(first)
    prev = _leaf_hex(b"p")
    lines = _chain(first, count, prev, rng)
    for i, k, byte in edits:
        if i < count and byte != b"\n":
            line = lines[i]
            k %= len(line)
            lines[i] = line[:k] + byte + line[k + 1 :]
    _agree(lines, first, prev)


def test_a_line_without_prev_or_empty_fails_as_the_reference_does():
    prev = ZERO_HASH.encode()
    assert not _agree([b""], 0, prev)
    assert not _agree([b'{"body":{},"seq":0}'], 0, prev)
    assert not _agree([b'"prev":"'], 0, prev)


@pytest.mark.parametrize("part_lines", [0.5, 1, 2, 3, 1000])
def test_check_chunk_over_parts_agrees_with_the_reference(tmp_path, monkeypatch, part_lines):
    """Through the worker itself: parts smaller than a line (read whole), about one, a few, and the
    whole range; the findings and the Merkle root are those of one walk over the file."""
    rng = random.Random(int(part_lines * 10))
    lines = _chain(0, 60, ZERO_HASH.encode(), rng)
    width = max(map(len, lines))
    monkeypatch.setattr(C, "PART_BYTES", max(1, int(part_lines * width)))
    for trial in range(12):
        got = list(lines)
        if trial:
            i = rng.randrange(len(got))
            k = rng.randrange(len(got[i]))
            got[i] = got[i][:k] + rng.choice([b"0", b"f", b'"', b"x"]) + got[i][k + 1 :]
        path = tmp_path / f"l{trial}.jsonl"
        data = b"\n".join(got) + b"\n"
        path.write_bytes(data)
        res = C.check_chunk(str(path), 0, len(data), 0, ZERO_HASH.encode(), "l", [], True)
        assert res.count == len(got)
        assert [(s, str(c)) for s, c, _m in res.chain] == _reference(got, 0, ZERO_HASH.encode())
        assert res.runs[0][1] == _leaves(got)
        leaves = [res.runs[0][1][32 * j : 32 * j + 32] for j in range(len(got))]
        assert root_from_leaves(leaves) == root_from_leaves(
            [bytes.fromhex(_leaf_hex(x).decode()) for x in got]
        )
