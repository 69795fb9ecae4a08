"""The README's main job, headless: the scripted agent meets every gate path and the ledger verifies."""

from __future__ import annotations

import os
import shutil
import signal

import pytest
from settle_kit import ledger_settled

from forge_tui.core.verify import verify_project
from forge_tui.daemon.spawn import start_daemon
from forge_tui.demo import make_world, run_headless


@pytest.fixture
def world(monkeypatch):
    # make_world points FORGE_* at its own folder; restore the environment afterwards.
    for key in (
        "FORGE_DATA_DIR",
        "FORGE_RUNTIME_DIR",
        "FORGE_PASSPHRASE",
        "FORGE_SOCKET",
        "FORGE_REVIEW_SOCKET",
    ):
        monkeypatch.setenv(key, os.environ.get(key, ""))
        monkeypatch.delenv(key)
    w = make_world()  # under /tmp: socket paths must stay under 107 bytes
    proc = start_daemon(w.project.root, w.sock, log_path=w.home / "daemon.log", env=w.env, timeout=60)
    yield w
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    shutil.rmtree(w.home, ignore_errors=True)


def test_demo_script_takes_every_gate_path_and_the_ledger_verifies(world):
    lines: list[str] = []
    results = run_headless(world, lines.append)

    def status(say_prefix: str) -> tuple[str, str | None]:
        (res,) = [r for say, r in results.items() if say.startswith(say_prefix)]
        return res["status"], res.get("rule")

    assert status("reads the README") == ("allowed", "read-only")
    assert status("force-pushes") == ("denied", "no-force-push")
    assert status("deploys before testing") == ("denied", "deploy-after-tests")
    assert status("tries to approve its own edit") == ("denied", "builtin:no-self-review")
    assert status("tries to loosen the policy") == ("denied", "builtin:protect-forge")
    # The human approved the auth edit and rejected the deploy (run_headless's script).
    assert status("edits authentication code")[0] == "allowed"
    assert status("deploys after the tests passed")[0] == "denied"
    # The compound command hiding a download is not allowed as a whole.
    assert status("hides a download")[0] != "allowed"
    assert any("release-bot tries to approve its own request: refused (4002" in s for s in lines), lines
    assert not any("must never print" in s for s in lines)

    ledger_settled(world.project)  # the checkpoint and tracked copy follow the last answer
    proc_stop_report = verify_project(world.project)
    assert proc_stop_report.exit_code() == 0, [f.line() for f in proc_stop_report.findings]
    codes = {f.code for f in proc_stop_report.findings}
    assert "recorded_self_approval" in codes  # the refused attempt is in the ledger as a violation
