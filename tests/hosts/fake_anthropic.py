"""A stand-in for the Anthropic Messages API, enough for Claude Code to run headless against it.

Bound to 127.0.0.1 on a free port. Each request that offers the Bash tool is answered, in turn, with a
`tool_use` of the next scripted command (streamed as Server-Sent Events the way the real API streams:
message_start, content_block_start, input_json_delta, content_block_stop, message_delta,
message_stop); once every command has had its tool_result, and for every side call without tools
(titles, summaries), the answer is a short text. What Claude Code sent back as tool results is kept,
so a test can see the reason a denied call gave the model.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

from fake_http import FakeServer, Handler


@dataclass
class Script:
    commands: list[str]
    tool_results: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _tool_results(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for m in messages:
        content = m.get("content")
        if m.get("role") == "user" and isinstance(content, list):
            out.extend(b for b in content if isinstance(b, dict) and b.get("type") == "tool_result")
    return out


def _offers_bash(body: dict[str, Any]) -> bool:
    return any(isinstance(t, dict) and t.get("name") == "Bash" for t in body.get("tools") or [])


def _events(blocks: list[dict[str, Any]], stop: str) -> list[tuple[str, dict[str, Any]]]:
    message = {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": "claude-fake",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 1},
    }
    ev: list[tuple[str, dict[str, Any]]] = [("message_start", {"type": "message_start", "message": message})]
    for i, b in enumerate(blocks):
        if b["type"] == "tool_use":
            start = {"type": "tool_use", "id": b["id"], "name": b["name"], "input": {}}
            delta = {"type": "input_json_delta", "partial_json": json.dumps(b["input"])}
        else:
            start = {"type": "text", "text": ""}
            delta = {"type": "text_delta", "text": b["text"]}
        ev.append(
            ("content_block_start", {"type": "content_block_start", "index": i, "content_block": start})
        )
        ev.append(("content_block_delta", {"type": "content_block_delta", "index": i, "delta": delta}))
        ev.append(("content_block_stop", {"type": "content_block_stop", "index": i}))
    ev.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": 5},
            },
        )
    )
    ev.append(("message_stop", {"type": "message_stop"}))
    return ev


def answer(script: Script, body: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """The content blocks and stop reason for one request."""
    with script.lock:
        script.requests.append(body)
        if not _offers_bash(body):
            return [{"type": "text", "text": "Gate test"}], "end_turn"
        done = _tool_results(body.get("messages") or [])
        script.tool_results = done
        n = len(done)
        if n < len(script.commands):
            block = {
                "type": "tool_use",
                "id": f"toolu_fake_{n:02d}",
                "name": "Bash",
                "input": {"command": script.commands[n], "description": f"scripted step {n}"},
            }
            return [block], "tool_use"
        return [{"type": "text", "text": "All scripted steps are done."}], "end_turn"


class _Handler(Handler):
    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        self.send_json(200, {"data": [], "has_more": False})

    def do_POST(self) -> None:
        body = self.json_body(
            {"type": "error", "error": {"type": "invalid_request_error", "message": "bad json"}}
        )
        if body is None:
            return
        if self.path.startswith("/v1/messages/count_tokens"):
            self.send_json(200, {"input_tokens": 10})
            return
        if not self.path.startswith("/v1/messages"):
            self.send_json(404, {"type": "error", "error": {"type": "not_found_error", "message": self.path}})
            return
        blocks, stop = answer(self.fake.script, body)
        if not body.get("stream"):
            content = [
                {"type": "tool_use", "id": b["id"], "name": b["name"], "input": b["input"]}
                if b["type"] == "tool_use"
                else b
                for b in blocks
            ]
            self.send_json(
                200,
                {
                    "id": "msg_fake",
                    "type": "message",
                    "role": "assistant",
                    "model": "claude-fake",
                    "content": content,
                    "stop_reason": stop,
                    "stop_sequence": None,
                    "usage": {"input_tokens": 10, "output_tokens": 5},
                },
            )
            return
        self.send_events(_events(blocks, stop))


class FakeAnthropic(FakeServer):
    """`with FakeAnthropic(["cmd1", "cmd2"]) as api: ... api.url ...`"""

    handler = _Handler

    def __init__(self, commands: list[str]) -> None:
        self.script = Script(commands=list(commands))
        super().__init__()
