"""Serving an MCP server over HTTP: Streamable HTTP at `/mcp` and the legacy HTTP+SSE transport at
`/sse` + `/messages/`, behind one guard that checks, for every request, the Host header (DNS
rebinding), the Origin header when a browser sends one, and the bearer token.

Loopback only unless the caller says otherwise: `parse_listen` refuses any other address without
`allow_remote`. The token is random (32 bytes), printed at start and stored 0600 in the runtime folder.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forge_tui.errors import ConfigError
from forge_tui.paths import runtime_dir, write_private_file

LOOPBACK_NAMES = ("localhost",)
MCP_PATH = "/mcp"
SSE_PATH = "/sse"
MESSAGES_PATH = "/messages/"


@dataclass(frozen=True)
class Listen:
    host: str  # as given, without brackets
    port: int

    @property
    def family(self) -> int:
        return socket.AF_INET6 if ":" in self.host else socket.AF_INET

    def netloc(self, port: int | None = None) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port if port is None else port}"


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_listen(text: str, *, allow_remote: bool = False) -> Listen:
    """`127.0.0.1:8765`, `[::1]:0`, `localhost:0` (port 0: any free port)."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text.isdigit() or int(port_text) > 65535:
        raise ConfigError(f"--http wants HOST:PORT, got {text!r}", hint="e.g. --http 127.0.0.1:8765")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not is_loopback(host) and not allow_remote:
        raise ConfigError(
            f"{host} is not a loopback address: the MCP server listens on loopback only",
            hint="pass --allow-remote to listen there anyway (anyone who can reach it and has the token is an agent)",
        )
    return Listen(host, int(port_text))


def allowed_hosts(listen: Listen, port: int, extra: tuple[str, ...] = ()) -> frozenset[str]:
    """Host header values a request may carry: the bound address, and `localhost` for loopback."""
    hosts = {listen.netloc(port).lower()}
    if is_loopback(listen.host):
        hosts.add(f"localhost:{port}")
        hosts.add(f"127.0.0.1:{port}" if listen.family == socket.AF_INET else f"[::1]:{port}")
    hosts.update(h.lower() if ":" in h else f"{h.lower()}:{port}" for h in extra)
    return frozenset(hosts)


def token_path(project_id: str) -> Path:
    return runtime_dir() / f"{project_id}.mcp-token"


def load_or_make_token(path: Path, *, new: bool = False) -> str:
    """The stored token (so client settings survive a restart), or a fresh one written 0600."""
    if not new:
        try:
            text = path.read_text(encoding="ascii").strip()
            if len(text) >= 32 and (path.stat().st_mode & 0o077) == 0:
                return text
        except (OSError, UnicodeDecodeError):
            pass
    token = secrets.token_urlsafe(32)
    write_private_file(path, token.encode("ascii") + b"\n")
    return token


class Guard:
    """ASGI middleware: Host in `hosts` (421), Origin absent or matching (403), bearer token (401)."""

    def __init__(self, app: Any, token: str, hosts: frozenset[str]) -> None:
        self.app = app
        self.token = token.encode("ascii")
        self.hosts = hosts
        self.origins = frozenset(f"http://{h}" for h in hosts)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            return  # no websockets here
        headers: dict[str, list[str]] = {}
        for k, v in scope.get("headers", []):
            headers.setdefault(k.decode("latin-1").lower(), []).append(v.decode("latin-1"))
        hosts = headers.get("host", [])
        if len(hosts) != 1 or hosts[0].lower() not in self.hosts:
            await _reply(send, 421, "Host not allowed (DNS rebinding protection)")
            return
        origins = headers.get("origin", [])
        if origins and (len(origins) != 1 or origins[0].lower() not in self.origins):
            await _reply(send, 403, "Origin not allowed")
            return
        auth = headers.get("authorization", [])
        scheme, _, cred = (auth[0] if len(auth) == 1 else "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(cred.strip().encode("latin-1"), self.token):
            await _reply(send, 401, "missing or wrong bearer token", {"www-authenticate": "Bearer"})
            return
        await self.app(scope, receive, send)


async def _reply(send: Any, status: int, text: str, extra: dict[str, str] | None = None) -> None:
    body = (text + "\n").encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in (extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def build_app(server: Any, token: str, hosts: frozenset[str]) -> Any:
    """One ASGI app serving `server` (a low-level mcp Server) on both HTTP transports, guarded."""
    from mcp.server.sse import SseServerTransport
    from mcp.server.transport_security import TransportSecuritySettings
    from starlette.responses import Response
    from starlette.routing import Mount, Route

    # The SDK's own rebinding check as well, with the same hosts (defence in depth).
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=sorted(hosts),
        allowed_origins=sorted(f"http://{h}" for h in hosts),
    )
    app = server.streamable_http_app(streamable_http_path=MCP_PATH, transport_security=security)
    sse = SseServerTransport(MESSAGES_PATH, security_settings=security)

    async def handle_sse(request: Any) -> Response:
        async with sse.connect_sse(request.scope, request.receive, request._send) as (read, write):
            await server.run(read, write, server.create_initialization_options())
        return Response()

    app.router.routes.append(Route(SSE_PATH, endpoint=handle_sse, methods=["GET"]))
    app.router.routes.append(Mount(MESSAGES_PATH, app=sse.handle_post_message))
    return Guard(app, token, hosts)


def bind(listen: Listen) -> socket.socket:
    sock = socket.socket(listen.family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((listen.host, listen.port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {listen.netloc()}: {exc.strerror}") from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


async def serve(app: Any, sock: socket.socket) -> None:
    import uvicorn

    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    await uvicorn.Server(config).serve(sockets=[sock])
