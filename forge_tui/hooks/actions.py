"""A host's tool call as a gate action (docs/hooks.md): which kind, which paths, which command, the diff a
reviewer sees, and the digest that binds the decision to the exact tool input.

Runs in the daemon (the agent-side hook only forwards the payload). Standard library only. Tools no
table names map to kind `other`, which the policy decides like any other action (never allowed by
default). Reading a file to show a write as a diff is done only for regular files inside the project
of at most MAX_CONTENT bytes: the daemon never shows the reviewer a file from elsewhere.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import stat
from dataclasses import dataclass
from typing import Any

from forge_tui.protocol import MAX_CONTENT

# Claude Code's tool names (Codex uses Bash and apply_patch; Gemini CLI has its own names below).
READ_TOOLS = frozenset({"Read", "Glob", "Grep", "LS", "NotebookRead"})
WRITE_TOOLS = frozenset({"Edit", "Write", "MultiEdit", "NotebookEdit"})
SHELL_TOOLS = frozenset({"Bash", "shell", "local_shell", "exec_command"})
FETCH_TOOLS = frozenset({"WebFetch", "WebSearch"})
PATCH_TOOLS = frozenset({"apply_patch", "ApplyPatch"})
# Gemini CLI: tool name -> the Claude Code tool it behaves like.
GEMINI_TOOLS = {
    "run_shell_command": "Bash",
    "read_file": "Read",
    "read_many_files": "Read",
    "list_directory": "LS",
    "glob": "Glob",
    "search_file_content": "Grep",
    "grep_search": "Grep",
    "write_file": "Write",
    "replace": "Edit",
    "web_fetch": "WebFetch",
    "google_web_search": "WebSearch",
}
PATH_KEYS = ("file_path", "notebook_path", "absolute_path", "path", "dir_path", "directory")
_URL_RE = re.compile(r"https?://[^\s\"'<>]+")
_PATCH_FILE_RE = re.compile(r"^\*\*\* (Add|Update|Delete) File: (.+)$", re.MULTILINE)
_TRUNCATED = "\n... (diff truncated: over 1 MiB)\n"
MAX_SUMMARY = 200


@dataclass(frozen=True)
class MappedAction:
    """The gate action for one tool call, and the content a reviewer sees while it is pending."""

    action: dict[str, Any]  # kind, tool, command, paths, url, summary, input_digest
    content: dict[str, str] | None  # {"kind": "diff", "text": ...}


def input_digest(tool: str, tool_input: Any) -> str:
    """`sha256:<hex>` of the UTF-8 JSON of {"tool", "input"} with sorted keys and no spaces: the same
    for the PreToolUse and the PostToolUse of one call, so the outcome binds to what was decided."""
    text = json.dumps(
        {"tool": tool, "input": tool_input}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def canonical_tool(host: str, tool: str) -> str:
    """The Claude Code tool a host's tool behaves like (Gemini's names differ; the rest are kept)."""
    if host == "gemini":
        if tool.startswith("mcp_") and not tool.startswith("mcp__"):
            return tool  # unknown shape: stays `other` unless it is mcp__server__tool
        return GEMINI_TOOLS.get(tool, tool)
    return tool


def map_tool(host: str, tool: str, tool_input: Any, *, cwd: str | None, root: str) -> MappedAction:
    """Map one tool call (as the host named it) to a gate action."""
    args = tool_input if isinstance(tool_input, dict) else {}
    like = canonical_tool(host, tool)
    base = cwd if cwd and os.path.isabs(cwd) else root
    action: dict[str, Any] = {
        "kind": "other",
        "tool": tool[:256],
        "command": None,
        "paths": [],
        "url": None,
        "summary": None,
        "input_digest": input_digest(tool, tool_input),
    }
    content = None
    if like in SHELL_TOOLS:
        command = _shell_command(args)
        action.update(kind="shell.exec", command=command or "", summary=_text(args.get("description")))
        if not command:
            action.update(kind="other", summary="a shell call without a command")
    elif like in READ_TOOLS:
        action.update(kind="file.read", paths=_read_paths(args, base), summary=_read_summary(like, args))
    elif like in WRITE_TOOLS:
        path = _first_path(args, base)
        action.update(kind="file.write", paths=[path] if path else [], summary=f"{like} {path or '?'}")
        content = _write_diff(like, args, path, root)
    elif like in PATCH_TOOLS:
        action, content = _patch_action(action, args, base)
    elif like in FETCH_TOOLS:
        url = _text(args.get("url")) or _first_url(_text(args.get("prompt")))
        query = _text(args.get("query"))
        action.update(kind="net.fetch", url=url, summary=f"search: {query}" if query else url)
    elif tool.startswith("mcp__") and tool.count("__") >= 2:
        action.update(kind="mcp.call", summary=_args_summary(args))
    else:
        action.update(summary=_args_summary(args))
    action["summary"] = _clip(action["summary"])
    return MappedAction(action=action, content=content)


# ---- pieces ------------------------------------------------------------------------------------------


def _text(v: Any) -> str | None:
    return v if isinstance(v, str) and v else None


def _clip(v: str | None) -> str | None:
    if v is None or len(v) <= MAX_SUMMARY:
        return v
    return v[: MAX_SUMMARY - 1] + "…"


def _shell_command(args: dict[str, Any]) -> str | None:
    cmd = args.get("command")
    if isinstance(cmd, list) and all(isinstance(w, str) for w in cmd):
        # Codex sends argv lists, often ["bash", "-lc", "<script>"]: the script is what runs.
        if len(cmd) == 3 and cmd[1] in ("-c", "-lc") and os.path.basename(cmd[0]) in ("bash", "sh", "zsh"):
            return cmd[2]
        import shlex

        return shlex.join(cmd)
    return _text(cmd) or _text(args.get("cmd"))


def _resolve(p: str, base: str) -> str:
    p = os.path.expanduser(p)
    return os.path.normpath(p if os.path.isabs(p) else os.path.join(base, p))


def _first_path(args: dict[str, Any], base: str) -> str | None:
    for key in PATH_KEYS:
        v = _text(args.get(key))
        if v:
            return _resolve(v, base)
    return None


def _read_paths(args: dict[str, Any], base: str) -> list[str]:
    paths: list[str] = []
    first = _first_path(args, base)
    paths.append(first or os.path.normpath(base))
    for key in ("paths", "include"):  # Gemini read_many_files
        many = args.get(key)
        if isinstance(many, list):
            paths.extend(_resolve(p, base) for p in many if isinstance(p, str) and p)
    pattern = _text(args.get("pattern"))
    # A glob that climbs out (`../../**`) or starts elsewhere (`/etc/**`) reads there: name it too.
    if pattern and (os.path.isabs(pattern) or ".." in pattern.split("/") or pattern.startswith("~")):
        paths.append(_resolve(pattern, paths[0]))
    return list(dict.fromkeys(paths))[:1000]


def _read_summary(like: str, args: dict[str, Any]) -> str | None:
    pattern = _text(args.get("pattern"))
    return f"{like} {pattern}" if pattern else None


def _first_url(text: str | None) -> str | None:
    m = _URL_RE.search(text or "")
    return m.group(0) if m else None


def _args_summary(args: dict[str, Any]) -> str | None:
    if not args:
        return None
    return json.dumps(args, sort_keys=True, ensure_ascii=False)[:MAX_SUMMARY]


def _read_project_file(path: str | None, root: str) -> str | None:
    """The current text of `path` if it is a regular file inside the project, else None."""
    if not path:
        return None
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    if os.path.commonpath([real, real_root]) != real_root:
        return None
    try:
        st = os.stat(real)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_CONTENT:
            return None
        with open(real, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:
        return None


def _write_diff(like: str, args: dict[str, Any], path: str | None, root: str) -> dict[str, str] | None:
    label = os.path.relpath(path, root) if path and _inside(path, root) else (path or "?")
    old = _read_project_file(path, root)
    new: str | None = None
    if like == "Write":
        new = _text(args.get("content")) or ""
    elif like == "Edit":
        edits = [args]
    elif like == "MultiEdit":
        edits = [e for e in args.get("edits") or [] if isinstance(e, dict)]
    elif like == "NotebookEdit":
        return _diff("", _text(args.get("new_source")) or "", label, note="notebook cell")
    if new is None:
        if old is not None:
            new = _apply_edits(old, edits)
        if new is None:  # the file is not readable here, or an old string is not in it
            before = "".join(_text(e.get("old_string")) or "" for e in edits)
            after = "".join(_text(e.get("new_string")) or "" for e in edits)
            return _diff(before, after, label, note="old and new strings")
    return _diff(old or "", new, label)


def _inside(path: str, root: str) -> bool:
    return os.path.commonpath([os.path.abspath(path), os.path.abspath(root)]) == os.path.abspath(root)


def _apply_edits(text: str, edits: list[dict[str, Any]]) -> str | None:
    for e in edits:
        old, new = _text(e.get("old_string")) or "", e.get("new_string")
        if not isinstance(new, str) or not old or old not in text:
            return None
        every = bool(e.get("replace_all")) or (e.get("expected_replacements") or 1) > 1
        text = text.replace(old, new) if every else text.replace(old, new, 1)
    return text


def _diff(old: str, new: str, label: str, note: str | None = None) -> dict[str, str]:
    lines = difflib.unified_diff(
        old.splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile=f"a/{label}",
        tofile=f"b/{label}" + (f" ({note})" if note else ""),
    )
    text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
    return {"kind": "diff", "text": _fit(text)}


def _fit(text: str) -> str:
    """`text`, cut to what the gate accepts as content (1 MiB of UTF-8) with a note where it was cut."""
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= MAX_CONTENT:
        return text
    keep = MAX_CONTENT - len(_TRUNCATED.encode())
    return data[:keep].decode("utf-8", "ignore") + _TRUNCATED


def _patch_action(
    action: dict[str, Any], args: dict[str, Any], base: str
) -> tuple[dict[str, Any], dict[str, str] | None]:
    patch = next((v for v in _strings(args) if "*** Begin Patch" in v), None)
    if patch is None:
        action.update(summary=_args_summary(args))
        return action, None
    ops = _PATCH_FILE_RE.findall(patch)
    paths = [_resolve(p.strip(), base) for _, p in ops][:1000]
    only_deletes = bool(ops) and all(op == "Delete" for op, _ in ops)
    action.update(
        kind="file.delete" if only_deletes else "file.write",
        paths=paths,
        summary=f"apply_patch: {len(ops)} file(s)",
    )
    return action, {"kind": "diff", "text": _fit(patch)}


def _strings(v: Any):
    if isinstance(v, str):
        yield v
    elif isinstance(v, dict):
        for x in v.values():
            yield from _strings(x)
    elif isinstance(v, list):
        for x in v:
            yield from _strings(x)
