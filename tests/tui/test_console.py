# ruff: noqa: F811 - pytest fixtures imported from console_kit are redefined as test parameters
"""The approval console against the REAL daemon (in-process, same event loop): every binding and flow.

Each test says what would be broken if it failed.
"""

from __future__ import annotations

import asyncio
import importlib.util
import io
import os
import shutil
import signal
import time
from pathlib import Path

import pytest
from console_kit import (  # noqa: F401 - fixtures
    DIFF,
    PASSPHRASE,
    agent_factory,
    auth_edit,
    console_world,
    daemon,
    make_console_world,
    wait_until,
)
from rich.syntax import Syntax
from rich.text import Text
from textual.widgets import Input, Select, Static

from forge_tui.protocol import LEDGER_UNAVAILABLE
from forge_tui.tui.app import ForgeApp, ForgeCommands
from forge_tui.tui.link import DaemonLink, DaemonUnavailable, LinkState
from forge_tui.tui.screens.dialogs import ConfirmDialog, MessageDialog, PassphraseDialog, ReasonDialog
from forge_tui.tui.screens.inspect import InspectScreen
from forge_tui.tui.widgets.header import ConsoleHeader

SIZE = (120, 40)


def make_app(world, **kw) -> ForgeApp:
    kw.setdefault("reviewer", None)
    app = ForgeApp.for_project(world.project, socket=world.review_sock, **kw)
    app.animation_level = "none"
    return app


def bells(app: ForgeApp) -> list[int]:
    rung: list[int] = []
    app.bell = lambda: rung.append(1)  # type: ignore[method-assign]
    return rung


def notes(app: ForgeApp) -> list[str]:
    return [f"{n.title}: {n.message}" for n in app._notifications]


def text_of(widget: Static) -> str:
    content = widget.content
    return content.plain if isinstance(content, Text) else str(content)


async def connected(pilot, app: ForgeApp) -> None:
    await wait_until(pilot, lambda: app.link_state == "connected", what="the console to connect")


async def queued(pilot, app: ForgeApp, n: int) -> None:
    await wait_until(pilot, lambda: len(app.queue_screen.table.items) == n, what=f"{n} rows in the queue")


# ---- the queue ----------------------------------------------------------------------------------------


async def test_queue_shows_live_requests_oldest_first_and_rings(console_world, daemon, agent_factory):
    """Broken if pending requests do not appear live, allowed ones do, the order is not oldest first, the
    columns lie, or a new request raises no notification and no bell."""
    app = make_app(console_world)
    rung = bells(app)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await connected(pilot, app)
        assert app.queue_screen.query_one("#empty", Static).display
        assert "No requests are waiting" in text_of(app.queue_screen.query_one("#empty", Static))
        agent = await agent_factory(console_world.sock)
        allowed = await agent.request({"kind": "file.read", "tool": "Read", "paths": ["README.md"]})
        assert allowed["status"] == "allowed"
        first = await agent.request(auth_edit("first edit"))
        await wait_until(pilot, lambda: len(rung) == 1, what="a bell for the first request")
        second = await agent.request(
            {"kind": "shell.exec", "tool": "Bash", "command": "make deploy"}, actor="bot"
        )
        await queued(pilot, app, 2)
        await wait_until(pilot, lambda: len(rung) == 2, what="a bell for the second request")
        table = app.queue_screen.table
        assert list(table.items) == [first["request_id"], second["request_id"]]
        assert [str(k.value) for k in table.rows] == [first["request_id"], second["request_id"]]
        row = [c.plain for c in table.get_row(first["request_id"])]
        assert row[2:] == [
            "claude",
            "file.write",
            "protect-auth",
            "0/1 · may: alice",
            "src/auth/session.py  agent says: first edit",  # the real action first, then its words
        ]
        assert row[1].startswith(("14m", "15m"))  # the policy's 15 minutes, counting down
        assert not app.queue_screen.query_one("#empty", Static).display
        assert any("New request waiting: bot: make deploy" in n for n in notes(app))
        # A burst of requests is announced once, naming them.
        await asyncio.gather(*(agent.request(auth_edit(f"burst {i}")) for i in range(4)))
        await wait_until(pilot, lambda: len(rung) == 3, what="one bell for the burst")
        burst = [n for n in notes(app) if n.startswith("4 new requests waiting")]
        assert len(burst) == 1 and "claude: src/auth/session.py" in burst[0] and "… and 1 more" in burst[0]
        await pilot.pause(0.5)  # longer than the gathering window: no second bell follows
        assert len(rung) == 3
        header = app.queue_screen.query_one(ConsoleHeader)
        assert header.state == "connected" and header.pending == 6


async def test_approve_confirmed_with_enter_leaves_queue_and_is_in_the_ledger(
    console_world, daemon, agent_factory, monkeypatch
):
    """Broken if `a` does not ask first, Enter does not confirm, the approval is not signed by the
    reviewer's key, or the request stays in the queue after the daemon allowed it."""
    monkeypatch.setenv("FORGE_PASSPHRASE", PASSPHRASE)  # one reviewer key: no question asked
    app = make_app(console_world)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await connected(pilot, app)
        agent = await agent_factory(console_world.sock)
        res = await agent.request(auth_edit())
        rid = res["request_id"]
        await queued(pilot, app, 1)
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the confirm dialog")
        assert rid in app.pending  # nothing sent before the confirmation
        await pilot.press("enter")
        await queued(pilot, app, 0)
        waited = await agent.call("gate.wait", {"request_id": rid, "wait_s": 5})
        assert (waited["status"], waited["decided_by"], waited["reason"]) == (
            "allowed",
            "reviewers",
            "approved by alice",
        )
        assert any(n.startswith("Approved:") for n in notes(app))
        assert app.queue_screen.query_one("#empty", Static).display
    approvals = [r for r in console_world.records() if r["type"] == "approval"]
    assert [a["body"]["approval"]["verdict"] for a in approvals] == ["approve"]
    assert approvals[0]["body"]["approval"]["reviewer"] == "alice"
    assert approvals[0]["body"]["reviewer_kid"] == console_world.keys["alice"].verifier.kid


async def test_escape_cancels_an_approval(console_world, daemon, agent_factory, monkeypatch):
    """Broken if cancelling the confirm dialog still sends an approval."""
    monkeypatch.setenv("FORGE_PASSPHRASE", PASSPHRASE)
    app = make_app(console_world)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app)
        agent = await agent_factory(console_world.sock)
        await agent.request(auth_edit())
        await queued(pilot, app, 1)
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the confirm dialog")
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is app.queue_screen, what="the queue again")
        await pilot.pause()
        assert len(app.pending) == 1
    assert not [r for r in console_world.records() if r["type"] == "approval"]


async def test_reject_asks_for_a_reason(console_world, daemon, agent_factory, monkeypatch):
    """Broken if a rejection can be sent without a reason, or the reason does not reach the agent."""
    monkeypatch.setenv("FORGE_PASSPHRASE", PASSPHRASE)
    app = make_app(console_world)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app)
        agent = await agent_factory(console_world.sock)
        rid = (await agent.request(auth_edit()))["request_id"]
        await queued(pilot, app, 1)
        await pilot.press("r")
        dialog = await wait_until(
            pilot,
            lambda: app.screen if isinstance(app.screen, ReasonDialog) else None,
            what="the reason dialog",
        )
        await pilot.press("enter")  # empty: refused by the dialog itself
        await pilot.pause()
        assert app.screen is dialog
        assert "needs a reason" in text_of(dialog.query_one("#error", Static))
        await pilot.press(*"not [b]now[/b]")
        await pilot.press("enter")
        await queued(pilot, app, 0)
        waited = await agent.call("gate.wait", {"request_id": rid, "wait_s": 5})
        assert waited["status"] == "denied"
        assert waited["reason"] == "rejected by alice: not [b]now[/b]"


async def test_self_approval_is_refused_plainly(console_world, daemon, agent_factory, monkeypatch):
    """Broken if a reviewer approving their own request crashes the console, is silently ignored, or is
    not shown as the daemon's refusal (4002) with the request still waiting."""
    monkeypatch.setenv("FORGE_PASSPHRASE", PASSPHRASE)
    app = make_app(console_world)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app)
        agent = await agent_factory(console_world.sock)
        rid = (await agent.request(auth_edit(), actor="alice", kind="human"))["request_id"]
        await queued(pilot, app, 1)
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the confirm dialog")
        await pilot.press("enter")
        dialog = await wait_until(
            pilot,
            lambda: (
                app.screen if isinstance(app.screen, MessageDialog) and app.screen.query("#title") else None
            ),
            what="the refusal, composed",
        )
        assert text_of(dialog.query_one("#title")) == "Self-approval refused"
        body = text_of(dialog.query_one("#body", Static))
        assert f"self-approval refused: alice is the requester of {rid}" in body
        assert "error 4002" in body
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen is app.queue_screen, what="the queue again")
        assert rid in app.pending and app.is_running
    kinds = [r["body"]["kind"] for r in console_world.records() if r["type"] == "violation"]
    assert kinds == ["self_approval"]


async def test_passphrase_asked_once_with_a_choice_of_reviewer(monkeypatch, agent_factory):
    """Broken if the console signs without the passphrase, does not let the user pick among several
    keys, crashes on a wrong passphrase, or asks again within the same session."""
    world = make_console_world(monkeypatch, reviewers=("alice", "bob"))
    await world.start_daemon()
    try:
        app = make_app(world)
        async with app.run_test(size=SIZE) as pilot:
            await connected(pilot, app)
            agent = await agent_factory(world.sock)
            r1 = (await agent.request(auth_edit("one")))["request_id"]
            r2 = (await agent.request(auth_edit("two")))["request_id"]
            await queued(pilot, app, 2)
            await pilot.press("a")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="confirm")
            await pilot.press("enter")
            dialog = await wait_until(
                pilot,
                lambda: app.screen if isinstance(app.screen, PassphraseDialog) else None,
                what="passphrase",
            )
            dialog.query_one("#who", Select).value = "bob"
            await pilot.press(*"wrong", "enter")
            dialog = await wait_until(
                pilot,
                lambda: (
                    app.screen
                    if isinstance(app.screen, PassphraseDialog) and app.screen is not dialog
                    else None
                ),
                what="the passphrase dialog again",
            )
            assert "wrong passphrase" in text_of(dialog.query_one("#error", Static))
            dialog.query_one("#who", Select).value = "bob"
            dialog.query_one("#passphrase", Input).value = PASSPHRASE
            await pilot.press("enter")
            await queued(pilot, app, 1)
            assert r1 not in app.pending
            # The second approval in the same session signs without asking again.
            await pilot.press("a")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="confirm")
            await pilot.press("enter")
            await queued(pilot, app, 0)
            assert r2 not in app.pending
        reviewers = [r["body"]["approval"]["reviewer"] for r in world.records() if r["type"] == "approval"]
        assert reviewers == ["bob", "bob"]
    finally:
        for d in world.daemons:
            await d.stop()


async def test_an_approval_short_of_the_quorum_updates_the_row(
    console_world, daemon, agent_factory, monkeypatch
):
    """Broken if a rule needing two reviewers loses its request after one approval, or the row does not
    show the approvals so far (request.updated)."""
    monkeypatch.setenv("FORGE_PASSPHRASE", PASSPHRASE)
    app = make_app(console_world)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await connected(pilot, app)
        agent = await agent_factory(console_world.sock)
        rid = (await agent.request({"kind": "deploy", "tool": "Bash", "command": "make deploy"}))[
            "request_id"
        ]
        await queued(pilot, app, 1)
        assert app.queue_screen.table.get_cell(rid, "quorum").plain == "0/2 · may: alice"
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="confirm")
        await pilot.press("enter")
        await wait_until(
            pilot,
            lambda: app.queue_screen.table.get_cell(rid, "quorum").plain.startswith("1/2 ✓alice"),
            what="1/2 approvals",
        )
        assert rid in app.pending
        # The row follows the daemon's event; the notification follows its reply, which may come later.
        await wait_until(
            pilot,
            lambda: any(n.startswith("Approval recorded:") and "1 of 2" in n for n in notes(app)),
            what="the notification",
        )


async def test_policy_errors_and_reloads_are_shown(console_world, daemon):
    """Broken if a policy that fails to load is not shown (header and notification), or the error stays
    after a good policy is back."""
    from console_kit import POLICY

    from forge_tui.paths import atomic_write

    app = make_app(console_world)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await connected(pilot, app)
        header = app.queue_screen.query_one(ConsoleHeader)
        atomic_write(console_world.project.policy_path, b"version = 1\ndefault = [oops\n")
        await wait_until(pilot, lambda: header.policy_error, what="the policy error in the header")
        assert any(n.startswith("Policy error:") for n in notes(app))
        atomic_write(console_world.project.policy_path, POLICY.encode())
        await wait_until(pilot, lambda: not header.policy_error, what="the error to clear")
        assert any(n.startswith("Policy reloaded:") for n in notes(app))


async def test_open_policy_panel_follows_reload_events(console_world, daemon):
    """Broken if the policy panel, open while the daemon's policy breaks and is fixed, keeps showing the
    status it was opened with."""
    from console_kit import POLICY

    from forge_tui.paths import atomic_write

    app = make_app(console_world)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await connected(pilot, app)
        await pilot.press("p")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "PolicyScreen", what="the policy panel")
        panel = app.screen
        assert not (panel.entry or {}).get("error")
        atomic_write(console_world.project.policy_path, b"version = 1\ndefault = [oops\n")
        await wait_until(pilot, lambda: (panel.entry or {}).get("error"), what="the error in the open panel")
        atomic_write(console_world.project.policy_path, POLICY.encode())
        await wait_until(pilot, lambda: not (panel.entry or {}).get("error"), what="the error to clear")


async def test_the_header_says_while_the_ledger_cannot_be_written_and_when_it_heals(
    console_world, daemon, agent_factory, monkeypatch
):
    """Issue 10: a write path in fault denies every request (5001). Broken if the header does not say so,
    with the failed call, or keeps saying so once the daemon healed by itself."""
    import errno

    from forge_tui.core import oscalls

    failing = {"on": True}

    def before(call: str, site: str) -> None:
        if failing["on"] and (call, site) == ("write", "ledger"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    app = make_app(console_world)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await connected(pilot, app)
        header = app.queue_screen.query_one(ConsoleHeader)
        agent = await agent_factory(console_world.sock)
        monkeypatch.setattr(oscalls.DEFAULT, "before", before)
        err = await agent.error(
            "gate.request", {"action": {"kind": "file.read", "paths": ["a"]}, "actor": {"id": "c"}}
        )
        assert err["code"] == LEDGER_UNAVAILABLE
        await wait_until(
            pilot, lambda: header.ledger_state == "degraded", what="the degraded ledger in the header"
        )
        shown = header.render().plain
        assert "ledger degraded, denying" in shown and "No space left" in shown, shown
        failing["on"] = False
        await wait_until(
            pilot, lambda: header.ledger_state not in ("degraded", "tracked_stale"), what="healing"
        )
        assert "ledger degraded" not in header.render().plain


# ---- inspect --------------------------------------------------------------------------------------------


async def test_inspect_shows_diff_history_and_untrusted_text_literally(console_world, daemon, agent_factory):
    """Broken if Enter does not open the request, the diff is not highlighted as a diff, markup in agent
    text is interpreted, an escape sequence reaches the terminal, or the session's earlier actions are
    missing."""
    app = make_app(console_world)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app)
        agent = await agent_factory(console_world.sock)
        earlier = await agent.request(
            {"kind": "file.read", "tool": "Read", "paths": ["README.md"], "summary": "Read README"}
        )
        await agent.call("gate.outcome", {"request_id": earlier["request_id"], "status": "succeeded"})
        await agent.request({"kind": "file.read", "tool": "Read", "paths": ["x"]}, session="other-session")
        rid = (
            await agent.request(
                {
                    "kind": "file.write",
                    "tool": "Edit",
                    "paths": ["src/auth/session.py"],
                    "command": "echo \x1b[31mred\x1b[0m",
                    "summary": "[bold red]x[/]",
                },
                content={"kind": "diff", "text": DIFF},
                requirement="SEC-142",
            )
        )["request_id"]
        await queued(pilot, app, 1)
        await pilot.press("enter")
        screen = await wait_until(
            pilot, lambda: app.screen if isinstance(app.screen, InspectScreen) else None, what="inspect"
        )
        assert screen.request_id == rid
        action = text_of(screen.query_one("#action", Static))
        assert "[bold red]x[/]" in action
        assert "echo \\x1b[31mred\\x1b[0m" in action and "\x1b" not in action
        content = screen.query_one("#content", Static).content
        assert isinstance(content, Syntax) and "diff" in content.lexer.aliases
        assert content.code == DIFF
        why = text_of(screen.query_one("#why", Static))
        assert (
            "SEC-142" in why and "protect-auth" in why and "authentication code needs a human review" in why
        )
        who = text_of(screen.query_one("#who", Static))
        assert "claude" in who and "s1" in who and f"pid {os.getpid()}" in who
        assert "agent claims  dana" in who, "the claimed principal is not shown as a claim"
        history = screen.query_one("#history", Static)
        await wait_until(pilot, lambda: "README" in _rendered(app, history), what="the session history")
        shown = _rendered(app, history)
        assert earlier["request_id"] in shown and "allowed" in shown and "succeeded" in shown
        assert "other-session" not in shown and "x" not in shown.split("README")[-1].split()
        # The screen as painted: markup literal, no raw escape in the output.
        svg = app.export_screenshot()
        assert "[bold&#160;red]x[/]" in svg or "[bold red]x[/]" in svg
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is app.queue_screen, what="back to the queue")


def _rendered(app: ForgeApp, widget: Static) -> str:
    from rich.console import Console

    console = Console(width=200, record=True, color_system=None, file=io.StringIO())
    console.print(widget.content)
    return console.export_text()


async def test_approve_from_inspect_and_decision_by_someone_else(
    console_world, daemon, agent_factory, monkeypatch
):
    """Broken if `a` on the inspect screen does not act on the inspected request, or a request decided
    elsewhere is not shown as decided there (and can still be approved)."""
    monkeypatch.setenv("FORGE_PASSPHRASE", PASSPHRASE)
    app = make_app(console_world)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app)
        agent = await agent_factory(console_world.sock)
        r1 = (await agent.request(auth_edit("one")))["request_id"]
        r2 = (await agent.request(auth_edit("two")))["request_id"]
        await queued(pilot, app, 2)
        await pilot.press("down", "enter")  # the second row
        screen = await wait_until(
            pilot, lambda: app.screen if isinstance(app.screen, InspectScreen) else None, what="inspect"
        )
        assert screen.request_id == r2
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="confirm")
        await pilot.press("enter")
        await wait_until(pilot, lambda: r2 not in app.pending, what="r2 decided")
        assert r1 in app.pending
        await wait_until(
            pilot, lambda: app.screen is app.queue_screen, what="back to the queue after deciding"
        )
        # Now r1 is decided by another reviewer (the headless path) while it is open here.
        await pilot.press("enter")
        screen = await wait_until(
            pilot, lambda: app.screen if isinstance(app.screen, InspectScreen) else None, what="inspect"
        )
        from forge_tui.review import build_approval

        item = app.pending[r1]
        key = console_world.keys["alice"]
        appr = build_approval(r1, item["request_hash"], "reject", "from the CLI", "alice")
        headless = await agent_factory(console_world.review_sock)  # a second reviewer, on the reviewer socket
        await headless.call("queue.decide", {"approval": appr, "reviewer_sig": key.sign_approval(appr)})
        await wait_until(pilot, lambda: screen.decided is not None, what="the inspect screen to hear of it")
        assert "Decided: denied by reviewers" in text_of(screen.query_one("#banner", Static))
        assert app.check_action("approve", ()) is False


# ---- the other views, the palette, the keymap ----------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "module", "screen_name"),
    [("l", "ledger", "LedgerScreen"), ("v", "verify", "VerifyScreen"), ("p", "policy", "PolicyScreen")],
)
async def test_view_bindings_open_their_screens(console_world, daemon, key, module, screen_name):
    """Broken if l/v/p do not open the ledger, verify and policy views (or, in a build without one,
    crash instead of saying so)."""
    app = make_app(console_world)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await connected(pilot, app)
        await pilot.press(key)
        await pilot.pause()
        if importlib.util.find_spec(f"forge_tui.tui.screens.{module}") is not None:
            await wait_until(pilot, lambda: type(app.screen).__name__ == screen_name, what=screen_name)
        else:
            assert app.screen is app.queue_screen
            assert any(f"the {module} view is not available" in n for n in notes(app))


async def test_q_quits_and_leaves_the_daemon_running(console_world, daemon, agent_factory):
    """Broken if `q` does not leave the console, or leaving it takes the daemon (and the agents' pending
    requests) down with it."""
    app = make_app(console_world)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app)
        await pilot.press("q")
        await wait_until(pilot, lambda: not app.is_running, what="the console to quit")
    agent = await agent_factory(console_world.sock)
    assert (await agent.request(auth_edit()))["status"] == "pending"


async def test_command_palette_offers_console_commands(console_world, daemon):
    """Broken if verify, reload policy, screenshot and open ledger are missing from the palette, or
    reloading the policy from it does not reach the daemon."""
    app = make_app(console_world)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await connected(pilot, app)
        provider = ForgeCommands(app.screen)
        names = [h.text async for h in provider.discover()]
        assert names == [
            "Verify the ledger",
            "Reload the policy",
            "Lock the reviewer key",
            "Hand over: unlock another reviewer key",
            "Approve the pending policy change",
            "Save a screenshot",
            "Open the ledger",
            "Show the policy",
            "Reconnect to the daemon",
        ]
        hits = [h async for h in provider.search("reload")]
        assert [h.text for h in hits] == ["Reload the policy"]
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"reload the policy")
        await wait_until(pilot, lambda: _palette_first(app) == "Reload the policy", what="the palette hit")
        await pilot.press("enter")
        await wait_until(
            pilot, lambda: any("the daemon reloaded the policy" in n for n in notes(app)), what="reload"
        )


def _palette_first(app: ForgeApp) -> str | None:
    lists = app.screen.query("CommandList")
    if not lists or not lists.first().option_count:
        return None
    prompt = lists.first().get_option_at_index(0).prompt
    return str(getattr(prompt, "plain", prompt)).split("\n")[0]


async def test_keymap_from_the_user_config_rebinds_approve(console_world, daemon, agent_factory, monkeypatch):
    """Broken if the [keymap] table of config.toml is not applied by binding id."""
    monkeypatch.setenv("FORGE_PASSPHRASE", PASSPHRASE)
    console_world.config('[keymap]\n"app.approve" = "y"\n[keymap.app]\nreject = "n"\n')
    app = make_app(console_world)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app)
        agent = await agent_factory(console_world.sock)
        await agent.request(auth_edit())
        await queued(pilot, app, 1)
        await pilot.press("a")
        await pilot.pause()
        assert app.screen is app.queue_screen  # `a` no longer approves
        await pilot.press("y")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="confirm via y")
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is app.queue_screen, what="queue")
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, ReasonDialog), what="reject via n")


async def test_a_broken_config_is_reported_not_fatal(console_world, daemon):
    """Broken if a malformed config.toml stops the console instead of being shown."""
    console_world.config("[keymap\n")
    app = make_app(console_world)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await connected(pilot, app)
        assert any(n.startswith("config:") and "config.toml" in n for n in notes(app))


# ---- the daemon goes away and comes back ---------------------------------------------------------------


async def test_reconnects_after_the_daemon_restarts(console_world, daemon, agent_factory, monkeypatch):
    """Broken if the console crashes or hides that the daemon is down, lets the reviewer try to approve
    meanwhile, or does not reconnect and show the new daemon's queue."""
    monkeypatch.setenv("FORGE_PASSPHRASE", PASSPHRASE)
    app = make_app(console_world)
    async with app.run_test(size=SIZE) as pilot:
        await connected(pilot, app)
        agent = await agent_factory(console_world.sock)
        await agent.request(auth_edit("before the restart"))
        await queued(pilot, app, 1)
        await agent.close()
        await daemon.stop()
        await wait_until(pilot, lambda: app.link_state != "connected", what="the console to notice")
        header = app.queue_screen.query_one(ConsoleHeader)
        assert header.state in ("disconnected", "connecting")
        assert app.check_action("approve", ()) is False
        await pilot.press("a")
        await pilot.pause()
        assert app.screen is app.queue_screen  # no dialog for a daemon that is not there
        await console_world.start_daemon()
        await connected(pilot, app)
        # The old daemon denied its pending request on shutdown: the fresh queue is empty.
        await queued(pilot, app, 0)
        agent2 = await agent_factory(console_world.sock)
        rid = (await agent2.request(auth_edit("after the restart")))["request_id"]
        await queued(pilot, app, 1)
        assert list(app.pending) == [rid]
        assert app.queue_screen.query_one(ConsoleHeader).state == "connected"


async def test_link_is_unavailable_while_down_and_retries(tmp_path):
    """Broken if a call on a down link hangs, or the link raises instead of reporting and retrying."""
    posted: list[object] = []
    link = DaemonLink(
        Path("/tmp/forge-no-such-daemon.sock"), posted.append, min_backoff=0.01, max_backoff=0.02
    )
    with pytest.raises(DaemonUnavailable):
        await link.call("status")
    task = asyncio.create_task(link.run())
    deadline = asyncio.get_running_loop().time() + 5
    while sum(1 for m in posted if isinstance(m, LinkState) and m.state == "disconnected") < 3:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.01)  # polling a condition with a deadline
    await link.close()
    await asyncio.wait_for(task, 5)
    states = [m for m in posted if isinstance(m, LinkState)]
    assert states[0].state == "connecting"
    assert "no daemon at" in states[1].detail and states[1].retry_in == 0.01


# ---- `forge-tui` with no command -----------------------------------------------------------------------


def _answers(sock: Path) -> bool:
    from forge_tui.client import RPCError
    from forge_tui.daemon.spawn import daemon_answers

    try:
        return daemon_answers(sock, timeout=0.2)
    except RPCError:  # shutting down: it still answers, with an error
        return True


def test_forge_tui_without_a_command_starts_the_daemon_and_opens_the_console(monkeypatch):
    """Broken if `forge-tui` alone does not find the project, start a daemon when none answers, and open
    the console on its socket."""
    from forge_tui import cli
    from forge_tui.daemon.spawn import daemon_answers

    world = make_console_world(monkeypatch)
    opened: list[ForgeApp] = []
    monkeypatch.setattr(ForgeApp, "run", lambda self, *a, **k: opened.append(self))
    monkeypatch.setattr("forge_tui.commands.console.has_terminal", lambda: True)
    monkeypatch.chdir(world.project.root)
    from forge_tui.paths import review_socket_path, socket_path

    sock = socket_path(world.project.project_id)
    review = review_socket_path(world.project.project_id)
    assert not daemon_answers(sock)
    try:
        assert cli.main([]) == 0
        assert daemon_answers(sock, timeout=30) and daemon_answers(review, timeout=30)
        (app,) = opened  # the console talks to the reviewer socket, the agent socket stays the agents'
        assert app.socket == review and app.project.project_id == world.project.project_id
    finally:
        pid = int((world.project.state_dir / "daemon.lock").read_text().split()[0])
        os.kill(pid, signal.SIGTERM)  # the daemon this test started (its pid from its lock file)
        deadline = time.monotonic() + 15
        while _answers(sock) and time.monotonic() < deadline:
            time.sleep(0.02)  # polling a condition with a deadline
        shutil.rmtree(world.home, ignore_errors=True)
