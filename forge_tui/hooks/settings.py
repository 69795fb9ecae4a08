"""The hosts' settings files: what `init --claude-code|--codex|--gemini` writes and `doctor` checks.

| host | file (in the project) | events | matcher | timeout unit | command form |
| --- | --- | --- | --- | --- | --- |
| Claude Code | `.claude/settings.json` | PreToolUse, PostToolUse, PostToolUseFailure | `*` | seconds | exec (`command` + `args`) |
| Codex CLI | `.codex/hooks.json` | PreToolUse, PostToolUse | `.*` | seconds | shell string |
| Gemini CLI | `.gemini/settings.json` | BeforeTool, AfterTool | `.*` | milliseconds | shell string |

Every entry runs the absolute interpreter with `-I -S` on the absolute path of forge_tui/hooks/run.py
(no shim, no site-packages scan: the hook starts near the interpreter's own start), with a deadline of
approval timeout + 30 s, under a host timeout of approval timeout + 60 s, through `/bin/sh -c '… ||
exit 2'`: the hosts let a tool run when the hook's command is missing (exit 127) or dies on a signal,
and the guard turns both into exit 2, a block (the settings name this machine's paths; on another
machine, or after forge-tui moved, every call is then denied until `init` is run again, never let
through). Merging keeps every other key and hook of the file; an earlier forge-tui entry is replaced,
never duplicated.
"""

from __future__ import annotations

import json
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forge_tui.errors import ConfigError
from forge_tui.paths import atomic_write

HOOK_SCRIPT = Path(__file__).resolve().parent / "run.py"
TIMEOUT_MARGIN_S = 60  # the host's timeout: approval timeout + this
DEADLINE_MARGIN_S = 30  # the hook's own deadline: approval timeout + this (below the host's timeout)
MARK = "forge_tui/hooks/run.py"  # how an entry is recognised as ours
SHELL = "/bin/sh"
GUARD = "|| exit 2"  # after the hook's command: a missing interpreter or a crash blocks
STATUS = "forge-tui gate"


@dataclass(frozen=True)
class Host:
    name: str  # the dialect: claude-code, codex, gemini
    title: str
    settings: str  # the file, relative to the project root
    events: tuple[str, ...]
    matcher: str
    timeout_ms: bool  # Gemini counts milliseconds
    exec_form: bool  # `command` + `args` without a shell (Claude Code); else one shell string


HOSTS: dict[str, Host] = {
    "claude-code": Host(
        "claude-code",
        "Claude Code",
        ".claude/settings.json",
        ("PreToolUse", "PostToolUse", "PostToolUseFailure"),
        "*",
        False,
        True,
    ),
    "codex": Host(
        "codex", "Codex CLI", ".codex/hooks.json", ("PreToolUse", "PostToolUse"), ".*", False, False
    ),
    "gemini": Host(
        "gemini", "Gemini CLI", ".gemini/settings.json", ("BeforeTool", "AfterTool"), ".*", True, False
    ),
}


def interpreter() -> str:
    """The absolute interpreter forge-tui runs under (a venv's python is a link; keep the link: it is
    the path the user installed into, and `-I -S` makes it start as fast as the target)."""
    exe = Path(sys.executable)
    if not exe.is_absolute():
        raise ConfigError(f"the Python interpreter path {exe} is not absolute")
    return str(exe)


def hook_argv(host: Host, approval_timeout_s: int) -> list[str]:
    return [
        interpreter(),
        "-I",
        "-S",
        str(HOOK_SCRIPT),
        host.name,
        "--deadline",
        str(approval_timeout_s + DEADLINE_MARGIN_S),
    ]


def hook_shell(host: Host, approval_timeout_s: int) -> str:
    """The hook's command line with its guard, for `sh -c`."""
    return f"{shlex.join(hook_argv(host, approval_timeout_s))} {GUARD}"


def hook_entry(host: Host, approval_timeout_s: int) -> dict[str, Any]:
    line = hook_shell(host, approval_timeout_s)
    timeout = approval_timeout_s + TIMEOUT_MARGIN_S
    entry: dict[str, Any] = {"type": "command"}
    if host.exec_form:  # no shell of the host's choosing: ours, named absolutely
        entry.update(command=SHELL, args=["-c", line])
    else:
        entry["command"] = line
    entry["timeout"] = timeout * 1000 if host.timeout_ms else timeout
    if host.name == "gemini":
        entry["name"] = STATUS
    else:
        entry["statusMessage"] = STATUS
    return entry


def entry_argv(entry: dict[str, Any]) -> list[str]:
    """The command line an entry runs, as argv (the `sh -c` wrapper unwrapped), and whether it ends
    in the guard. Not a full shell parser: enough for the entries init writes and their edits."""
    command = entry.get("command")
    args = entry.get("args")
    if not isinstance(command, str):
        return []
    if isinstance(args, list):
        if command.endswith("sh") and len(args) == 2 and args[0] == "-c" and isinstance(args[1], str):
            command = args[1]
        else:
            return [command, *(str(a) for a in args)]
    try:
        return shlex.split(command)
    except ValueError:
        return [command]


def split_guard(argv: list[str]) -> tuple[list[str], bool]:
    """(the hook's own argv, whether `|| exit 2` follows it)."""
    if "||" in argv:
        i = argv.index("||")
        return argv[:i], argv[i + 1 :] == ["exit", "2"]
    return argv, False


def is_ours(entry: Any) -> bool:
    if not isinstance(entry, dict):
        return False
    text = " ".join(str(x) for x in [entry.get("command", ""), *(entry.get("args") or [])])
    return MARK in text or "forge-tui hook" in text


def read_settings(path: Path) -> dict[str, Any]:
    """The settings object in `path` ({} when the file does not exist); ConfigError when it is not a
    JSON object (never overwritten then: the user's file is theirs to fix)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is unreadable: {exc}") from None
    if not text.strip():
        return {}
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{path} is not valid JSON ({exc}); fix or remove it first") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path} does not hold a JSON object")
    return doc


def merged(doc: dict[str, Any], host: Host, approval_timeout_s: int) -> dict[str, Any]:
    """`doc` with forge-tui's hook group for each of the host's events (other groups and keys kept)."""
    out = dict(doc)
    hooks = out.get("hooks")
    if hooks is None:
        hooks = {}
    if not isinstance(hooks, dict):
        raise ConfigError(f"{host.settings}: `hooks` is not an object")
    hooks = dict(hooks)
    entry = hook_entry(host, approval_timeout_s)
    for event in host.events:
        groups = hooks.get(event) or []
        if not isinstance(groups, list):
            raise ConfigError(f"{host.settings}: hooks.{event} is not a list")
        kept = []
        for g in groups:
            if isinstance(g, dict) and isinstance(g.get("hooks"), list):
                rest = [h for h in g["hooks"] if not is_ours(h)]
                if not rest and g["hooks"]:
                    continue  # a group that held only our old entry
                g = {**g, "hooks": rest}
            kept.append(g)
        hooks[event] = [*kept, {"matcher": host.matcher, "hooks": [entry]}]
    out["hooks"] = hooks
    return out


@dataclass(frozen=True)
class Planned:
    """One settings file to write: where, its new bytes, and its bytes before (None: no file)."""

    host: Host
    path: Path
    data: bytes
    before: bytes | None = None


def plan(root: Path, hosts: list[str], approval_timeout_s: int) -> list[Planned]:
    """Everything `init` will write, computed before anything is written (a bad existing file stops
    init before the project is touched)."""
    out = []
    for name in hosts:
        host = HOSTS[name]
        path = root / host.settings
        doc = merged(read_settings(path), host, approval_timeout_s)
        before = path.read_bytes() if path.is_file() else None
        out.append(
            Planned(host, path, (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode(), before)
        )
    return out


def write(planned: list[Planned]) -> None:
    """Write every planned file, or none: when one fails, those already written get their old bytes
    back (or go, if they did not exist) and the OSError propagates."""
    done: list[Planned] = []
    try:
        for p in planned:
            p.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(p.path, p.data)
            done.append(p)
    except OSError:
        for p in reversed(done):
            try:
                if p.before is None:
                    p.path.unlink(missing_ok=True)
                else:
                    atomic_write(p.path, p.before)
            except OSError:
                pass  # the first error is the one to report
        raise
