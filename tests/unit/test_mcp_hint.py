"""The hint `forge-tui mcp` / `proxy` print when the MCP SDK is missing.

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
