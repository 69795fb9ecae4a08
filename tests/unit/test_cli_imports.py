"""What the command line imports before a command does its work (issue 11: `verify --fast` on a big
ledger forks its workers only after the imports, so they are on its critical path). Each check runs the
command in a fresh interpreter and lists the modules loaded when it returns."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from forge_tui.cli import COMMAND_MODULES

# Needed only by `init`/`join`, key creation, packs or copies: never by verify, log or status.
HEAVY = (
    "secrets",
    "uuid",
    "platform",
    "importlib.resources",
    "tomli_w",
    "nacl.pwhash",
    "nacl.secret",
    "forge_tui.core.passphrase",
)


def _modules_after(*argv: str) -> tuple[int, set[str]]:
    code = (
        "import sys\n"
        "from forge_tui.cli import main\n"
        f"rc = main({list(argv)!r})\n"
        "mods = sorted(sys.modules)\n"
        "import json\n"
        "print(json.dumps([rc, mods]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    rc, mods = json.loads(out.splitlines()[-1])
    return rc, set(mods)


@pytest.mark.parametrize(
    "argv",
    [
        ("verify", "-q", "--fast"),
        ("-C", ".", "verify", "-q", "--fast"),
        # Full verify reads reviewers.toml's writer-side module too (core/reviewers.py imports tomli_w).
        pytest.param(("--project", ".", "verify", "-q"), id="verify-full"),
        ("-C", ".", "log", "--tail", "5"),
        ("-C", ".", "status"),
    ],
)
def test_a_command_imports_only_what_it_uses(project, argv) -> None:
    """If this fails, the command (with or without -C) imports the other commands' modules, or a module
    only `init`/keys need, again: every run pays for it before it starts its work."""
    rc, mods = _modules_after(*argv)
    command = next(a for a in argv if a in COMMAND_MODULES)
    assert rc in (0, 3)
    others = {f"forge_tui.commands.{m}" for m in COMMAND_MODULES if m != command}
    assert mods & others == set()
    allowed = {"tomli_w"} if "--fast" not in argv and command == "verify" else set()
    assert mods & set(HEAVY) - allowed == set()
    # argparse's formatter no longer imports shutil (and bz2, lzma); verify's worker pool and
    # platformdirs (log: the data folder, without FORGE_DATA_DIR) import tempfile, hence shutil, anyway.
    if command == "status":
        assert mods & {"shutil", "bz2", "lzma"} == set()


def test_help_is_laid_out_for_the_terminal_width(monkeypatch) -> None:
    """The parser's formatter reads COLUMNS like shutil.get_terminal_size (without importing shutil):
    if this fails, --help no longer wraps to the width argparse itself would use."""
    import argparse

    from forge_tui.cli import _columns, build_parser

    for columns in ("", "0", "x", "57", "203"):
        monkeypatch.setenv("COLUMNS", columns)
        import shutil

        assert _columns() == shutil.get_terminal_size().columns
        ours = build_parser("verify").format_help()
        monkeypatch.setattr(argparse.ArgumentParser, "_get_formatter", _stdlib_formatter)
        assert build_parser("verify").format_help() == ours
        monkeypatch.undo()
        monkeypatch.setenv("COLUMNS", columns)


def _stdlib_formatter(self):
    import argparse

    return argparse.RawDescriptionHelpFormatter(prog=self.prog)


def test_the_command_word_after_the_project_option(run_cli, project) -> None:
    """-C/--project (or an abbreviation) takes the next word as its folder, never as the command."""
    from forge_tui.cli import _first_word

    assert _first_word(["-C", "verify", "status"]) == "status"
    assert _first_word(["--proj", "log", "verify"]) == "verify"
    assert _first_word(["--project=log", "verify"]) == "verify"
    assert _first_word(["-Clog", "verify"]) == "verify"
    assert _first_word(["--", "verify"]) == "verify"
    assert _first_word(["-C"]) is None
    code, _, err = run_cli("-C", str(project.root), "verify", "--bogus")
    assert code == 2 and "unrecognized arguments: --bogus" in err
