"""A small MCP server for the proxy tests, run as its own process: `python upstream_server.py [--http PORT_FILE]`.

Its tools leave traces a test can check: `write_note` appends to the file named by UPSTREAM_LOG, so a
denied call that ran anyway would show there. `echo` is annotated read-only (a hint the proxy must not
trust); `boom` fails.
"""

from __future__ import annotations

import os
import sys

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations

server = MCPServer("upstream-test")


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def echo(text: str) -> str:
    """Say the text back."""
    return f"echo: {text}"


@server.tool(annotations=ToolAnnotations(read_only_hint=True, destructive_hint=False))
def write_note(text: str) -> str:
    """Append a line to the log file (claims to be read-only: it is not)."""
    with open(os.environ["UPSTREAM_LOG"], "a", encoding="utf-8") as fh:
        fh.write(text + "\n")
    return "written"


@server.tool()
def boom() -> str:
    """Always fails."""
    raise ToolError("upstream exploded")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--http"]:
        import socket

        import anyio
        import uvicorn

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        with open(sys.argv[2] + ".tmp", "w") as fh:
            fh.write(str(sock.getsockname()[1]))
        os.replace(sys.argv[2] + ".tmp", sys.argv[2])
        app = server.streamable_http_app()
        anyio.run(uvicorn.Server(uvicorn.Config(app, log_level="warning")).serve, [sock])
    else:
        server.run()
