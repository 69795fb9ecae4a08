"""A stand-in for the Gemini API, enough for Gemini CLI (`gemini -p`) to run against it.

Bound to 127.0.0.1 on a free port; Gemini CLI reaches it through GOOGLE_GEMINI_BASE_URL. Each request
that offers `run_shell_command` is answered, in turn, with a `functionCall` of the next scripted
command (a streamed request gets it as one Server-Sent Event); once every command has its
`functionResponse`, the answer is a short text. Side calls that want JSON (the CLI's model router,
its next-speaker check) get one object that satisfies each of them. The function responses the CLI
sent back are kept for the test.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SHELL_TOOL = "run_shell_command"
SIDE_ANSWER = {
    "complexity_reasoning": "simple",
    "complexity_score": 10,
    "reasoning": "done",
    "next_speaker": "user",
}


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._send(200, "application/json", b'{"models": []}')

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if ":countTokens" in self.path:
            self._send(200, "application/json", b'{"totalTokens": 10}')
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._send(400, "application/json", b'{"error": {"message": "bad json"}}')
            return
        parts = self.server.fake.answer(body)
        resp = {
            "candidates": [
                {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
            ],
            "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1, "totalTokenCount": 2},
        }
        if "alt=sse" in self.path:
            self._send(200, "text/event-stream", f"data: {json.dumps(resp)}\n\n".encode())
        else:
            self._send(200, "application/json", json.dumps(resp).encode())

    def _send(self, code: int, ctype: str, data: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeGemini


class FakeGemini:
    """`with FakeGemini(["cmd1", "cmd2"]) as api: ... api.url ...`"""

    def __init__(self, commands: list[str]) -> None:
        self.commands = list(commands)
        self.responses: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def answer(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        with self._lock:
            if (body.get("generationConfig") or {}).get("responseMimeType") == "application/json":
                return [{"text": json.dumps(SIDE_ANSWER)}]
            names = [
                d.get("name") for t in body.get("tools") or [] for d in t.get("functionDeclarations") or []
            ]
            done = [
                p["functionResponse"]
                for c in body.get("contents") or []
                for p in c.get("parts") or []
                if isinstance(p, dict) and "functionResponse" in p
            ]
            if SHELL_TOOL in names:
                self.responses = done
                if len(done) < len(self.commands):
                    return [
                        {"functionCall": {"name": SHELL_TOOL, "args": {"command": self.commands[len(done)]}}}
                    ]
            return [{"text": "All scripted steps are done."}]

    def __enter__(self) -> FakeGemini:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
