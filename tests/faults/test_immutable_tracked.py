"""The tracked copy's folder made immutable (`chattr +i .forge/ledger`) under a real daemon process,
the reproduction of issue 10: requests were still allowed, nothing was logged, `forge-tui status` showed
no problem and `verify` then reported a rollback. Now: decisions go on (the authoritative copy is
durable and signed), the daemon logs the fault, `status` says `tracked-stale` with the cause, `verify`
warns that the copy is behind (exit 3) and never reports a `rollback`, and once the folder is writable again the daemon
brings the copy up to date by itself. Skipped, with the reason, where chattr is missing or the file
system has no immutable attribute (tmpfs) or we may not set it (not root, no CAP_LINUX_IMMUTABLE)."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time

import pytest
from gatehelp import SMALL_POLICY as POLICY
from gatehelp import run_cli, spawn_daemon, verify_clean, wait_for_socket

from forge_tui.client import Client


def chattr(flag: str, path) -> str | None:
    """None when `chattr FLAG path` worked, else why not."""
    if shutil.which("chattr") is None:
        return "chattr is not installed (e2fsprogs)"
    res = subprocess.run(["chattr", flag, str(path)], capture_output=True, text=True)
    return None if res.returncode == 0 else f"chattr {flag} failed here: {res.stderr.strip()[:200]}"


def ask(c: Client) -> str:
    params = {"action": {"kind": "shell.exec", "command": "pytest -q"}, "actor": {"id": "a"}}
    return c.call("gate.request", params)["status"]


def status_json(world) -> dict:
    res = run_cli(world, "status", "--json", env=world.env(FORGE_REVIEW_SOCKET=str(world.rsock)))
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_an_immutable_tracked_folder_is_logged_shown_told_apart_from_a_rollback_and_heals(make_world):
    world = make_world(POLICY)
    folder = world.project.ledger_dir
    proc = spawn_daemon(world)
    immutable = False
    try:
        wait_for_socket(world.sock, proc, timeout=60)
        with Client(world.sock, timeout=30) as c:
            assert ask(c) == "allowed"
            c.call("status")  # the checkpoint and tracked copy that follow the answer are done
            reason = chattr("+i", folder)
            if reason:
                pytest.skip(reason)
            immutable = True
            for _ in range(3):
                assert ask(c) == "allowed"  # a derived copy: the gate does not stop for it
            shown = status_json(world)
            assert shown["ledger"] == "tracked-stale" and "not permitted" in shown["ledger_fault"], shown
            report = run_cli(world, "verify")
            assert report.returncode == 3, report.stdout + report.stderr
            # Behind, not rolled back: the records are appended in place (a file in an immutable folder
            # can still grow) while the checkpoint, a rename, lags; or the records lag too.
            assert "[stale_tracked]" in report.stdout or "[unsigned_tail]" in report.stdout, report.stdout
            assert "[rollback]" not in report.stdout
            assert " 0 error(s)" in report.stdout, report.stdout
            assert run_cli(world, "verify", "--authoritative").returncode == 0
            assert chattr("-i", folder) is None
            immutable = False
            deadline = time.monotonic() + 30
            while status_json(world)["ledger"] != "ok":  # healed by the daemon's retries, no restart
                assert time.monotonic() < deadline, "the tracked copy was never brought up to date"
                time.sleep(0.05)  # polling interval of a bounded condition loop
            assert ask(c) == "allowed"
            c.call("status")
    finally:
        if immutable:
            chattr("-i", folder)
        proc.send_signal(signal.SIGTERM)
        _out, log = proc.communicate(timeout=60)
    assert "tracked copy stale" in log and "Operation not permitted" in log, log[-2000:]
    assert "ledger healed" in log, log[-2000:]
    verify_clean(world)
