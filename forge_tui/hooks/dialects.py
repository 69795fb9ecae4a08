"""The three hosts' hook dialects: which event a payload is, what it carries, and how to answer.

Claude Code (PreToolUse, PostToolUse, PostToolUseFailure, PermissionRequest) and Codex CLI (the same
names and fields plus `turn_id`, `model`) share one shape; Gemini CLI calls the events BeforeTool and
AfterTool, names its tools differently and reads `{"decision", "reason"}`. Runs in the daemon.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from forge_tui.hooks import HOSTS
from forge_tui.hooks.answers import (
    EXIT_ALLOW,
    EXIT_BLOCK,
    claude_decision,
    claude_permission,
    deny_text,
    gemini_decision,
)

PRE, POST, POST_FAILED, PERMISSION = "pre", "post", "post_failed", "permission"
EVENTS: dict[str, dict[str, str]] = {
    "claude-code": {
        "PreToolUse": PRE,
        "PostToolUse": POST,
        "PostToolUseFailure": POST_FAILED,
        "PermissionRequest": PERMISSION,
    },
    "codex": {"PreToolUse": PRE, "PostToolUse": POST},
    "gemini": {"BeforeTool": PRE, "AfterTool": POST},
}
assert set(EVENTS) == set(HOSTS)


class HookInputError(ValueError):
    """The payload is not a tool event this hook can judge (the hook then denies)."""


@dataclass(frozen=True)
class HookEvent:
    host: str
    phase: str  # PRE, POST, POST_FAILED or PERMISSION
    event_name: str  # as the host spelled it, echoed in the answer
    session: str
    tool: str
    tool_input: Any
    tool_use_id: str | None
    cwd: str | None
    agent: str | None  # a subagent's type (Claude Code), else None
    response: Any  # PostToolUse's tool_response


@dataclass(frozen=True)
class HookReply:
    """What the hook prints and the exit code it returns."""

    exit: int
    stdout: str
    stderr: str


def parse_event(host: str, payload: Any) -> HookEvent:
    if host not in EVENTS:
        raise HookInputError(f"unknown host {host!r} (expected one of {', '.join(HOSTS)})")
    if not isinstance(payload, dict):
        raise HookInputError("the hook payload is not a JSON object")
    name = payload.get("hook_event_name")
    phase = EVENTS[host].get(name) if isinstance(name, str) else None
    if phase is None:
        raise HookInputError(f"{host} event {str(name)[:40]!r} is not a tool event forge-tui gates")
    tool = payload.get("tool_name")
    if not isinstance(tool, str) or not tool:
        raise HookInputError("the payload names no tool (tool_name)")
    session = payload.get("session_id")
    return HookEvent(
        host=host,
        phase=phase,
        event_name=name,
        session=session[:256] if isinstance(session, str) and session else "unknown",
        tool=tool[:256],
        tool_input=payload.get("tool_input", {}),
        tool_use_id=_opt_str(payload.get("tool_use_id")),
        cwd=_opt_str(payload.get("cwd"), 4096),
        agent=_opt_str(payload.get("agent_type")) or _opt_str(payload.get("agent_id")),
        response=payload.get("tool_response"),
    )


def _opt_str(v: Any, limit: int = 256) -> str | None:
    return v[:limit] if isinstance(v, str) and v else None


def allow(ev: HookEvent, reason: str) -> HookReply:
    if ev.host == "gemini":
        return HookReply(EXIT_ALLOW, gemini_decision("allow", reason), "")
    if ev.phase == PERMISSION:
        return HookReply(EXIT_ALLOW, claude_permission("allow", reason), "")
    return HookReply(EXIT_ALLOW, claude_decision(ev.event_name, "allow", reason), "")


def deny(host: str, reason: str, event_name: str = "") -> HookReply:
    """Deny in `host`'s terms: its deny JSON on standard output, the reason on standard error, exit 2."""
    return HookReply(EXIT_BLOCK, deny_text(host, reason, event_name), reason + "\n")


def recorded(ev: HookEvent) -> HookReply:
    """The answer to a PostToolUse / AfterTool whose outcome is in the ledger: nothing to add."""
    return HookReply(EXIT_ALLOW, "{}", "")


def failure_is_reported(ev: HookEvent) -> bool:
    """Whether the tool's response says it failed (Gemini's `error`, a Claude PostToolUseFailure)."""
    if ev.phase == POST_FAILED:
        return True
    r = ev.response
    if isinstance(r, dict):
        if r.get("error"):
            return True
        code = r.get("exit_code", r.get("exitCode"))
        if isinstance(code, int) and code != 0:
            return True
    return False
