"""`forge-tui run`: exit codes, and never running unsandboxed silently."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from sandbox_kit import bwrap_refusal

from forge_tui.sandbox import EXIT_NOT_FOUND, EXIT_SANDBOX


def test_missing_bwrap_is_exit_125_and_runs_nothing(idle_box, tmp_path):
    # What would be wrong on failure: the agent would run unsandboxed (the marker file would exist).
    env = dict(idle_box.env, PATH=str(tmp_path))  # no bwrap on this PATH
    marker = idle_box.root / "ran"
    res = idle_box.run("/bin/sh", "-c", f"touch {marker}", env=env)
    assert res.returncode == EXIT_SANDBOX
    assert "bubblewrap (bwrap) is not installed" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert not marker.exists()


def test_other_platforms_refuse(run_cli, project, monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    code, _, err = run_cli("run", "--", "true")
    assert code == EXIT_SANDBOX
    assert "no sandbox for darwin" in err


def test_usage_errors(run_cli, project, tmp_path, monkeypatch):
    assert run_cli("run")[0] == 2
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli("run", "--", "true")
    assert code == 2 and "not inside a forge-tui project" in err


def test_unsandboxed_needs_the_daemon_to_record_it(idle_box):
    marker = idle_box.root / "ran"
    res = idle_box.run("/bin/sh", "-c", f"touch {marker}", args=("--unsandboxed",))
    assert res.returncode == 3
    assert "WARNING" in res.stderr and "WITHOUT a sandbox" in res.stderr
    assert not marker.exists()


def test_unsandboxed_is_asked_and_recorded(box):
    marker = box.root / "ran-unsandboxed"
    res = box.run("/bin/sh", "-c", f"touch {marker}", args=("--unsandboxed",))
    assert "WARNING" in res.stderr
    (path,) = box.authoritative_ledgers()
    records = [json.loads(line) for line in path.read_bytes().split(b"\n") if line]
    asked = [
        r
        for r in records
        if r["type"] == "request" and r["body"]["action"].get("tool") == "forge-tui run --unsandboxed"
    ]
    assert asked and str(marker) in asked[-1]["body"]["action"]["command"]
    # It ran only if the gate allowed it.
    assert res.returncode in (0, 1)
    assert marker.exists() == (res.returncode == 0)
    marker.unlink(missing_ok=True)


@pytest.mark.skipif(bwrap_refusal() is not None, reason=str(bwrap_refusal()))
def test_exit_codes_pass_through(idle_box):
    res = idle_box.run("/bin/sh", "-c", "exit 7")
    assert res.returncode == 7
    res = idle_box.run("no-such-command-here")
    assert res.returncode == EXIT_NOT_FOUND and "command not found" in res.stderr


@pytest.mark.skipif(bwrap_refusal() is not None, reason=str(bwrap_refusal()))
def test_without_a_daemon_it_warns_but_runs_sandboxed(idle_box):
    res = idle_box.run("/bin/sh", "-c", "echo $FORGE_SANDBOX", args=())
    assert res.returncode == 0 and res.stdout.strip() == "bwrap"
    assert "sandboxed (bubblewrap)" in res.stderr and "no daemon answers" in res.stderr


def test_print_shows_the_command_and_runs_nothing(idle_box):
    env = dict(idle_box.env, PATH=os.environ.get("PATH", "/usr/bin:/bin"))
    if bwrap_refusal() and "not installed" in str(bwrap_refusal()):
        pytest.skip(str(bwrap_refusal()))
    res = subprocess.run(
        [sys.executable, "-m", "forge_tui", "run", "--print", "--", "claude"],
        cwd=idle_box.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0
    assert "--cap-drop ALL" in res.stdout and res.stdout.rstrip().endswith("-- claude")
