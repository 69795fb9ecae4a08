"""The deny (and allow) answers in each host's format, built without the json module so that the
agent-side hook can print one when it cannot reach the daemon. The daemon uses the same functions.

Claude Code and Codex read `hookSpecificOutput.permissionDecision`; Gemini CLI reads `decision` and
ignores Claude Code's shape. A deny is always paired with exit code 2 and the reason on standard
error: all three hosts block on exit 2 whatever standard output says, and treat every other failure
(exit 1, a crash, no output, a timeout) as "let the tool run".
"""

from __future__ import annotations

from forge_tui.hooks import EXIT_ALLOW, EXIT_BLOCK

__all__ = ["EXIT_ALLOW", "EXIT_BLOCK", "deny_text", "json_string"]

_ESCAPES = {ord('"'): '\\"', ord("\\"): "\\\\"}
_ESCAPES.update({c: f"\\u{c:04x}" for c in range(0x20)})


def json_string(text: str) -> str:
    """`text` as a JSON string literal (quotes included); lone surrogates are escaped, never emitted."""
    out = text.translate(_ESCAPES)
    if any(0xD800 <= ord(c) <= 0xDFFF for c in out):
        out = "".join(f"\\u{ord(c):04x}" if 0xD800 <= ord(c) <= 0xDFFF else c for c in out)
    return f'"{out}"'


def claude_decision(event_name: str, decision: str, reason: str) -> str:
    """Claude Code's (and Codex's) PreToolUse answer."""
    return (
        '{"hookSpecificOutput":{"hookEventName":'
        + json_string(event_name)
        + ',"permissionDecision":'
        + json_string(decision)
        + ',"permissionDecisionReason":'
        + json_string(reason)
        + "}}"
    )


def claude_permission(decision: str, reason: str) -> str:
    """Claude Code's PermissionRequest answer (`behavior` allow or deny)."""
    message = ',"message":' + json_string(reason) if decision == "deny" else ""
    return (
        '{"hookSpecificOutput":{"hookEventName":"PermissionRequest","decision":{"behavior":'
        + json_string(decision)
        + message
        + "}}}"
    )


def gemini_decision(decision: str, reason: str) -> str:
    """Gemini CLI's BeforeTool answer."""
    return '{"decision":' + json_string(decision) + ',"reason":' + json_string(reason) + "}"


def deny_text(host: str, reason: str, event_name: str = "") -> str:
    """What a hook prints on standard output to deny, in `host`'s terms (any host we do not know gets
    Claude Code's shape: the exit code 2 that goes with it blocks in every host)."""
    if host == "gemini":
        return gemini_decision("deny", reason)
    if event_name == "PermissionRequest":
        return claude_permission("deny", reason)
    return claude_decision(event_name or "PreToolUse", "deny", reason)
