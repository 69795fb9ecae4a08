"""The Ledger screen, driven through Textual's Pilot over a small signed ledger (tests/tui/ledger_kit.py)."""

from __future__ import annotations

import json

import pytest
from ledger_kit import HOSTILE_NOTE, build, tamper

from forge_tui.tui.browse_app import BrowseApp
from forge_tui.tui.screens.ledger import SIG_BAD, SIG_OK, SIG_UNKNOWN, LedgerScreen
from forge_tui.tui.widgets.ledger_view import LedgerView

SIZE = (120, 30)


@pytest.fixture
def kit(tmp_path):
    k = build(tmp_path / "proj")
    yield k
    k.writer.close()


def types_of(kit) -> list[str]:
    return [json.loads(line)["type"] for line in kit.path.read_bytes().splitlines()]


def drawn(view: LedgerView, row: int) -> str:
    """The text drawn on screen for display row `row` (which must be scrolled into view)."""
    y = row - round(view.scroll_offset.y) + 1  # line 0 is the column header
    assert 1 <= y <= view.page_height, f"row {row} is not on screen"
    return view.render_line(y).text


async def settle(app, pilot) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause()


async def test_opens_newest_first_and_moves_the_cursor(kit):
    # Wrong if the view opened at the oldest record or the keys did not move the cursor by one row.
    app = BrowseApp(kit.path, kit.project)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, LedgerScreen)
        view = screen.query_one(LedgerView)
        await settle(app, pilot)  # the index is loaded before the first key
        n = len(types_of(kit))
        assert view.row_count == n == 12
        assert view.cursor_index == n - 1
        assert view.render_line(0).text.split()[:3] == ["SEQ", "TIME", "(UTC)"]
        assert drawn(view, 0).lstrip().startswith("11 ")
        assert drawn(view, n - 1).lstrip().startswith("0 ")
        await pilot.press("down", "down")
        assert view.cursor_index == n - 3
        await pilot.press("up")
        assert view.cursor_index == n - 2
        await pilot.press("end")
        assert view.cursor_index == 0
        await pilot.press("home")
        assert view.cursor_index == n - 1
        await pilot.press("pagedown")
        assert view.cursor_index == 0  # 12 rows fit on one page: a page down reaches the oldest


async def test_page_keys_scroll_a_long_ledger(kit):
    # Wrong if page down did not move a page, or End did not scroll the oldest record into view.
    for i in range(60):
        kit.append(("note", {"text": f"filler {i}", "author": "bob"}))
    app = BrowseApp(kit.path, kit.project)
    async with app.run_test(size=SIZE) as pilot:
        view = app.screen.query_one(LedgerView)
        await settle(app, pilot)  # the index is loaded before the first key
        page = view.page_height
        await pilot.press("pagedown")
        assert view.cursor == page
        await pilot.press("end")
        await pilot.pause()
        assert view.cursor_index == 0
        assert view.scroll_offset.y == view.row_count - page
        assert drawn(view, view.row_count - 1).lstrip().startswith("0 ")
        await pilot.press("pageup")
        assert view.cursor == view.row_count - 1 - page


async def test_filter_by_type(kit):
    # Wrong if the type filter kept other records or dropped a matching one.
    app = BrowseApp(kit.path, kit.project)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        view = screen.query_one(LedgerView)
        await settle(app, pilot)  # the index is loaded before the first key
        await pilot.press("f", *"note", "enter")
        await settle(app, pilot)
        expected = [i for i, t in enumerate(types_of(kit)) if t == "note"]
        assert list(view.rows) == expected == [9, 11]
        assert view.cursor_index == 11
        assert "2 match type=note" in str(screen.query_one("#ledger-status").content)
        await pilot.press("c")
        await settle(app, pilot)
        assert view.rows is None and view.row_count == 12


async def test_filter_by_actor_status_and_rule(kit):
    # Wrong if the field filters did not follow `forge-tui log` semantics (actor id, body status, rule).
    app = BrowseApp(kit.path, kit.project)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        view = screen.query_one(LedgerView)
        await settle(app, pilot)  # the index is loaded before the first key
        screen.query_one("#f-status").value = "denied"
        await pilot.press("f", "enter")
        await settle(app, pilot)
        assert list(view.rows) == [8]
        screen.query_one("#f-status").value = ""
        screen.query_one("#f-rule").value = "protect-auth"
        screen.query_one("#f-actor").value = ""
        await pilot.press("f", "enter")
        await settle(app, pilot)
        assert list(view.rows) == [3, 5]
        screen.query_one("#f-rule").value = ""
        screen.query_one("#f-actor").value = "alice"
        await pilot.press("f", "enter")
        await settle(app, pilot)
        assert list(view.rows) == [4]


async def test_search_text(kit):
    # Wrong if the free-text search missed a record holding the text (any case, inside quotes) or kept
    # one without it.
    app = BrowseApp(kit.path, kit.project)
    async with app.run_test(size=SIZE) as pilot:
        view = app.screen.query_one(LedgerView)
        await settle(app, pilot)  # the index is loaded before the first key
        await pilot.press("slash", *"FORCE", "enter")
        await settle(app, pilot)
        assert list(view.rows) == [7, 8]
        await pilot.press("slash")
        app.screen.query_one("#search").value = 'force "origin"'
        await pilot.press("enter")
        await settle(app, pilot)
        assert list(view.rows) == [7]
        assert view.has_focus


async def test_jump_to_seq(kit):
    # Wrong if `g` did not put the cursor on the record with that seq.
    app = BrowseApp(kit.path, kit.project)
    async with app.run_test(size=SIZE) as pilot:
        view = app.screen.query_one(LedgerView)
        await settle(app, pilot)  # the index loaded: its "open at the newest" must not land after the jump
        await pilot.press("g", "4", "enter")
        assert view.cursor_index == 4
        assert "approval" in drawn(view, view.cursor)
        await pilot.press("g", *"99", "enter")
        assert view.cursor_index == 4
        assert "no record with seq 99" in str(app.screen.query_one("#ledger-status").content)


async def test_detail_shows_the_record_and_a_good_signature(kit):
    # Wrong if the detail panel did not show the selected record or called a genuine signature bad.
    app = BrowseApp(kit.path, kit.project)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await pilot.press("g", "8", "enter", "enter")
        await pilot.pause()
        assert screen.query_one("#ledger-detail").display
        sig = str(screen.query_one("#detail-sig").content)
        assert f"signature: {SIG_OK}" in sig
        body = str(screen.query_one("#detail-body").content)
        assert '"rule": "no-force-push"' in body
        assert screen.signature_status(8)[0] == SIG_OK
        await pilot.press("escape")
        assert not screen.query_one("#ledger-detail").display
        assert app.is_running
        await pilot.press("escape")
    assert app.return_code == 0


async def test_tampered_record_shows_a_bad_signature(kit):
    # Wrong if a record whose text was altered after signing were shown as signed.
    tamper(kit.path, b"incident 42 closed", b"incident 43 closed")
    app = BrowseApp(kit.path, kit.project)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await pilot.press("enter")
        await pilot.pause()
        assert f"signature: {SIG_BAD}" in str(screen.query_one("#detail-sig").content)
        assert "incident 43 closed" in str(screen.query_one("#detail-body").content)
        assert screen.signature_status(10)[0] == SIG_OK  # the others still verify


async def test_without_project_the_key_is_unknown(kit):
    # Wrong if a record were called verified (or bad) with no trusted key to check it against.
    app = BrowseApp(kit.path, None)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter")
        await pilot.pause()
        assert f"signature: {SIG_UNKNOWN}" in str(app.screen.query_one("#detail-sig").content)


async def test_reload_picks_up_appended_records(kit):
    # Wrong if reload() missed new records, lost the cursor's record, or ignored the active filter.
    app = BrowseApp(kit.path, kit.project)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        view = screen.query_one(LedgerView)
        await settle(app, pilot)  # the index is loaded before the first key
        kit.append(("note", {"text": "after open", "author": "bob"}))
        assert screen.reload() == 1
        await pilot.pause()
        assert view.row_count == 13 and view.cursor_index == 12  # at the top: follows the newest
        assert "after open" in drawn(view, 0)
        await pilot.press("down", "down")
        held = view.cursor_index
        kit.append(
            ("note", {"text": "second", "author": "bob"}),
            ("outcome", {"request_id": "r-2", "status": "skipped"}),
        )
        assert screen.reload() == 2
        assert view.cursor_index == held  # not at the top: stays on its record
        await pilot.press("f", *"note", "enter")
        await settle(app, pilot)
        assert list(view.rows) == [9, 11, 12, 13]
        kit.append(
            ("note", {"text": "third", "author": "bob"}),
            ("outcome", {"request_id": "r-2", "status": "failed"}),
        )
        assert screen.reload() == 2
        assert list(view.rows) == [9, 11, 12, 13, 15]
        assert screen.reload() == 0


async def test_record_text_is_shown_literally(kit):
    # Wrong if markup in a record were interpreted (styled or swallowed) or an escape sequence reached
    # the terminal, in the row or in the detail panel.
    app = BrowseApp(kit.path, kit.project)
    async with app.run_test(size=(160, 30)) as pilot:
        screen = app.screen
        view = screen.query_one(LedgerView)
        await settle(app, pilot)  # the index is loaded before the first key
        await pilot.press("g", "9", "enter")
        await settle(app, pilot)
        assert view.cursor_index == 9
        row = drawn(view, view.cursor)
        assert "[bold red]pwned[/] \\x1b[31mred\\x1b[0m [/foo]" in row
        assert "\x1b" not in row
        await pilot.press("enter")
        await pilot.pause()
        body = screen.query_one("#detail-body").content.plain
        assert "[bold red]pwned[/]" in body and "\x1b" not in body
        assert "\\u001b[31m" in body  # the detail is the record's JSON: the ESC stays escaped
        assert "\x1b" in HOSTILE_NOTE  # (the record really holds an ESC)


async def test_empty_ledger_then_first_records(tmp_path):
    # Wrong if an empty (or torn-only) ledger crashed the screen, offered a detail of nothing, or the
    # first complete record were not picked up by reload().
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b'{"torn')
    app = BrowseApp(path, None)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        view = screen.query_one(LedgerView)
        await settle(app, pilot)  # the index is loaded before the first key
        assert view.row_count == 0 and view.cursor_index is None
        await pilot.press("enter", "end", "down", "g", "0", "enter")
        assert not screen.query_one("#ledger-detail").display
        assert "0 records" in str(screen.query_one("#ledger-status").content)
        path.write_bytes(b'{"seq":0,"ts":"2026-11-18T11:06:40.000Z","type":"note","body":{"text":"hi"}}\n')
        assert screen.reload() == 1
        await pilot.pause()
        assert view.cursor_index == 0 and "hi" in drawn(view, 0)
        await pilot.press("enter")
        assert f"signature: {SIG_BAD}" in str(screen.query_one("#detail-sig").content)  # not well-formed


async def test_time_range_filter(kit):
    # Wrong if since/until prefixes were not padded to whole stamps (inclusive ends) or a malformed time
    # were applied instead of refused.
    stamps = [json.loads(line)["ts"] for line in kit.path.read_bytes().splitlines()]
    app = BrowseApp(kit.path, kit.project)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        view = screen.query_one(LedgerView)
        await settle(app, pilot)  # the index is loaded before the first key
        screen.query_one("#f-since").value = stamps[9][:19]  # to the second, no millis
        await pilot.press("f", "enter")
        await settle(app, pilot)
        assert list(view.rows) == [i for i, ts in enumerate(stamps) if ts >= stamps[9][:19]] == [9, 10, 11]
        screen.query_one("#f-since").value = ""
        screen.query_one("#f-until").value = stamps[3][:19]
        await pilot.press("f", "enter")
        await settle(app, pilot)
        assert list(view.rows) == [i for i, ts in enumerate(stamps) if ts[:19] <= stamps[3][:19]]
        assert 3 in view.rows and 4 not in view.rows
        screen.query_one("#f-until").value = "yesterday"
        await pilot.press("f", "enter")
        await settle(app, pilot)
        assert "until: use an RFC 3339 prefix" in str(screen.query_one("#ledger-status").content)
        assert 4 not in view.rows  # the previous filter stays


async def test_unreadable_and_malformed_lines_do_not_break_the_view(tmp_path):
    # Wrong if a corrupt line or a body of the wrong shape crashed rendering instead of showing a row.
    path = tmp_path / "bad.jsonl"
    path.write_bytes(
        b'{"seq":0,"ts":"2026-11-18T11:06:40.000Z","type":"request","body":{"action":{"paths":[1,{"a":2}]}}}\n'
        b"\x1b[2J not json [/x]\n"
        b'{"seq":2,"ts":"x","type":"decision","body":["not","an","object"]}\n'
    )
    app = BrowseApp(path, None)
    async with app.run_test(size=SIZE) as pilot:
        view = app.screen.query_one(LedgerView)
        await settle(app, pilot)  # the index is loaded before the first key
        assert view.row_count == 3
        assert drawn(view, 0).lstrip().startswith("2 ")
        assert "unreadable line 1" in drawn(view, 1) and "\x1b" not in drawn(view, 1)
        assert drawn(view, 2).lstrip().startswith("0 ")
        await pilot.press("down", "enter")
        await pilot.pause()
        assert "\\x1b[2J not json [/x]" in app.screen.query_one("#detail-body").content.plain
        assert f"signature: {SIG_BAD}" in str(app.screen.query_one("#detail-sig").content)


async def test_reload_while_a_filter_is_computed(kit):
    # Wrong if records appended while a search ran were lost from its result (or the search restarted
    # and never finished).
    app = BrowseApp(kit.path, kit.project)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        view = screen.query_one(LedgerView)
        await settle(app, pilot)  # the index is loaded before the first key
        screen.query_one("#f-type").value = "note"
        await pilot.press("f", "enter")  # starts the search in a thread
        kit.append(("note", {"text": "during", "author": "bob"}))
        screen.reload()
        kit.append(("note", {"text": "during 2", "author": "bob"}))
        screen.reload()
        await settle(app, pilot)
        assert list(view.rows) == [9, 11, 12, 13]
        assert "filtering" not in str(screen.query_one("#ledger-status").content)
