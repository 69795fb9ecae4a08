"""Faces of the gate for MCP clients: `forge-tui mcp` (a server exposing the gate as tools) and
`forge-tui proxy` (a gate in front of another MCP server).

This package is the only place the `mcp` SDK is imported, and only in its own process: the agent-side
paths (hooks, `forge_tui.sdk`, `forge-tui request`) and the TUI never import it (it is heavy, and its
server configures logging on import). Install it from the checkout with `pip install -e '.[mcp]'`, or
`pip install 'mcp>=2.3,<3'` into forge-tui's environment (never from the PyPI project named
forge-tui: that is another project).
"""

from __future__ import annotations

import sys

from forge_tui.errors import ConfigError

MCP_REQUIREMENT = "mcp>=2.3,<3"  # as pyproject.toml's `mcp` extra (a unit test checks they agree)
MCP_HINT = (
    f"install the MCP extra into this environment: {sys.executable} -m pip install '{MCP_REQUIREMENT}' "
    "(or `pip install -e '.[mcp]'` in the forge-tui checkout)"
)


def require_mcp() -> None:
    """Raise a one-line ConfigError (exit 2) when the `mcp` SDK (2.x) is not installed."""
    try:
        import mcp.server.lowlevel  # noqa: F401
        import mcp_types  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"the MCP SDK is not available ({exc})", hint=MCP_HINT) from None
