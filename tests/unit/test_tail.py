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
