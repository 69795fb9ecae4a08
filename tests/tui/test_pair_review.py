# ruff: noqa: F811 - pytest fixtures imported from console_kit are redefined as test parameters
"""Pair review at one console (issue 13) and the console's newcomer bugs (issue 12), against the REAL
daemon in-process: the quorum column and Inspect, handing the keyboard over, the idle and detach locks,
the header that says who signs, the title and notifications, and the queue's layout and keys.

Each test says what would be broken if it failed.
"""

from __future__ import annotations

import os

import pytest
from console_kit import (  # noqa: F401 - fixtures
    PASSPHRASE,
    agent_factory,
    auth_edit,
    make_console_world,
    wait_until,
)
from textual.widgets import Input, Select

from forge_tui.tui.app import ForgeApp
from forge_tui.tui.config import ConsoleConfig
from forge_tui.tui.durations import parse_ts
from forge_tui.tui.screens.dialogs import ConfirmDialog, PassphraseDialog
from forge_tui.tui.screens.inspect import InspectScreen
from forge_tui.tui.widgets.header import ConsoleHeader
from forge_tui.tui.widgets.queue_table import plan_columns

SIZE = (120, 40)
DEPLOY = {"kind": "deploy", "tool": "Bash", "command": "make deploy"}  # rule two-keys: approvals = 2


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def pair(monkeypatch):
    """A project with two reviewers, alice and bob (both keys on this machine), and its daemon."""
    world = make_console_world(monkeypatch, reviewers=("alice", "bob"))
    await world.start_daemon()
    yield world
    for d in world.daemons:
        await d.stop()


def make_app(world, **kw) -> ForgeApp:
    kw.setdefault("reviewer", None)
    kw.setdefault("notifier", lambda title, body: None)
    kw.setdefault("session_probe", lambda: None)
    app = ForgeApp.for_project(world.project, socket=world.review_sock, **kw)
    app.animation_level = "none"
    return app


def header(app: ForgeApp) -> ConsoleHeader:
    return app.screen.query_one(ConsoleHeader)


def header_text(app: ForgeApp) -> str:
    return header(app).render().plain


async def connected(pilot, app: ForgeApp) -> None:
    await wait_until(pilot, lambda: app.link_state == "connected", what="the console to connect")


async def queued(pilot, app: ForgeApp, n: int) -> None:
    await wait_until(pilot, lambda: len(app.queue_screen.table.items) == n, what=f"{n} rows in the queue")


async def unlock_as(pilot, app: ForgeApp, name: str) -> None:
    """Answer the passphrase dialog for `name`."""
    dialog = await wait_until(
        pilot, lambda: app.screen if isinstance(app.screen, PassphraseDialog) else None, what="passphrase"
    )
    if dialog.query("#who"):
        dialog.query_one("#who", Select).value = name
    dialog.query_one("#passphrase", Input).value = PASSPHRASE
    await pilot.press("enter")
    await wait_until(pilot, lambda: app.signing.name == name, what=f"{name}'s key unlocked")


async def approve_selected(pilot, app: ForgeApp) -> None:
    await pilot.press("a")
    await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the confirm dialog")
    await pilot.press("enter")


def quorum_cell(app: ForgeApp, rid: str) -> str:
    return app.queue_screen.table.get_cell(rid, "quorum").plain


# ---- the quorum ---------------------------------------------------------------------------------------


async def test_quorum_column_and_inspect_follow_a_two_approval_request(pair, agent_factory):
    """Broken if the queue does not say who approved a two-approval request and who still may, if the
    approver is offered again, or if Inspect does not show the approval with its OS account and a
    verified signature."""
    app = make_app(pair)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await connected(pilot, app)
        agent = await agent_factory(pair.sock)
        rid = (await agent.request(DEPLOY))["request_id"]
        await queued(pilot, app, 1)
        assert quorum_cell(app, rid) == "0/2 · may: alice, bob"
        await approve_selected(pilot, app)
        await unlock_as(pilot, app, "alice")
        await wait_until(pilot, lambda: quorum_cell(app, rid).startswith("1/2 ✓alice"), what="1/2")
        cell = quorum_cell(app, rid)
        assert cell.endswith("· may: bob"), cell  # alice approved: only bob may complete it
        assert rid in app.pending
        await pilot.press("enter")
        screen = await wait_until(
            pilot, lambda: app.screen if isinstance(app.screen, InspectScreen) else None, what="inspect"
        )
        await wait_until(pilot, lambda: screen.checks is not None and screen.checks, what="the checks")
        (check,) = screen.checks
        assert (check.reviewer, check.status) == ("alice", "verified")
        text = screen.sections["approvals"].content.plain
        assert "1 of 2 approvals" in text and "signature verified" in text
        assert "may approve  bob" in text and "alice (already approved)" in text
        assert f"uid {check.uid}" in text  # the OS account the approval came from


async def test_quorum_says_when_nobody_here_can_complete_it(monkeypatch, agent_factory):
    """Broken if a request that needs two approvals in a project with one reviewer looks completable
    (the reviewer would approve and wait for a second approval that cannot come)."""
    world = make_console_world(monkeypatch, reviewers=("alice",))
    await world.start_daemon()
    try:
        app = make_app(world)
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot, app)
            agent = await agent_factory(world.sock)
            rid = (await agent.request(DEPLOY))["request_id"]
            await queued(pilot, app, 1)
            assert quorum_cell(app, rid) == "0/2 · may: alice"
            monkeypatch.setenv("FORGE_PASSPHRASE", PASSPHRASE)
            await approve_selected(pilot, app)
            await wait_until(pilot, lambda: quorum_cell(app, rid).startswith("1/2"), what="1/2")
            assert quorum_cell(app, rid).endswith("· may: nobody here")
    finally:
        for d in world.daemons:
            await d.stop()


# ---- handing the keyboard over --------------------------------------------------------------------------


async def test_hand_over_locks_one_key_and_unlocks_another(pair, agent_factory):
    """Broken if the lock key does not forget alice's key, the header does not say who signs at each
    step, or the hand-over does not let bob unlock his own key and complete the quorum as bob."""
    app = make_app(pair)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await connected(pilot, app)
        assert "key locked" in header_text(app)
        agent = await agent_factory(pair.sock)
        rid = (await agent.request(DEPLOY))["request_id"]
        await queued(pilot, app, 1)
        await approve_selected(pilot, app)
        await unlock_as(pilot, app, "alice")
        assert "signing as alice" in header_text(app)
        await wait_until(pilot, lambda: quorum_cell(app, rid).startswith("1/2"), what="alice's approval")
        await pilot.press("k")
        await wait_until(pilot, lambda: app.signing.key is None, what="the lock")
        assert "key locked" in header_text(app) and "alice" not in header_text(app)
        # bob takes the keyboard: `u` (hand over) offers every key on this machine.
        await pilot.press("u")
        await unlock_as(pilot, app, "bob")
        assert "signing as bob" in header_text(app)
        await approve_selected(pilot, app)
        await queued(pilot, app, 0)
        waited = await agent.call("gate.wait", {"request_id": rid, "wait_s": 5})
        assert (waited["status"], waited["reason"]) == ("allowed", "approved by alice, bob")
    signers = [r["body"]["approval"]["reviewer"] for r in pair.records() if r["type"] == "approval"]
    assert signers == ["alice", "bob"]


async def test_a_console_without_the_ledger_takes_the_checked_reviewer_set_from_the_daemon(
    pair, agent_factory, monkeypatch
):
    """A second OS account's console, as far as one process can play it: this account's data folder
    holds bob's key and no copy of the owner's ledger. Broken if the console cannot unlock bob's key
    and approve (it used to need the ledger), or if it shows reviewers it did not check from the
    daemon's `reviewer.proof` (no pin written in this account's folder)."""
    import shutil

    from forge_tui.core.keys import reviewer_key_path
    from forge_tui.core.trust_proof import PIN_FILE

    bob_key, owner = reviewer_key_path("bob"), os.environ["FORGE_DATA_DIR"]
    other = pair.home / "data-bob"
    other.mkdir(mode=0o700)
    monkeypatch.setenv("FORGE_DATA_DIR", str(other))  # the daemon already runs on the owner's
    shutil.copy(bob_key, reviewer_key_path("bob"))
    app = make_app(pair, reviewer="bob")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await connected(pilot, app)
        await wait_until(pilot, lambda: app.trust is not None, what="the checked reviewer set")
        assert set(app.trust.active()) == {"alice", "bob"} and not app.trust_error
        assert (pair.project.state_dir / PIN_FILE).exists()  # in bob's folder, not the owner's
        agent = await agent_factory(pair.sock)
        rid = (await agent.request(DEPLOY))["request_id"]
        await queued(pilot, app, 1)
        assert quorum_cell(app, rid) == "0/2 · may: alice, bob"
        monkeypatch.setenv("FORGE_PASSPHRASE", PASSPHRASE)
        await approve_selected(pilot, app)
        await wait_until(pilot, lambda: quorum_cell(app, rid).startswith("1/2 ✓bob"), what="bob's approval")
    monkeypatch.setenv("FORGE_DATA_DIR", owner)
    signers = [r["body"]["approval"]["reviewer"] for r in pair.records() if r["type"] == "approval"]
    assert signers == ["bob"]


async def test_palette_hand_over_and_lock(pair):
    """Broken if the command palette's lock does not lock (a reviewer who never learnt the key)."""
    from forge_tui.tui.app import ForgeCommands

    app = make_app(pair)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await connected(pilot, app)
        app.signing.unlock(pair.keys["alice"])
        app.sync_headers()
        provider = ForgeCommands(app.screen)
        hits = [h async for h in provider.search("lock the reviewer key")]
        assert str(hits[0].text) == "Lock the reviewer key"
        hits[0].command()
        await wait_until(pilot, lambda: app.signing.key is None, what="the palette's lock")
        assert "key locked" in header_text(app)


async def test_key_locks_itself_after_the_idle_time(pair):
    """Broken if an unlocked key stays usable after `lock_after` without a key press, if a key press
    does not push the lock back, or the header does not count the last minute down."""
    idle = Clock()
    app = make_app(pair, config=ConsoleConfig(lock_after_s=300), idle_clock=idle, tick_interval=None)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await connected(pilot, app)
        app.signing.unlock(pair.keys["alice"])
        idle.now += 250
        await pilot.press("down")  # a key press: still at the keyboard
        idle.now += 250
        app.tick()
        assert app.signing.name == "alice"  # 250 s since the last key press
        await pilot.pause()
        assert "signing as alice (locks in 50s)" in header_text(app)
        idle.now += 51
        app.tick()
        assert app.signing.key is None
        await pilot.pause()
        assert "key locked" in header_text(app)
        assert any("idle" in n.message for n in app._notifications)


async def test_key_locks_when_the_terminal_session_goes_away(pair):
    """Broken if a detached tmux session (or a hang-up) leaves the key unlocked for whoever attaches
    next."""
    attached = {"now": True}
    idle = Clock()
    app = make_app(pair, session_probe=lambda: attached["now"], idle_clock=idle, tick_interval=None)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app)
        app.signing.unlock(pair.keys["alice"])
        idle.now += 10
        app.tick()
        await pilot.pause()
        assert app.signing.name == "alice"
        attached["now"] = False
        idle.now += 10
        app.tick()
        await wait_until(pilot, lambda: app.signing.key is None, what="the detach lock")
        app.signing.unlock(pair.keys["alice"])
        app.session_lost("the terminal hung up")  # what SIGHUP calls
        assert app.signing.key is None


# ---- notice without watching --------------------------------------------------------------------------


async def test_new_request_rings_sets_the_title_and_notifies_the_desktop(pair, agent_factory):
    """Broken if a reviewer in another window gets no bell, no terminal title with the count, and no
    desktop notification naming the request."""
    sent: list[tuple[str, str]] = []
    app = make_app(pair, notifier=lambda title, body: sent.append((title, body)))
    rung: list[int] = []
    app.bell = lambda: rung.append(1)  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app)
        assert app.window_title == "forge-tui shop"
        agent = await agent_factory(pair.sock)
        edit = {**auth_edit("an edit"), "paths": ["src/auth/[bold]literal[/].py"]}
        await agent.request(edit)
        await wait_until(pilot, lambda: sent and rung, what="the bell and the notification")
        assert app.window_title == "forge-tui shop: 1 pending"
        ((title, body),) = sent
        assert title == "forge-tui: new request waiting"
        assert "claude: src/auth/[bold]literal[/].py" in body  # the real action, markup left as text


# ---- the newcomer's bugs ------------------------------------------------------------------------------


async def test_age_column_shows_the_seconds_the_header_shows(pair, agent_factory):
    """Broken if the Age column keeps the width of its first value and reads `1m` while the header
    says `1m 05s` (issue 12)."""
    import time

    frozen: dict[str, float | None] = {"t": None}  # real time until the test freezes it
    app = make_app(pair, clock=lambda: frozen["t"] or time.time(), tick_interval=None)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app)
        agent = await agent_factory(pair.sock)
        rid = (await agent.request(auth_edit()))["request_id"]
        await queued(pilot, app, 1)
        # "now" is 65.5 s after the request arrived
        frozen["t"] = parse_ts(app.pending[rid]["received_at"]) + 65.5
        app.tick()
        await pilot.pause()
        assert header(app).oldest == "1m 05s"
        assert app.queue_screen.table.get_cell(rid, "age").plain == "1m 05s"
        assert app.queue_screen.table.widths["age"] >= len("1m 05s")


async def test_home_and_end_move_the_queue_cursor(pair, agent_factory):
    """Broken if Home/End scroll sideways instead of going to the oldest and newest request."""
    app = make_app(pair)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app)
        agent = await agent_factory(pair.sock)
        rids = [(await agent.request(auth_edit(f"edit {n}")))["request_id"] for n in range(3)]
        await queued(pilot, app, 3)
        table = app.queue_screen.table
        table.focus()
        await pilot.press("end")
        assert table.selected_id() == rids[-1]
        await pilot.press("home")
        assert table.selected_id() == rids[0]


async def test_queue_summary_stays_readable_at_80x24(pair, agent_factory):
    """Broken if the summary column is squeezed to a few characters in an 80x24 terminal (issue 12: it
    was 5)."""
    app = make_app(pair)
    async with app.run_test(size=(80, 24)) as pilot:
        await connected(pilot, app)
        agent = await agent_factory(pair.sock)
        rid = (await agent.request(auth_edit("Shorten the session lifetime to one hour")))["request_id"]
        await queued(pilot, app, 1)
        await pilot.pause()
        table = app.queue_screen.table
        assert table.widths["summary"] >= 24
        assert table.get_cell(rid, "summary").plain.startswith("src/auth/session.py")
        assert sum(table.widths.values()) + 2 * len(table.widths) <= 80
        assert "key locked" in header_text(app)  # who signs is said even at 80 columns


def test_plan_columns_shrinks_then_drops_before_starving_the_summary():
    """Broken if a narrow terminal leaves the summary under its wanted width while other columns keep
    their natural widths, or a wide one drops a column."""
    natural = {"actor": 18, "kind": 12, "rule": 18, "quorum": 30}
    wide = plan_columns(160, natural)
    assert set(wide) == {"age", "expires", "actor", "kind", "rule", "quorum", "summary"}
    assert wide["quorum"] == 30 and wide["summary"] >= 40
    narrow = plan_columns(80, natural)
    assert "kind" not in narrow and narrow["summary"] >= 24
    assert sum(narrow.values()) + 2 * len(narrow) <= 80


async def test_a_stopped_daemon_leaves_no_request_listed_as_pending(pair, agent_factory):
    """Broken if, after the daemon stops (and denies what was pending), the console still lists the
    request as waiting (issue 12)."""
    app = make_app(pair)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app)
        agent = await agent_factory(pair.sock)
        rid = (await agent.request(auth_edit()))["request_id"]
        await queued(pilot, app, 1)
        await agent.close()
        await pair.daemons[0].stop()
        await wait_until(pilot, lambda: app.link_state != "connected", what="the console to notice")
        await queued(pilot, app, 0)
        assert rid not in app.pending and header(app).pending == 0
    decisions = [
        r["body"] for r in pair.records() if r["type"] == "decision" and r["body"]["request_id"] == rid
    ]
    assert decisions[-1]["status"] == "denied"


def test_console_without_a_terminal_is_one_error_and_exit_2(monkeypatch, capsys):
    """Broken if `forge-tui console` with no terminal starts drawing escape codes and never exits."""
    from forge_tui import cli

    world = make_console_world(monkeypatch)
    monkeypatch.chdir(world.project.root)
    monkeypatch.setattr("forge_tui.commands.console.has_terminal", lambda: False)
    assert cli.main(["console", "--no-start"]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err.startswith("forge-tui: error: the console needs a terminal")
    assert out.err.count("\n") == 1 and "\x1b" not in out.err


def test_console_command_really_detects_a_pipe(tmp_path):
    """Broken if the terminal check passes for pipes (the real check, not a stand-in)."""
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", "from forge_tui.commands.console import has_terminal; print(has_terminal())"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=True,
    )
    assert proc.stdout.strip() == "False"
