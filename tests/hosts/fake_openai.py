"""A stand-in for the OpenAI Responses API, enough for Codex CLI (`codex exec`) to run against it.

Bound to 127.0.0.1 on a free port; Codex reaches it through a `[model_providers.NAME]` table with
`wire_api = "responses"`. Each request that offers Codex's `exec_command` tool is answered, in turn,
with a `function_call` of the next scripted command (streamed as Server-Sent Events: response.created,
response.output_item.added / .done, response.completed); once every command has its
function_call_output, and for any other request, the answer is a short assistant message. The outputs
Codex sent back are kept for the test.
"""

from __future__ import annotations

import json
from typing import Any

from fake_http import FakeServer, Handler

SHELL_TOOL = "exec_command"
USAGE = {
    "input_tokens": 1,
    "input_tokens_details": {"cached_tokens": 0},
    "output_tokens": 1,
    "output_tokens_details": {"reasoning_tokens": 0},
    "total_tokens": 2,
}


class _Handler(Handler):
    def do_GET(self) -> None:
        self.send_json(200, {"data": [], "models": []})

    def do_POST(self) -> None:
        body = self.json_body({"error": {"message": "bad json"}})
        if body is None:
            return
        item = self.fake.answer(body)
        self.send_events(
            [
                ("response.created", {"type": "response.created", "response": _response([], "in_progress")}),
                (
                    "response.output_item.added",
                    {"type": "response.output_item.added", "output_index": 0, "item": item},
                ),
                (
                    "response.output_item.done",
                    {"type": "response.output_item.done", "output_index": 0, "item": item},
                ),
                (
                    "response.completed",
                    {"type": "response.completed", "response": _response([item], "completed")},
                ),
            ]
        )


def _response(output: list[dict[str, Any]], status: str) -> dict[str, Any]:
    return {"id": "resp_fake", "object": "response", "status": status, "output": output, "usage": USAGE}


class FakeOpenAI(FakeServer):
    """`with FakeOpenAI(["cmd1", "cmd2"]) as api: ... api.base_url ...`"""

    handler = _Handler

    def __init__(self, commands: list[str]) -> None:
        self.commands = list(commands)
        self.outputs: list[dict[str, Any]] = []
        super().__init__()

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            offers = any(isinstance(t, dict) and t.get("name") == SHELL_TOOL for t in body.get("tools") or [])
            inputs = body.get("input") if isinstance(body.get("input"), list) else []
            done = [i for i in inputs if isinstance(i, dict) and i.get("type") == "function_call_output"]
            if offers:
                self.outputs = done
            n = len(done)
            if offers and n < len(self.commands):
                return {
                    "type": "function_call",
                    "id": f"fc_fake_{n:02d}",
                    "call_id": f"call_fake_{n:02d}",
                    "name": SHELL_TOOL,
                    "arguments": json.dumps({"cmd": self.commands[n]}),
                    "status": "completed",
                }
            return {
                "type": "message",
                "id": "msg_fake",
                "role": "assistant",
                "status": "completed",
                "content": [
                    {"type": "output_text", "text": "All scripted steps are done.", "annotations": []}
                ],
            }
