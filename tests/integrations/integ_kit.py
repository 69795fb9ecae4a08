"""Helpers for the MCP server, proxy, SDK and example tests (a uniquely named module, so that
`import` finds it and not another folder's conftest)."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
START_S = 120.0  # generous: `import mcp` alone takes seconds on two loaded cores

# Allow reads, `pytest` and `echo`, deny force pushes (with a suggestion), ask for everything else; MCP calls:
# allow the echo tool of the test upstream, deny its write_note (whatever its annotations claim).
POLICY = """\
version = 1
default = "ask"
approval_timeout = "10m"

[[rule]]
id = "read"
match = { kind = "file.read" }
decision = "allow"

[[rule]]
id = "tests"
match = { kind = "shell.exec", command = ["pytest*"] }
decision = "allow"

[[rule]]
id = "echo"
match = { kind = "shell.exec", command = ["echo *"] }
decision = "allow"

[[rule]]
id = "no-force-push"
match = { kind = "shell.exec", command = ["git push --force*"] }
decision = "deny"
reason = "force pushes rewrite shared history"

[[rule]]
id = "echo-ok"
match = { kind = "mcp.call", tool = ["mcp__up__echo", "mcp__up__boom"] }
decision = "allow"

[[rule]]
id = "no-notes"
match = { kind = "mcp.call", tool = ["mcp__up__write_note"] }
decision = "deny"
reason = "the upstream may not write notes"
"""


def child_env(world: Any, **extra: str) -> dict[str, str]:
    """The environment of a forge-tui child process: this checkout first on the path, the agent socket."""
    env = world.env(**extra)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return env


def review_socket(daemon: Any, world: Any) -> Path:
    """Where reviewer methods (queue.list, queue.decide) go: the reviewer socket once the daemon has
    one, else the single socket."""
    return Path(getattr(daemon, "review_socket_path", None) or world.sock)


async def approve(connect: Any, daemon: Any, world: Any, request_id: str, reviewer: str = "alice") -> dict:
    """A reviewer approves a pending request through the daemon's reviewer socket."""
    from gatehelp import sign

    rev = await connect(review_socket(daemon, world))
    pending = (await rev.call("queue.list"))["pending"]
    item = next(p for p in pending if p["request_id"] == request_id)
    return await rev.call("queue.decide", sign(world, reviewer, item))


def forge_cmd(world: Any, *args: str) -> list[str]:
    return [sys.executable, "-m", "forge_tui", "-C", str(world.project.root), *args]


def by_request(world: Any, request_id: str) -> dict[str, list[dict]]:
    """Record type -> that request's records, from the authoritative ledger."""
    out: dict[str, list[dict]] = {}
    for rec in world.records():
        if rec["body"].get("request_id") == request_id:
            out.setdefault(rec["type"], []).append(rec)
    return out


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw-http-test", "version": "0"},
    },
}


class HttpServer:
    def __init__(self, proc: asyncio.subprocess.Process, url: str, token: str, token_file: str) -> None:
        self.proc, self.url, self.token, self.token_file = proc, url, token, token_file

    @property
    def netloc(self) -> str:
        return self.url.split("/")[2]

    def post(self, *, token: str | None, host: str | None = None, origin: str | None = None) -> int:
        """A raw initialize POST to /mcp with chosen headers; returns the HTTP status."""
        h, port = self.netloc.rsplit(":", 1)
        conn = http.client.HTTPConnection(h, int(port), timeout=30)
        headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if origin is not None:
            headers["Origin"] = origin
        if host is not None:
            conn.putrequest("POST", "/mcp", skip_host=True)
            conn.putheader("Host", host)
        else:
            conn.putrequest("POST", "/mcp")
        body = json.dumps(INITIALIZE).encode()
        for k, v in {**headers, "Content-Length": str(len(body))}.items():
            conn.putheader(k, v)
        conn.endheaders(body)
        status = conn.getresponse().status
        conn.close()
        return status
