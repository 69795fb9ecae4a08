"""What the stand-in model APIs (fake_anthropic, fake_openai, fake_gemini) share: a quiet HTTP/1.1
handler that reads a JSON body and sends whole answers (JSON or Server-Sent Events), and a server bound to
127.0.0.1 on a free port, served from a thread for the length of a `with` block."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: Any  # the FakeServer this serves (handlers reach their script through it)


class Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args: Any) -> None:  # quiet
        pass

    @property
    def fake(self) -> Any:
        return self.server.fake

    def json_body(self, bad_json: dict[str, Any]) -> dict[str, Any] | None:
        """The request's JSON body ({} when empty), or None after answering 400 with `bad_json`."""
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        try:
            return json.loads(raw)
        except ValueError:
            self.send_json(400, bad_json)
            return None

    def send(self, code: int, ctype: str, data: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def send_json(self, code: int, obj: Any) -> None:
        self.send(code, "application/json", json.dumps(obj).encode())

    def send_events(self, events: list[tuple[str | None, Any]]) -> None:
        """Server-Sent Events, all at once: `event: NAME` (left out where NAME is None) and `data: JSON`."""
        data = b"".join(
            (f"event: {name}\n" if name else "").encode() + f"data: {json.dumps(payload)}\n\n".encode()
            for name, payload in events
        )
        self.send(200, "text/event-stream", data)


class FakeServer:
    """A stand-in API: `with Sub(...) as api: ... api.url ...`; `handler` answers its requests."""

    handler: type[Handler]

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), self.handler)
        self._server.fake = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
