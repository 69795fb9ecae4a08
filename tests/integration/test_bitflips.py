"""Every single-bit flip of a small ledger, and of its checkpoint, is detected by verify.

The verifier runs in-process (`verify_project`, one worker, no local anchors: the repository alone), so
the thousands of flips take seconds. A flip is detected when the report is not clean: an error, or a
warning (exit 3) such as a torn tail when the last LF is flipped.
"""

from __future__ import annotations

import pytest

from forge_tui.core.ledger import LedgerWriter
from forge_tui.core.verify import verify_project


@pytest.fixture
def small_project(tmp_path, monkeypatch):
    from forge_tui.core.project import init_project

    monkeypatch.setenv("FORGE_DATA_DIR", str(tmp_path / "data"))
    root = tmp_path / "p"
    root.mkdir()
    project = init_project(root, pack="solo", name="p")
    with LedgerWriter.open(project) as w:
        w.append([("note", {"text": "a"})])
        w.append([("note", {"text": "b", "author": "x"})])
    return project


def _check(project, fast: bool = False):
    return verify_project(project, fast=fast, use_local_state=False, update_seen=False, workers=1)


def _flip_all(path, project, *, fast: bool = False, lo: int = 0, hi: int | None = None) -> int:
    """Flip each bit of bytes [lo, hi) of `path` in turn; assert verify notices every one."""
    original = path.read_bytes()
    hi = len(original) if hi is None else min(hi, len(original))
    assert _check(project, fast).exit_code() == 0
    missed = []
    n = 0
    with open(path, "r+b") as fh:
        for i in range(lo, hi):
            for bit in range(8):
                fh.seek(i)
                fh.write(bytes([original[i] ^ (1 << bit)]))
                fh.flush()
                report = _check(project, fast)
                n += 1
                if report.exit_code() == 0 or not report.findings:
                    missed.append((i, bit))
            fh.seek(i)
            fh.write(original[i : i + 1])
            fh.flush()
    assert path.read_bytes() == original
    assert _check(project, fast).exit_code() == 0
    assert not missed, f"undetected flips (byte, bit): {missed[:20]}"
    return n


PARTS = 4


@pytest.mark.slow
@pytest.mark.parametrize("part", range(PARTS))
def test_every_bit_flip_of_the_ledger_is_detected(small_project, part):
    """Split in byte ranges so that pytest -n spreads the ~12,000 flips over the cores."""
    p = small_project
    path = p.tracked_ledger(p.ledger_ids()[0])
    data = path.read_bytes()
    assert data.count(b"\n") == 3  # 3 records
    step = -(-len(data) // PARTS)
    n = _flip_all(path, p, lo=part * step, hi=(part + 1) * step)
    assert n == 8 * len(data[part * step : (part + 1) * step])


def test_every_bit_flip_of_the_checkpoint_is_detected(small_project):
    p = small_project
    path = p.tracked_checkpoint(p.ledger_ids()[0])
    assert _flip_all(path, p) == 8 * path.stat().st_size


def test_every_bit_flip_of_the_last_record_is_detected_fast_mode(small_project):
    """--fast skips the signatures: the signed checkpoint root still catches every flip."""
    p = small_project
    path = p.tracked_ledger(p.ledger_ids()[0])
    data = path.read_bytes()
    last = data.rstrip(b"\n").rfind(b"\n") + 1
    _flip_all(path, p, fast=True, lo=last)
