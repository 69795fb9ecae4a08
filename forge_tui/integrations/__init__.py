"""Faces of the gate for MCP clients: `forge-tui mcp` (a server exposing the gate as tools) and
`forge-tui proxy` (a gate in front of another MCP server).

This package is the only place the `mcp` SDK is imported, and only in its own process: the agent-side
paths (hooks, `forge_tui.sdk`, `forge-tui request`) and the TUI never import it (it is heavy, and its
server configures logging on import). Install it with `pip install 'forge-tui[mcp]'`.
"""

from __future__ import annotations

from forge_tui.errors import ConfigError

MCP_HINT = "install the MCP extra: pip install 'forge-tui[mcp]'"


def require_mcp() -> None:
    """Raise a one-line ConfigError (exit 2) when the `mcp` SDK (2.x) is not installed."""
    try:
        import mcp.server.lowlevel  # noqa: F401
        import mcp_types  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"the MCP SDK is not available ({exc})", hint=MCP_HINT) from None
