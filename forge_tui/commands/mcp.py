"""forge-tui mcp (imports the `mcp` SDK only inside run, in its own process)"""

from __future__ import annotations

import argparse

NAME = "mcp"
HELP = "serve the gate as MCP tools (stdio, or Streamable HTTP with --http)"
DESCRIPTION = """\
An MCP server with four tools: request_approval (ask the gate; 'denied' is a tool error, 'pending'
returns a request_id), check_gate (wait for a pending decision), record_outcome and query_ledger.
Every call goes to this project's daemon as an agent's request; with no daemon every request is denied.

  forge-tui mcp                          stdio, for a client that starts the server itself
  forge-tui mcp --http 127.0.0.1:8765    Streamable HTTP at /mcp, legacy HTTP+SSE at /sse

Over HTTP every request needs `Authorization: Bearer TOKEN`; the token is printed at start and kept
0600 in the runtime folder (reused across restarts; --new-token replaces it). Requests whose Host or
Origin header is not this server's are refused (DNS rebinding). Loopback only unless --allow-remote.
Tools wait --wait seconds for a reviewer (at most --max-wait) before answering 'pending': keep that
below your client's tool timeout. Needs the MCP extra (`pip install -e '.[mcp]'` in the checkout).
Exit codes: 0 stopped cleanly, 2 usage or configuration error (no project, bad address, no SDK)."""


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--http", metavar="HOST:PORT", help="serve over HTTP on this loopback address (port 0: any)"
    )
    p.add_argument("--allow-remote", action="store_true", help="allow --http on a non-loopback address")
    p.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME[:PORT]",
        help="another Host header value to accept (repeatable)",
    )
    p.add_argument("--new-token", action="store_true", help="replace the stored bearer token with a new one")
    p.add_argument("--wait", type=float, default=20.0, metavar="SECONDS", help="default wait (20)")
    p.add_argument("--max-wait", type=float, default=50.0, metavar="SECONDS", help="longest wait (50)")


def run(args: argparse.Namespace) -> int:
    import sys

    from forge_tui.errors import ConfigError
    from forge_tui.integrations import require_mcp

    if args.wait < 0 or args.max_wait < 0:
        raise ConfigError("--wait and --max-wait must not be negative")
    listen = None
    if args.http:
        from forge_tui.integrations.http import parse_listen

        listen = parse_listen(args.http, allow_remote=args.allow_remote)
    socket, project_id = _agent_socket()
    require_mcp()
    import anyio

    from forge_tui.integrations.daemon_link import DaemonLink
    from forge_tui.integrations.mcp_server import ServerConfig, build_server, serve_stdio

    config = ServerConfig(default_wait_s=min(args.wait, args.max_wait), max_wait_s=args.max_wait)
    server = build_server(DaemonLink(socket, "mcp"), config)
    if listen is None:
        anyio.run(serve_stdio, server)
        return 0
    from forge_tui.integrations import http

    sock = http.bind(listen)
    port = sock.getsockname()[1]
    path = http.token_path(project_id)
    token = http.load_or_make_token(path, new=args.new_token)
    app = http.build_app(server, token, http.allowed_hosts(listen, port, tuple(args.allow_host)))
    base = f"http://{listen.netloc(port)}"
    print(f"forge-tui mcp: Streamable HTTP at {base}{http.MCP_PATH} (legacy HTTP+SSE: {base}{http.SSE_PATH})")
    print(f"forge-tui mcp: bearer token (kept in {path}, mode 0600): {token}", flush=True)
    try:
        anyio.run(http.serve, app, sock)
    finally:
        sock.close()
    print("forge-tui mcp: stopped", file=sys.stderr)
    return 0


def _agent_socket():
    """The daemon's agent socket (FORGE_SOCKET wins) and the project id."""
    from forge_tui.errors import NotAProject
    from forge_tui.paths import find_project_root, read_project_id, socket_path

    root = find_project_root()
    if root is None:
        raise NotAProject("not inside a forge-tui project (no .forge/project.toml here or above)")
    project_id = read_project_id(root)
    return socket_path(project_id), project_id
