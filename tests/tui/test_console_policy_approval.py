# ruff: noqa: F811 - pytest fixtures imported from console_kit are redefined as test parameters
"""A pending policy change approved from the console (issue 7 §2): `A` (or the command palette) shows
the change's diff, escaped, and the reviewer's key signs its digest, the statement `forge-tui policy
approve --as NAME` signs; the daemon puts it in force and the ledger records who approved it."""

from __future__ import annotations

import hashlib

from console_kit import (  # noqa: F401 - fixtures
    PASSPHRASE,
    POLICY,
    console_world,
    daemon,
    wait_until,
)
from rich.text import Text
from textual.widgets import Static

from forge_tui.paths import atomic_write
from forge_tui.tui.app import ForgeApp
from forge_tui.tui.screens.dialogs import ConfirmDialog

SIZE = (120, 40)
# A looser policy, with a comment that tries to fool the reviewer's terminal (a C1 CSI, a bidi override:
# TOML allows both in comments, though not ESC).
LOOSER = POLICY.replace('default = "ask"', 'default = "allow"') + "# \x9b2Jall fine\u202e\n"


def make_app(world) -> ForgeApp:
    app = ForgeApp.for_project(world.project, socket=world.review_sock, reviewer=None)
    app.animation_level = "none"
    return app


def pending_digest(app: ForgeApp) -> str | None:
    return (((app.status or {}).get("policy") or {}).get("pending") or {}).get("digest")


async def test_a_policy_change_is_approved_from_the_console(console_world, daemon, monkeypatch):
    """Broken if the console cannot put a reviewed policy change in force, shows its diff unescaped,
    or the ledger does not name the reviewer who signed the new digest."""
    monkeypatch.setenv("FORGE_PASSPHRASE", PASSPHRASE)
    app = make_app(console_world)
    digest = hashlib.sha256(LOOSER.encode()).hexdigest()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_until(pilot, lambda: app.link_state == "connected", what="the console to connect")
        assert not app.check_action("approve_policy", ()), "offered with no change pending"
        atomic_write(console_world.project.policy_path, LOOSER.encode())
        await wait_until(
            pilot,
            lambda: daemon.policies.pending is not None,
            timeout=30,
            what="the daemon to see the change",
        )
        await wait_until(pilot, lambda: pending_digest(app) == digest, timeout=30, what="the pending change")
        assert daemon.policies.current.digest != digest, "the change took effect before anyone approved it"
        await pilot.press("A")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the dialog")
        body = app.screen.query_one(".dialog-body", Static).content
        assert isinstance(body, Text)
        assert f"proposed   {digest[:12]}" in body.plain
        assert '+default = "allow"' in body.plain and '-default = "ask"' in body.plain
        assert "\\x9b2J" in body.plain and "\\u202e" in body.plain
        assert "\x9b" not in body.plain and "\u202e" not in body.plain
        await pilot.press("enter")
        await wait_until(pilot, lambda: daemon.policies.current.digest == digest, what="the change in force")
        await wait_until(
            pilot, lambda: any(n.title == "Policy approved" for n in app._notifications), what="the note"
        )
    approved = [
        r["body"]
        for r in console_world.records()
        if r["type"] == "policy" and r["body"].get("event") == "approved" and r["body"]["digest"] == digest
    ]
    assert len(approved) == 1
    assert approved[0]["approval"]["reviewer"] == "alice"
    assert approved[0]["reviewer_kid"] == console_world.keys["alice"].verifier.kid
    assert approved[0]["approval"]["checkpoint"]["size"] > 0  # the reviewer witnessed the ledger it saw


async def test_escape_leaves_the_change_pending(console_world, daemon, monkeypatch):
    """Broken if cancelling the dialog signs anything or puts the change in force."""
    app = make_app(console_world)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.link_state == "connected", what="the console to connect")
        atomic_write(console_world.project.policy_path, LOOSER.encode())
        await wait_until(pilot, lambda: pending_digest(app), timeout=30, what="the pending change")
        before = len(console_world.records())
        await pilot.press("A")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the dialog")
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, ConfirmDialog), what="the dialog to close")
        await pilot.pause()
    assert daemon.policies.pending is not None
    assert len(console_world.records()) == before
