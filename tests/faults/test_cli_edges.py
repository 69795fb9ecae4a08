"""The command-line edges of issue 10: two consoles starting a daemon at once, and `forge-tui note`
giving up on a daemon that has not confirmed the note yet."""

from __future__ import annotations

import threading
import time

from gatehelp import SMALL_POLICY as POLICY

from forge_tui.core import oscalls
from forge_tui.daemon.spawn import daemon_answers, start_daemon, stop_daemon
from forge_tui.paths import socket_path


def test_two_consoles_started_together_share_one_daemon(project):
    """Before: one failed with the other's log line ("a daemon already runs"). Now the loser waits for
    the winner's daemon and connects to it."""
    sock = socket_path(project.project_id)
    log = project.state_dir / "daemon.log"
    results: list = []
    go = threading.Barrier(2)

    def console() -> None:
        go.wait()
        try:
            results.append(start_daemon(project.root, sock, log_path=log, timeout=60))
        except Exception as exc:  # the failure is the finding: keep it for the assertion
            results.append(exc)

    threads = [threading.Thread(target=console) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    try:
        assert not [r for r in results if isinstance(r, Exception)], results
        assert len(results) == 2
        assert daemon_answers(sock)
        deadline = time.monotonic() + 30  # the loser's daemon may still be on its way out
        while len([p for p in results if p.poll() is None]) > 1:
            assert time.monotonic() < deadline, "two daemons stayed up for one project"
            time.sleep(0.05)  # polling interval of a bounded condition loop
        assert len([p for p in results if p.poll() is None]) == 1, "exactly one daemon serves the project"
    finally:
        for p in results:
            if not isinstance(p, Exception):
                stop_daemon(p)


def test_note_that_times_out_says_it_may_still_be_recorded(make_world, thread_daemon, monkeypatch):
    """Before: `forge-tui note` exited 2 after its timeout and the note was written later. The write
    cannot be called back once sent, so the command now says exactly that (exit 3)."""
    from gatehelp import run_cli

    world = make_world(POLICY)
    d = thread_daemon(world)
    release = threading.Event()

    def before(call: str, site: str) -> None:
        if (call, site) == ("fdatasync", "ledger"):
            assert release.wait(60), "never released"

    monkeypatch.setattr(oscalls.DEFAULT, "before", before)
    env = world.env(FORGE_REVIEW_SOCKET=str(world.rsock))
    try:
        res = run_cli(world, "note", "--timeout", "1", "slow disk", env=env)
    finally:
        release.set()
    assert res.returncode == 3, res.stderr
    assert "may still be recorded" in res.stderr and "forge-tui log" in res.stderr
    deadline = time.monotonic() + 20
    while not [r for r in world.records() if r["type"] == "note" and r["body"]["text"] == "slow disk"]:
        assert time.monotonic() < deadline, "the note sent before the timeout was never written"
        time.sleep(0.02)  # polling interval of a bounded condition loop
    assert d.writer is not None
