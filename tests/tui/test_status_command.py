# ruff: noqa: F811 - pytest fixtures imported from console_kit are redefined as test parameters
"""`forge-tui status`: the queue at a glance without the console (issue 13, "notice without watching").

Each test says what would be broken if it failed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from console_kit import agent_factory, auth_edit, console_world, daemon  # noqa: F401 - fixtures

from forge_tui.commands.status import Summary, short_line


def status(world, *args: str) -> subprocess.CompletedProcess:
    """`forge-tui status ARGS` in a fresh interpreter inside the world's project."""
    env = {**os.environ, "FORGE_SOCKET": str(world.sock), "FORGE_REVIEW_SOCKET": str(world.review_sock)}
    return subprocess.run(
        [sys.executable, "-m", "forge_tui", "status", *args],
        cwd=world.project.root,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


async def test_short_status_is_one_line_with_count_age_and_ledger(console_world, daemon, agent_factory):
    """Broken if a status bar cannot tell that requests wait and for how long, or the JSON form lies."""
    import asyncio

    idle = await asyncio.to_thread(status, console_world, "--short")
    assert (idle.returncode, idle.stdout) == (0, "forge: 0 pending · ledger ok\n")
    agent = await agent_factory(console_world.sock)
    await agent.request(auth_edit("one"))
    await agent.request(auth_edit("two\x1b[31m"))
    busy = await asyncio.to_thread(status, console_world, "--short")
    assert busy.returncode == 0
    assert busy.stdout.startswith("forge: 2 pending · oldest ") and busy.stdout.endswith(" · ledger ok\n")
    as_json = json.loads((await asyncio.to_thread(status, console_world, "--json")).stdout)
    assert (as_json["daemon"], as_json["pending"], as_json["ledger"]) == ("up", 2, "ok")
    assert as_json["oldest_s"] is not None and as_json["oldest_s"] >= 0
    full = await asyncio.to_thread(status, console_world)
    assert "pending  2" in full.stdout and "\x1b" not in full.stdout  # agent text cannot paint the terminal


def test_short_status_without_a_daemon_says_so_and_exits_3(console_world):
    """Broken if a prompt shows a stale or empty queue when nothing answers (it must say `down`)."""
    down = status(console_world, "--short")
    assert (down.returncode, down.stdout) == (3, "forge: daemon down\n")


def test_status_imports_only_the_standard_library(console_world):
    """Broken if `status --short` (run every few seconds) pulls in textual, rich, nacl or platformdirs."""
    code = (
        "import sys\n"
        "from forge_tui.cli import main\n"
        "main(['status', '--short'])\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'textual', 'rich', 'nacl', 'platformdirs'})\n"
        "print('heavy:', heavy)\n"
    )
    env = {
        **os.environ,
        "FORGE_SOCKET": str(console_world.sock),
        "FORGE_REVIEW_SOCKET": str(console_world.review_sock),
    }
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=console_world.project.root,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert out.stdout.strip().endswith("heavy: []"), out.stdout + out.stderr


def test_short_line_names_a_broken_ledger_and_a_policy_error():
    """Broken if a status bar hides that the ledger cannot be written (everything is being denied)."""
    s = Summary("shop", "up", pending=1, oldest_s=65, ledger="broken", policy_error="x")
    assert short_line(s) == "forge: 1 pending · oldest 1m 05s · ledger broken · policy error"


def test_status_names_a_degraded_or_stale_ledger_from_its_health():
    """Issue 10: `status` said `ledger ok` while the gate denied everything (a write path in fault) or
    the tracked copy could not be updated. Broken if either state, or its cause, is hidden."""
    from forge_tui.commands.status import ledger_fault, ledger_state

    def st(state: str, **kw) -> dict:
        health = {"state": state, "fault": None, "tracked_error": None, **kw}
        return {"ledger": {"id": "x", "broken": False, "health": health}}

    assert ledger_state(st("ok")) == "ok" and ledger_fault(st("ok")) is None
    down = st("degraded", fault="fdatasync ledger: [Errno 28] No space left on device")
    down["ledger"]["broken"] = down["ledger"]["health"]["fault"]  # the daemon sends both names
    assert ledger_state(down) == "degraded" and "No space left" in (ledger_fault(down) or "")
    stale = st("tracked_stale", tracked_error="cannot update .forge/ledger: Operation not permitted")
    assert ledger_state(stale) == "tracked-stale" and "not permitted" in (ledger_fault(stale) or "")
    s = Summary("shop", "up", ledger=ledger_state(stale), ledger_fault=ledger_fault(stale))
    assert short_line(s) == "forge: 0 pending · ledger tracked-stale"
