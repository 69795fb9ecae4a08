"""Screenshots of the console: `python -m forge_tui.tui.screenshots OUTDIR`.

Everything runs in a scratch folder: the deterministic sample project (fixed ids, keys and clock for
its history, see forge_tui.tui.sample), a real daemon started on it, the demo agent's requests sent
through forge_tui.client, and the real `ForgeApp` driven by Textual's Pilot. What the daemon writes
from then on carries real time stamps and request ids; everything before is the same on every run.

The sample's reviewers alice and bob are enrolled in its ledger (the daemon trusts enrolment records,
not reviewers.toml). The authentication edit needs two approvals here: the sample records a policy change,
approved by alice, that puts `approvals = 2` on its rule; bob approves the edit first, so the queue,
Inspect and the approval dialog show a quorum half-way, with alice (whose key is unlocked: the header says
who signs) the one who may complete it.

Writes queue.svg, inspect.svg, inspect-quorum.svg, approve.svg, ledger.svg, verify.svg, verify-tampered.svg, policy.svg and
policy-error.svg into OUTDIR.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from forge_tui.protocol import GATE_OUTCOME, GATE_REQUEST, QUEUE_DECIDE, QUEUE_LIST

SIZE = (120, 34)
PENDING_WANTED = 5  # the auth edit, the curl pipe, the deploy, the markup echo and the bot's tag push
AGE_S = 95


def isolate(base: Path) -> dict[str, str]:
    """Point every folder forge-tui uses into `base` (keys, runtime, config); returns the environment."""
    env = {
        "FORGE_DATA_DIR": str(base / "data"),
        "FORGE_RUNTIME_DIR": str(base / "run"),
        "FORGE_TUI_CONFIG": str(base / "config.toml"),  # no user keymap in the pictures
        "FORGE_PASSPHRASE": "demo",
        "HOME": str(base / "home"),
        "XDG_CONFIG_HOME": str(base / "home" / ".config"),
        "XDG_DATA_HOME": str(base / "home" / ".local" / "share"),
    }
    for key in ("FORGE_DATA_DIR", "FORGE_RUNTIME_DIR", "HOME"):
        Path(env[key]).mkdir(parents=True, exist_ok=True, mode=0o700)
    os.environ.update(env)
    os.environ.pop("FORGE_SOCKET", None)
    return {**os.environ, **env}


def pair_policy(policy: str) -> str:
    """The sample policy with two approvals on the authentication rule."""
    marker = 'id = "protect-auth"\n'
    assert marker in policy
    head, tail = policy.split(marker, 1)
    return head + marker + tail.replace('decision = "ask"\n', 'decision = "ask"\napprovals = 2\n', 1)


def first_approval(review_sock: Path, log: Callable[[str], None]) -> None:
    """bob approves the authentication edit: one of its two approvals."""
    from forge_tui.client import Client
    from forge_tui.review import build_approval
    from forge_tui.tui.sample import reviewer_key

    bob = reviewer_key("bob")
    with Client(review_sock, client="review", timeout=30) as c:
        pending = c.call(QUEUE_LIST, {})["pending"]
        item = next(p for p in pending if "src/auth" in str((p.get("action") or {}).get("paths")))
        appr = build_approval(item["request_id"], item["request_hash"], "approve", "", "bob")
        res = c.call(QUEUE_DECIDE, {"approval": appr, "reviewer_sig": bob.sign_approval(appr)})
    log(f"  bob approves the auth edit: {res['status']} ({res.get('approvals')} of {res.get('needed')})")


def send_requests(sock: Path, log: Callable[[str], None]) -> None:
    """The demo agent's script through the real gate, without waiting for reviewers."""
    from forge_tui.client import Client, RPCError
    from forge_tui.demo import script

    for step in script():
        params = step.params()
        with Client(sock, client="sdk", timeout=30) as c:
            try:
                res = c.call(GATE_REQUEST, params)
            except RPCError as exc:
                log(f"  {step.say}: refused ({exc.message})")
                continue
            log(f"  {step.say}: {res['status']} ({res.get('rule') or 'default'})")
            if res["status"] == "allowed" and step.outcome:
                c.call(GATE_OUTCOME, {"request_id": res["request_id"], "status": step.outcome})


async def until(pilot: Any, pred: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Let the app run until `pred()` holds (a condition with a deadline, not a fixed wait)."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            print(f"screenshots: timed out waiting for {what} (screen {pilot.app.screen!r})", file=sys.stderr)
            raise TimeoutError(what)
        await pilot.pause(0.05)


async def settle(pilot: Any, screen: Any) -> None:
    """Wait for the workers of `screen` (not the app's daemon link, which runs for good)."""
    app = pilot.app
    mine = [w for w in app.workers if w.node is screen]
    if mine:  # an empty list would mean "every worker"
        await app.workers.wait_for_complete(mine)
    await pilot.pause()


async def drive(app: Any, out: Path, sample: Any, log: Callable[[str], None]) -> None:
    from forge_tui.tui.sample import SAMPLE_POLICY, tamper
    from forge_tui.tui.screens.dialogs import ConfirmDialog
    from forge_tui.tui.screens.inspect import InspectScreen
    from forge_tui.tui.screens.ledger import LedgerScreen
    from forge_tui.tui.screens.policy import PolicyScreen
    from forge_tui.tui.screens.verify import VerifyScreen

    def save(name: str) -> None:
        (out / name).write_text(app.export_screenshot(), encoding="utf-8")
        log(f"wrote {out / name}")

    async with app.run_test(size=SIZE) as pilot:
        # alice's key, as if unlocked earlier (the sample keeps reviewer keys in memory only): the
        # header says who signs.
        from forge_tui.tui.sample import reviewer_key

        app.signing.unlock(reviewer_key("alice"))
        await until(pilot, lambda: len(app.pending) >= PENDING_WANTED, "the pending requests")
        await until(pilot, lambda: app.status is not None, "the daemon status")
        table = app.queue_screen.table
        table.focus()
        auth = next(
            rid
            for rid, item in table.items.items()
            if "src/auth" in str((item.get("action") or {}).get("paths"))
        )
        table.move_cursor(row=table.get_row_index(auth))
        await pilot.pause()
        save("queue.svg")

        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, InspectScreen), "the inspect screen")
        await settle(pilot, app.screen)
        await until(pilot, lambda: app.screen.checks is not None, "the approvals' signature checks")
        save("inspect.svg")
        # The quorum half-way: bob's approval, its OS account and signature, who may still approve.
        app.screen.sections["approvals"].scroll_visible(top=False, animate=False)
        await pilot.pause()
        save("inspect-quorum.svg")
        app.screen.query_one("#inspect").scroll_home(animate=False)
        await pilot.pause()

        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the approve dialog")
        await pilot.pause()
        save("approve.svg")
        await pilot.press("escape")  # cancel: nothing is signed
        await until(pilot, lambda: isinstance(app.screen, InspectScreen), "the dialog to close")
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is app.queue_screen, "the queue")

        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, LedgerScreen), "the ledger screen")
        await settle(pilot, app.screen)
        save("ledger.svg")
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is app.queue_screen, "the queue")

        await pilot.press("v")
        await until(pilot, lambda: isinstance(app.screen, VerifyScreen), "the verify screen")
        await until(pilot, lambda: app.screen.report is not None, "the verification")
        await pilot.pause()
        save("verify.svg")
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is app.queue_screen, "the queue")

        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, PolicyScreen), "the policy screen")
        await pilot.pause()
        save("policy.svg")
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is app.queue_screen, "the queue")

        # A broken edit of the policy: the daemon keeps the last good one and reports the error.
        broken = pair_policy(SAMPLE_POLICY).replace('decision = "deny"', 'decision = "denny"')
        sample.project.policy_path.write_text(broken, encoding="utf-8")
        await until(pilot, lambda: bool(app.policy_error), "the daemon's policy error")
        app.action_reload_policy()  # refreshes app.status with the daemon's description
        await until(
            pilot,
            lambda: bool(((app.status or {}).get("policy") or {}).get("error")),
            "the status with the error",
        )
        app.clear_notifications()
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, PolicyScreen), "the policy screen")
        await pilot.pause()
        save("policy-error.svg")
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is app.queue_screen, "the queue")

        # Someone edits a signed record in the tracked copy: verify names the ledger, seq and reason.
        tamper(sample)
        await pilot.press("v")
        await until(pilot, lambda: isinstance(app.screen, VerifyScreen), "the verify screen")
        await until(pilot, lambda: app.screen.report is not None, "the verification")
        await pilot.pause()
        save("verify-tampered.svg")
        sample.project.policy_path.write_text(pair_policy(SAMPLE_POLICY), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m forge_tui.tui.screenshots", description=__doc__.split("\n")[0]
    )
    parser.add_argument("outdir", type=Path, help="where to write the SVG files")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (its path is printed)")
    args = parser.parse_args(argv)
    out: Path = args.outdir
    out.mkdir(parents=True, exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix="fshot-", dir="/tmp"))  # short: the socket path must be short
    env = isolate(base)
    log = print

    from forge_tui.daemon.spawn import start_daemon, stop_daemon
    from forge_tui.paths import review_socket_path, socket_path
    from forge_tui.tui.app import ForgeApp
    from forge_tui.tui.sample import SAMPLE_POLICY, build_sample, record_policy_change

    sample = build_sample(base / "shop")
    record_policy_change(sample, pair_policy(SAMPLE_POLICY), reviewer="alice")
    sock = socket_path(sample.project.project_id)
    review_sock = review_socket_path(sample.project.project_id)
    proc = start_daemon(sample.project.root, sock, log_path=base / "daemon.log", env=env)
    try:
        log("agent requests:")
        send_requests(sock, log)
        first_approval(review_sock, log)
        app = ForgeApp.for_project(
            sample.project,
            socket=review_sock,
            title="forge-tui",
            reviewer="alice",
            tick_interval=None,
            clock=lambda: time.time() + AGE_S,  # the requests look as if they had waited a while
        )
        asyncio.run(drive(app, out, sample, log))
    finally:
        stop_daemon(proc)
        if args.keep:
            log(f"scratch folder kept: {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
