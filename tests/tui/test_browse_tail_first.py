"""`browse` paints the newest records first and indexes the rest in the background (docs/design.md §12).

The screen indexes only the ledger's last bytes before its first paint; a worker thread then builds the
rest of the line index. The worker's step hook holds it at its first step, so the test looks at the
screen while the index is provably incomplete: the newest records are drawn, older rows say they are
being indexed, a filter waits; once released, the whole ledger is there and the filter applies.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
from ledger_kit import build

from forge_tui.core.ledger_index import LedgerFilter
from forge_tui.tui.browse_app import BrowseApp
from forge_tui.tui.screens.ledger import LedgerScreen
from forge_tui.tui.widgets.ledger_view import LedgerView

SIZE = (120, 30)


@pytest.fixture
def kit(tmp_path):
    k = build(tmp_path / "proj")
    for i in range(200):
        k.append(("note", {"text": f"filler {i}", "author": "bob"}))
    yield k
    k.writer.close()


async def until(pilot, cond, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.01)


def drawn(view: LedgerView, row: int) -> str:
    y = row - round(view.scroll_offset.y) + 1  # line 0 is the column header
    assert 1 <= y <= view.page_height, f"row {row} is not on screen"
    return view.render_line(y).text


async def test_the_newest_records_are_shown_before_the_index_is_complete(kit):
    # Wrong if the first screen waited for the whole index, showed the oldest records first, or lost
    # the older ones (or a filter) once the background index completed.
    n = len(kit.path.read_bytes().splitlines())
    newest = json.loads(kit.path.read_bytes().splitlines()[-1])["seq"]
    entered, release = threading.Event(), threading.Event()

    def hold(done: int, total: int) -> None:
        entered.set()
        assert release.wait(timeout=60), "the test never released the index worker"

    app = BrowseApp(kit.path, kit.project, tail_bytes=4096, index_step=hold)
    try:
        async with app.run_test(size=SIZE) as pilot:
            screen = app.screen
            assert isinstance(screen, LedgerScreen)
            view = screen.query_one(LedgerView)
            await until(pilot, entered.is_set, "the index worker's first step")
            assert not screen.index.complete
            assert 0 < screen.index.first_indexed < n - 5  # only a tail is indexed
            assert view.row_count == n  # the total, estimated from the newest records' seqs
            await pilot.pause()
            assert drawn(view, 0).lstrip().startswith(f"{newest} ")
            assert drawn(view, 1).lstrip().startswith(f"{newest - 1} ")
            status = str(screen.query_one("#ledger-status").render())
            assert "indexing older records" in status
            await pilot.press("end")  # the oldest rows are not indexed yet: they say so
            await pilot.pause()
            assert "indexing older records" in drawn(view, n - 1)
            screen.apply_filter(LedgerFilter(types=frozenset({"genesis"})))  # waits for the index
            assert view.row_count == n
            release.set()
            await until(pilot, lambda: screen.index.complete, "the index to complete")
            await app.workers.wait_for_complete()
            await until(pilot, lambda: view.row_count == 1, "the filter to apply")
            await pilot.pause()
            assert drawn(view, 0).lstrip().startswith("0 ") and "genesis" in drawn(view, 0)
            screen.apply_filter(LedgerFilter())
            await pilot.press("end")
            await pilot.pause()
            assert view.row_count == n and drawn(view, n - 1).lstrip().startswith("0 ")
    finally:
        release.set()
