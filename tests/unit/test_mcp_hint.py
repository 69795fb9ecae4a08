"""Where the MCP SDK may be imported, and the hint `forge-tui mcp` / `proxy` print when it is missing.

Broken if it tells the user to `pip install 'forge-tui[mcp]'`: the PyPI project of that name is not this
one, so the advice would install someone else's code; or if the requirement it names drifts from the
`mcp` extra in pyproject.toml.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

from forge_tui.integrations import MCP_HINT, MCP_REQUIREMENT

REPO = Path(__file__).resolve().parents[2]


def test_the_hint_names_the_extras_requirement_for_this_interpreter() -> None:
    extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["mcp"]
    assert extra == [MCP_REQUIREMENT]
    assert f"{sys.executable} -m pip install '{MCP_REQUIREMENT}'" in MCP_HINT


def test_no_text_sends_users_to_the_unrelated_pypi_project() -> None:
    texts = [MCP_HINT, (REPO / "README.md").read_text(), (REPO / "docs" / "mcp.md").read_text()]
    texts += [p.read_text() for p in (REPO / "forge_tui").rglob("*.py")]
    assert not [t[:80] for t in texts if "pip install 'forge-tui[" in t or 'pip install "forge-tui[' in t]


def test_mcp_is_imported_only_in_the_integrations_package() -> None:
    """Broken if the SDK (heavy; its server configures logging on import) reaches the hooks, the SDK,
    the console or the core: only forge_tui/integrations imports it, and only the `mcp` and `proxy`
    commands import that package."""
    import ast

    allowed_users = {"forge_tui/commands/mcp.py", "forge_tui/commands/proxy.py"}
    wrong = []
    for path in (REPO / "forge_tui").rglob("*.py"):
        rel = path.relative_to(REPO).as_posix()
        if rel.startswith("forge_tui/integrations/"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            for name in names:
                top = name.split(".")[0]
                if top in ("mcp", "mcp_types") or (
                    name.startswith("forge_tui.integrations") and rel not in allowed_users
                ):
                    wrong.append(f"{rel}:{node.lineno} imports {name}")
    assert not wrong, wrong
