"""`forge-tui browse`: registered, cheap to import, opens the right ledger, clear errors."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.fixture
def opened(monkeypatch):
    """Record what BrowseApp would show instead of running a terminal UI."""
    from forge_tui.tui import browse_app

    seen: dict = {}

    def fake_run(self, *a, **kw):
        seen.update(path=self.ledger_path, project=self.project)

    monkeypatch.setattr(browse_app.BrowseApp, "run", fake_run)
    return seen


def test_browse_is_a_command(run_cli):
    code, out, _err = run_cli("browse", "--help")
    assert code == 0 and "--ledger" in out and "daemon need not run" in out


def test_module_level_imports_stay_light():
    # Wrong if building the parser pulled in textual (every command would pay for it).
    code = (
        "import sys, forge_tui.cli as c; c.build_parser()\n"
        "bad = [k for k in sys.modules if k.split('.')[0] in ('textual', 'rich', 'nacl')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_opens_this_machines_ledger(project, run_cli, opened):
    code, _out, err = run_cli("browse")
    assert code == 0, err
    lid = project.local_ledger_id()
    assert opened["path"] == project.tracked_ledger(lid)
    assert opened["project"].project_id == project.project_id


def test_file_option_finds_the_project(project, run_cli, opened, tmp_path):
    lid = project.local_ledger_id()
    code, _out, err = run_cli("-C", str(tmp_path), "browse", "--file", str(project.tracked_ledger(lid)))
    assert code == 0, err
    assert opened["project"].project_id == project.project_id


def test_errors_are_one_line(project, run_cli, opened):
    code, _out, err = run_cli("browse", "--ledger", "nope")
    assert code == 2 and "no ledger nope" in err
    code, _out, err = run_cli("browse", "--file", "/nonexistent/x.jsonl")
    assert code == 2 and "no ledger file" in err
    assert opened == {}
