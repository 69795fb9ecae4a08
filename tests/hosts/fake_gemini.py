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
from typing import Any

from fake_http import FakeServer, Handler

SHELL_TOOL = "run_shell_command"
SIDE_ANSWER = {
    "complexity_reasoning": "simple",
    "complexity_score": 10,
    "reasoning": "done",
    "next_speaker": "user",
}


class _Handler(Handler):
    def do_GET(self) -> None:
        self.send_json(200, {"models": []})

    def do_POST(self) -> None:
        body = self.json_body({"error": {"message": "bad json"}})
        if body is None:
            return
        if ":countTokens" in self.path:
            self.send_json(200, {"totalTokens": 10})
            return
        parts = self.fake.answer(body)
        resp = {
            "candidates": [
                {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
            ],
            "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1, "totalTokenCount": 2},
        }
        if "alt=sse" in self.path:
            self.send_events([(None, resp)])
        else:
            self.send_json(200, resp)


class FakeGemini(FakeServer):
    """`with FakeGemini(["cmd1", "cmd2"]) as api: ... api.url ...`"""

    handler = _Handler

    def __init__(self, commands: list[str]) -> None:
        self.commands = list(commands)
        self.responses: list[dict[str, Any]] = []
        super().__init__()

    def answer(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        with self.lock:
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
