"""The `forge-tui` command line.

Each subcommand lives in `forge_tui/commands/<module>.py` and provides `NAME`, `HELP`,
`DESCRIPTION` (optional), `configure(parser)` and `run(args) -> int`. Those modules import only the
standard library at module level (heavy imports go inside `run`), so building the parser stays cheap and
the agent-side commands (`request`, `hook`) never pull in textual or pynacl.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import TYPE_CHECKING

from forge_tui import __version__
from forge_tui.errors import EXIT_INTERNAL, EXIT_USAGE, ForgeError

if TYPE_CHECKING:
    from collections.abc import Sequence

# Order is the order shown in --help.
COMMAND_MODULES: tuple[str, ...] = (
    "init",
    "daemon",
    "demo",
    "browse",
    "request",
    "hook",
    "mcp",
    "proxy",
    "approve",
    "reject",
    "reviewer",
    "key",
    "note",
    "verify",
    "git_hook",
    "export",
    "verify_export",
    "query",
    "trace",
    "blame",
    "report",
    "verify_report",
    "log",
    "policy",
    "merge_ledger",
    "doctor",
    "run",
    "status",
    "console",
)

EPILOG = """\
Run `forge-tui` with no command inside a project to open the approval console (it starts the daemon
when none runs). Exit codes: 0 success, 1 check failed / denied, 2 usage or configuration error,
3 warning (verify: unsigned tail) or daemon unreachable (request), 70 internal error;
`run` passes on the agent's code, or 125 when the sandbox cannot start (126/127: command not runnable/found)."""


def _columns() -> int:
    """`shutil.get_terminal_size().columns` (COLUMNS, else the terminal on stdout, else 80) without
    importing shutil, which pulls in zlib, bz2 and lzma: argparse's own formatter imports it on the
    first `add_argument`, on the path of every command (`request` and `hook` included)."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns > 0:
        return columns
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or 80
    except (AttributeError, ValueError, OSError):
        return 80


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24, width=None):
        super().__init__(
            prog, indent_increment, max_help_position, _columns() - 2 if width is None else width
        )


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, like every other usage error
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _available_commands() -> list:
    mods = []
    for name in COMMAND_MODULES:
        try:
            mods.append(importlib.import_module(f"forge_tui.commands.{name}"))
        except ModuleNotFoundError as exc:
            if exc.name != f"forge_tui.commands.{name}":
                raise
    return mods


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="forge-tui",
        description="A pre-execution gate for AI agents: policy, human approval, and a signed ledger.",
        epilog=EPILOG,
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"forge-tui {__version__}")
    parser.add_argument(
        "-C", "--project", metavar="DIR", help="the project folder (default: search upwards from here)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for mod in _available_commands() if only is None else [_command_module(only)]:
        p = sub.add_parser(
            mod.NAME,
            help=mod.HELP,
            description=getattr(mod, "DESCRIPTION", mod.HELP),
            formatter_class=_Formatter,
        )
        mod.configure(p)
        p.set_defaults(_module=mod)
    return parser


def _command_module(name: str):
    modname = name.replace("-", "_")
    if modname not in COMMAND_MODULES:
        return None
    try:
        return importlib.import_module(f"forge_tui.commands.{modname}")
    except ModuleNotFoundError:
        return None


def _takes_value(arg: str) -> bool:
    """Whether `arg` is the top-level -C/--project option (or an abbreviation argparse accepts) without
    its value attached, so the next word is the folder, not the command."""
    return arg == "-C" or (len(arg) >= 3 and "--project".startswith(arg))


def _first_word(argv: Sequence[str]) -> str | None:
    """The command word: the first argument that is neither an option nor the value of -C/--project."""
    words = iter(argv)
    for arg in words:
        if arg == "--":
            return next(words, None)
        if not arg.startswith("-"):
            return arg
        if _takes_value(arg):
            next(words, None)
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (tests call this in-process)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # Fast path: build only the named subcommand's parser (the hook and request run on every agent call).
    first = _first_word(argv)
    only = None
    if first is not None and _command_module(first):
        only = first
    parser = build_parser(only)
    args = parser.parse_args(argv)
    if args.project:
        try:
            os.chdir(args.project)
        except OSError as exc:
            print(f"forge-tui: error: cannot enter {args.project}: {exc.strerror}", file=sys.stderr)
            return EXIT_USAGE
    mod = getattr(args, "_module", None)
    if mod is None:
        tui = _command_module("console")
        if tui is None:
            parser.print_help()
            return EXIT_USAGE
        mod = tui
    try:
        return int(mod.run(args) or 0)
    except ForgeError as exc:
        print(f"forge-tui: error: {exc.diagnostics()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("forge-tui: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug: one line by default, the traceback on request
        if os.environ.get("FORGE_DEBUG"):
            raise
        print(
            f"forge-tui: internal error: {type(exc).__name__}: {exc} (set FORGE_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


def entry() -> None:
    sys.exit(main())
