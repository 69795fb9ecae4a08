# ruff: noqa: F811 - pytest fixtures imported from console_kit are redefined as test parameters
"""The console's Ledger screen (key `l`), not only `forge-tui browse`, reads the ledger from its end
(issue 11 item 1, docs/design.md §12): with the screen's own default tail size, a ledger larger than it
is painted newest first while the older lines are still unindexed, and the rest comes in the background.

The background index is held before it starts (LedgerIndex.build_prefix waits for the test), so what is
on screen then can only have come from the ledger's last bytes.
"""

from __future__ import annotations

import json
import threading

from console_kit import console_world, wait_until  # noqa: F401 - fixtures

from forge_tui.core.ledger import LedgerWriter
from forge_tui.core.ledger_index import LedgerIndex
from forge_tui.tui.app import ForgeApp
from forge_tui.tui.screens.ledger import TAIL_BYTES, LedgerScreen
from forge_tui.tui.widgets.ledger_view import LedgerView

SIZE = (120, 40)


def drawn(view: LedgerView, row: int) -> str:
    y = row - round(view.scroll_offset.y) + 1  # line 0 is the column header
    assert 1 <= y <= view.page_height, f"row {row} is not on screen"
    return view.render_line(y).text


async def test_the_consoles_ledger_screen_paints_the_newest_records_before_indexing_the_rest(
    console_world, monkeypatch
):
    # Wrong if the console's Ledger screen indexed the whole ledger before its first paint (it would
    # wait here forever on the held index, or show it complete), started from the oldest records, or
    # lost the older ones once the background index was let go.
    w = console_world
    with LedgerWriter.open(w.project) as lw:  # a ledger several times the screen's tail size
        for b in range(10):
            lw.append([("note", {"text": f"filler {b}-{i} " + "x" * 900}) for i in range(500)])
    entered, release = threading.Event(), threading.Event()
    real_build = LedgerIndex.build_prefix

    def held_build(self, **kw):
        entered.set()
        assert release.wait(60), "the test never released the index worker"
        return real_build(self, **kw)

    monkeypatch.setattr(LedgerIndex, "build_prefix", held_build)
    await w.start_daemon()
    app = ForgeApp.for_project(w.project, socket=w.review_sock, reviewer=None)
    app.animation_level = "none"
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: app.link_state == "connected", what="the console to connect")
            await pilot.press("l")
            await wait_until(pilot, lambda: isinstance(app.screen, LedgerScreen), what="the Ledger screen")
            screen = app.screen
            await wait_until(pilot, entered.is_set, what="the background index to start")
            lines = screen.ledger_path.read_bytes().splitlines()
            assert screen.ledger_path.stat().st_size > 3 * TAIL_BYTES
            n, newest = len(lines), json.loads(lines[-1])["seq"]
            view = screen.query_one(LedgerView)
            assert not screen.index.complete
            assert screen.index.first_indexed > n // 2  # only the last bytes are indexed
            assert view.row_count == n  # the total, placed by the newest records' seq
            await pilot.pause()
            assert drawn(view, 0).lstrip().startswith(f"{newest} ")
            assert drawn(view, 1).lstrip().startswith(f"{newest - 1} ")
            assert "indexing older records" in str(screen.query_one("#ledger-status").render())
            release.set()
            await wait_until(pilot, lambda: screen.index.complete, timeout=60, what="the index to complete")
            await pilot.press("end")
            await pilot.pause()
            assert view.row_count == n and drawn(view, n - 1).lstrip().startswith("0 ")
    finally:
        release.set()
