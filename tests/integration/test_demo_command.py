"""`forge-tui demo` as a new user runs it (issue 12): its wording, its closing hint, and its temporary
folder, which it removes unless asked to keep it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from forge_tui.demo import command_hint


def test_headless_demo_speaks_plainly_and_removes_its_folder(tmp_path):
    """Broken if the demo says "you approves", leaves its temporary folder behind, or fails."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORGE_")}
    env["HOME"] = str(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "forge_tui", "demo", "--no-tui"],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "approves" not in proc.stdout and "rejects" not in proc.stdout
    assert re.search(r"you: approved r-[0-9a-f]{16} \(allowed\)", proc.stdout), proc.stdout
    assert re.search(r"you: rejected r-[0-9a-f]{16} \(denied\)", proc.stdout), proc.stdout
    folder = Path(re.search(r"^demo project: (.+)/shop$", proc.stdout, re.M).group(1))
    assert not folder.exists(), f"{folder} left behind"
    assert "demo --keep" in proc.stdout


def test_closing_hint_names_the_program_the_user_ran(tmp_path, monkeypatch):
    """Broken if the hint says `forge-tui` when only `.venv/bin/forge-tui` exists (the README's
    install puts nothing on PATH)."""
    venv_bin = tmp_path / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    prog = venv_bin / "forge-tui"
    prog.write_text("#!/bin/sh\n")
    prog.chmod(0o755)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert command_hint(str(prog), cwd=tmp_path) == ".venv/bin/forge-tui"
    monkeypatch.setenv("PATH", f"{venv_bin}:/usr/bin:/bin")
    assert command_hint(str(prog), cwd=tmp_path) == "forge-tui"
    assert command_hint("/somewhere/forge_tui/__main__.py").endswith(" -m forge_tui")
