"""forge-tui proxy (imports the `mcp` SDK only inside run, in its own process)"""

from __future__ import annotations

import argparse

NAME = "proxy"
HELP = "an MCP server in front of another one that gates every tool call"
DESCRIPTION = """\
Serve, on stdio, the tools of another MCP server and ask the gate before each call:

  forge-tui proxy --name github -- npx -y @modelcontextprotocol/server-github
  forge-tui proxy --name docs --url http://127.0.0.1:9000/mcp --header "Authorization: Bearer …"

Each tools/call is a request of kind mcp.call for tool mcp__<name>__<tool> (match it in the policy
with `tool = ["mcp__github__*"]`); the arguments are kept in the ledger as a SHA-256 digest and shown
to the reviewer while pending. Allowed calls go through and their outcome is recorded; denied calls
come back as a tool error that states the reason and the tool does not run. A call still pending
after --wait seconds comes back as a tool error too; calling it again with the same arguments waits
on the same request. Tool annotations (readOnlyHint, …) are passed on as hints and never decide.
With no daemon every call is denied. Needs the MCP extra (`pip install -e '.[mcp]'` in the checkout).
Exit codes: 0 stopped cleanly, 2 usage or configuration error."""


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--name", help="the server's name in mcp__<name>__<tool> (default: from the command or URL)"
    )
    p.add_argument("--url", help="an HTTP upstream (Streamable HTTP) instead of a command")
    p.add_argument(
        "--sse", action="store_true", help="the --url upstream speaks the legacy HTTP+SSE transport"
    )
    p.add_argument(
        "--header", action="append", default=[], metavar="'NAME: VALUE'", help="an HTTP header for --url"
    )
    p.add_argument(
        "--wait",
        type=float,
        default=50.0,
        metavar="SECONDS",
        help="wait for a reviewer this long per call (50)",
    )
    p.add_argument(
        "cmd", nargs=argparse.REMAINDER, metavar="-- CMD ARGS", help="the upstream server's command"
    )


def run(args: argparse.Namespace) -> int:
    from forge_tui.errors import ConfigError
    from forge_tui.integrations import require_mcp

    command = list(args.cmd)
    if command[:1] == ["--"]:
        command = command[1:]
    if bool(command) == bool(args.url):
        raise ConfigError("give the upstream either as -- CMD ARGS… or as --url URL", hint="see --help")
    if args.sse and not args.url:
        raise ConfigError("--sse goes with --url")
    if args.wait < 0:
        raise ConfigError("--wait must not be negative")
    headers = []
    for h in args.header:
        key, sep, value = h.partition(":")
        if not sep or not key.strip():
            raise ConfigError(f"--header wants 'NAME: VALUE', got {h!r}")
        headers.append((key.strip(), value.strip()))
    from forge_tui.commands.mcp import _agent_socket

    socket, _ = _agent_socket()
    require_mcp()
    import anyio

    from forge_tui.integrations.daemon_link import DaemonLink
    from forge_tui.integrations.mcp_proxy import Upstream, build_proxy, default_name, server_label
    from forge_tui.integrations.mcp_server import serve_stdio

    upstream = Upstream(command=tuple(command), url=args.url, sse=args.sse, headers=tuple(headers))
    name = server_label(args.name) if args.name else default_name(upstream)
    server = build_proxy(upstream, DaemonLink(socket, "mcp"), name=name, wait_s=args.wait)
    anyio.run(serve_stdio, server)
    return 0
