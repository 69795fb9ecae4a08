"""core.tail.iter_lines_reversed yields exactly iter_lines' lines in reverse, whatever the block size:
a mistake at a block boundary would drop, split or duplicate a record in `log --tail`."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from forge_tui.core.ledger import iter_lines
from forge_tui.core.tail import iter_lines_reversed

lines_st = st.lists(st.binary(max_size=12).map(lambda b: b.replace(b"\n", b"x")), max_size=30)


@settings(max_examples=300, deadline=None)
@given(
    lines=lines_st, tail=st.binary(max_size=5).map(lambda b: b.replace(b"\n", b"")), block=st.integers(1, 40)
)
def test_reverse_matches_forward(tmp_path_factory, lines, tail, block):
    path = tmp_path_factory.mktemp("t") / "l.jsonl"
    data = b"".join(line + b"\n" for line in lines) + tail  # a torn tail is never yielded
    path.write_bytes(data)
    forward = list(iter_lines(data))
    assert list(iter_lines_reversed(path, block=block)) == forward[::-1]


def test_log_tail_reads_newest_records(project, run_cli):
    for i in range(5):
        assert run_cli("note", f"note {i}")[0] == 0
    code, out, err = run_cli("log", "--tail", "2", "--type", "note")
    assert code == 0, err
    body = out.splitlines()[1:]
    assert len(body) == 2 and "note 3" in body[0] and "note 4" in body[1]


def test_log_tail_reads_only_the_end_of_a_long_ledger(project, run_cli, monkeypatch):
    """Broken if `log --tail` read (or parsed) the ledger from its start: the forward reader is made to
    fail, and the bytes read from the file are counted against its size."""
    import forge_tui.core.ledger as ledger_mod
    from forge_tui.core import tail
    from forge_tui.core.ledger import LedgerWriter

    with LedgerWriter.open(project) as w:
        for b in range(10):
            w.append([("note", {"text": f"note {b}-{i} " + "x" * 900}) for i in range(500)])
    path = project.tracked_ledger(project.local_ledger_id())
    size = path.stat().st_size
    assert size > 4 * tail.BLOCK
    read: list[int] = []
    real_open = open

    class Counted:
        def __init__(self, fh) -> None:
            self.fh = fh

        def __enter__(self):
            return self

        def __exit__(self, *exc) -> None:
            self.fh.close()

        def seek(self, *a):
            return self.fh.seek(*a)

        def read(self, n: int = -1) -> bytes:
            data = self.fh.read(n)
            read.append(len(data))
            return data

    def counted_open(p, mode="r", *a, **kw):
        return Counted(real_open(p, mode, *a, **kw))

    def forward(*a, **kw):
        raise AssertionError("log --tail read the ledger from its start")

    monkeypatch.setattr(tail, "open", counted_open, raising=False)
    monkeypatch.setattr(ledger_mod, "iter_lines", forward)
    code, out, err = run_cli("log", "--tail", "3", "--type", "note")
    assert code == 0, err
    body = out.splitlines()[1:]
    assert len(body) == 3 and all(
        f"note 9-{i} " in line for i, line in zip((497, 498, 499), body, strict=True)
    )
    assert read and sum(read) <= 2 * tail.BLOCK < size // 2, (sum(read), size)
