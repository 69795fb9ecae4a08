"""The core is a headless library (docs/design.md §2): importing it, the daemon, the client or the ledger
commands never loads textual or rich; and the agent-side paths (`forge_tui.client`, `forge-tui request`)
load nothing but the standard library and forge_tui."""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import forge_tui.core
import forge_tui.daemon

PKG = Path(forge_tui.core.__file__).parent.parent
CORE = sorted(f"forge_tui.core.{m.name}" for m in pkgutil.iter_modules(forge_tui.core.__path__))
DAEMON = sorted(f"forge_tui.daemon.{m.name}" for m in pkgutil.iter_modules(forge_tui.daemon.__path__))
HEADLESS = [
    *CORE,
    *DAEMON,
    "forge_tui.client",
    "forge_tui.cli",
    "forge_tui.paths",
    "forge_tui.errors",
    *(f"forge_tui.commands.{c}" for c in ("init", "note", "verify", "log", "merge_ledger", "request")),
]


def run_python(code: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=cwd, check=False
    )


def test_module_lists_are_not_empty():
    assert {"forge_tui.core.ledger", "forge_tui.core.verify", "forge_tui.core.policy"} <= set(CORE)
    assert "forge_tui.daemon.server" in DAEMON


def test_core_daemon_and_commands_never_import_textual_or_rich():
    code = (
        "import importlib, json, sys\n"
        f"for m in {HEADLESS!r}:\n"
        "    importlib.import_module(m)\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in ('textual', 'rich'))\n"
        "print(json.dumps(bad))\n"
    )
    res = run_python(code)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == []


def test_verifying_a_project_loads_no_ui(project):
    code = (
        "import json, sys\n"
        "from forge_tui.cli import main\n"
        "rc = main(['verify', '--quiet'])\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in ('textual', 'rich'))\n"
        "print(json.dumps([rc, bad]))\n"
    )
    res = run_python(code, cwd=project.root)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout.strip().split("\n")[-1]) == [0, []]


def _third_party(before_after_code: str, cwd: Path | None = None) -> list[str]:
    code = (
        "import json, sys\n"
        "before = set(sys.modules)\n" + before_after_code + "\n"
        "new = {n.split('.')[0] for n in set(sys.modules) - before}\n"
        "out = sorted(n for n in new if n not in sys.stdlib_module_names and n != 'forge_tui')\n"
        "print(json.dumps(out))\n"
    )
    res = run_python(code, cwd=cwd)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.strip().split("\n")[-1])


def test_agent_side_modules_import_only_the_standard_library():
    assert _third_party("import forge_tui.client, forge_tui.commands.request") == []


def test_request_command_runs_on_the_standard_library(project):
    """`forge-tui request` end to end (no daemon: it fails closed with exit 3) loads no third-party module."""
    code = (
        "from forge_tui.cli import main\n"
        "rc = main(['request', '--kind', 'shell.exec', '--command', 'ls'])\n"
        "assert rc == 3, rc\n"
    )
    assert _third_party(code, cwd=project.root) == []


def _imports(path: Path) -> set[str]:
    """Every module named by an import statement anywhere in the file (function bodies included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_agent_side_sources_name_only_stdlib_and_forge_tui():
    for rel in (
        "client.py",
        "commands/request.py",
        "protocol.py",
        "gitlink.py",
        "commands/git_hook.py",
        "textsafe.py",
    ):
        for name in _imports(PKG / rel):
            top = name.split(".")[0]
            assert top in sys.stdlib_module_names or top == "forge_tui", (rel, name)
            if top == "forge_tui":  # and within forge_tui, only other standard-library-only modules
                assert name in {
                    "forge_tui",
                    "forge_tui.client",
                    "forge_tui.errors",
                    "forge_tui.gitlink",
                    "forge_tui.paths",
                    "forge_tui.protocol",
                    "forge_tui.textsafe",
                }, (
                    rel,
                    name,
                )
