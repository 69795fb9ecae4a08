"""forge-tui status (standard library only: `--short` runs every few seconds in a prompt or status bar)"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, field
from typing import Any

NAME = "status"
HELP = "what waits for a reviewer: pending count, oldest age, ledger state (--short: one line)"
DESCRIPTION = """\
Ask the project's daemon what waits for a human, without opening the console. --short prints one line,
for a tmux status bar or a shell prompt (it is fast: the standard library and one round trip):

  forge: 2 pending · oldest 4m 05s · ledger ok

  # ~/.tmux.conf: the queue of ~/src/shop in the status bar, refreshed every 5 s
  set -g status-interval 5
  set -g status-right '#(forge-tui -C ~/src/shop status --short)'

The ledger is `ok`, `degraded` (the gate denies every request until the daemon can write its ledger
again: it retries by itself), or `tracked-stale` (decisions go on; the copy in .forge/ledger/ lags);
the long form names the failed call (docs/faults.md). --json prints the same as one JSON object.
The reviewer socket is asked first (it knows how long the oldest request has waited), then the agent
socket (only the count).
Exit codes: 0 the daemon answered, 2 not inside a project, 3 no daemon answers."""

TIMEOUT_S = 2.0


def configure(p: argparse.ArgumentParser) -> None:
    form = p.add_mutually_exclusive_group()
    form.add_argument("--short", action="store_true", help="one line: pending, oldest age, ledger state")
    form.add_argument("--json", action="store_true", help="one JSON object")
    p.add_argument("--socket", help="the daemon socket to ask (default: the project's reviewer socket)")


@dataclass
class Summary:
    project: str
    daemon: str  # "up" or "down"
    pending: int = 0
    oldest_s: int | None = None  # how long the oldest pending request has waited
    ledger: str = "unknown"  # ok, degraded, tracked-stale, broken, unknown (docs/faults.md)
    ledger_fault: str | None = None  # the failed call and its error, while degraded or tracked-stale
    policy_error: str | None = None
    detail: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)


def _health(status: dict[str, Any]) -> dict[str, Any]:
    ledger = status.get("ledger") if isinstance(status.get("ledger"), dict) else {}
    return ledger.get("health") if isinstance(ledger.get("health"), dict) else {}


def ledger_state(status: dict[str, Any]) -> str:
    """The write path's state: `degraded` while the gate denies because the ledger cannot be written,
    `tracked-stale` while the copy in .forge/ledger/ lags (decisions go on), docs/faults.md."""
    ledger = status.get("ledger") if isinstance(status.get("ledger"), dict) else {}
    state = _health(status).get("state")
    if state == "degraded":  # (`broken` is the same fault under its older name)
        return "degraded"
    if ledger.get("broken"):
        return "broken"
    if ledger.get("degraded") or status.get("degraded"):
        return "degraded"
    if state == "tracked_stale":
        return "tracked-stale"
    return "ok" if ledger else "unknown"


def ledger_fault(status: dict[str, Any]) -> str | None:
    health = _health(status)
    fault = health.get("fault") or health.get("tracked_error")
    return str(fault) if fault else None


def gather(sockets: list[Any], project: str, now: float) -> Summary:
    """Ask the first socket that answers for `status` and, where allowed, `queue.list`."""
    from forge_tui.client import Client
    from forge_tui.protocol import QUEUE_LIST, STATUS, DaemonUnavailable, RPCError
    from forge_tui.tui.durations import parse_ts

    detail = "no daemon answers"
    for sock in sockets:
        try:
            with Client(sock, client="status", timeout=TIMEOUT_S) as c:
                status = c.call(STATUS, {})
                try:
                    pending = c.call(QUEUE_LIST, {})["pending"]
                except (RPCError, KeyError, TypeError):
                    pending = None  # the agent socket does not list the queue
        except (DaemonUnavailable, RPCError, OSError) as exc:
            detail = str(exc)
            continue
        if not isinstance(status, dict):
            continue
        s = Summary(project, "up", ledger=ledger_state(status), ledger_fault=ledger_fault(status))
        policy = status.get("policy") if isinstance(status.get("policy"), dict) else {}
        s.policy_error = str(policy["error"]) if policy.get("error") else None
        if not s.policy_error and policy.get("watch_error"):  # a reload that raised (policy_watch.py)
            s.policy_error = str(policy["watch_error"])
        if isinstance(pending, list):
            s.pending = len(pending)
            ages = [now - t for p in pending if (t := parse_ts(p.get("received_at"))) is not None]
            s.oldest_s = int(max(ages)) if ages else None
            s.requests = [_brief(p, now) for p in pending]
        else:
            count = status.get("pending")
            s.pending = count if type(count) is int else 0
        return s
    return Summary(project, "down", detail=detail)


def _brief(p: dict[str, Any], now: float) -> dict[str, Any]:
    from forge_tui.tui.durations import parse_ts

    action = p.get("action") or {}
    t = parse_ts(p.get("received_at"))
    return {
        "request_id": p.get("request_id"),
        "age_s": int(now - t) if t is not None else None,
        "actor": (p.get("actor") or {}).get("id"),
        "rule": p.get("rule"),
        "approvals": sum(1 for a in p.get("approvals") or [] if a.get("verdict") == "approve"),
        "needed": p.get("approvals_needed") or 1,
        "summary": action.get("summary") or action.get("command") or ", ".join(action.get("paths") or []),
    }


def short_line(s: Summary) -> str:
    from forge_tui.tui.durations import fmt_duration

    if s.daemon != "up":
        return "forge: daemon down"
    parts = [f"{s.pending} pending"]
    if s.pending and s.oldest_s is not None:
        parts.append(f"oldest {fmt_duration(s.oldest_s)}")
    parts.append(f"ledger {s.ledger}")
    if s.policy_error:
        parts.append("policy error")
    return "forge: " + " · ".join(parts)


def long_text(s: Summary) -> str:
    from forge_tui.tui.durations import fmt_duration

    lines = [f"project  {s.project}", f"daemon   {s.daemon}" + (f" ({s.detail})" if s.detail else "")]
    if s.daemon == "up":
        lines.append(f"ledger   {s.ledger}" + (f" ({_one_line(s.ledger_fault)})" if s.ledger_fault else ""))
        lines.append(f"policy   {'error: ' + s.policy_error if s.policy_error else 'ok'}")
        oldest = f", oldest {fmt_duration(s.oldest_s)}" if s.pending and s.oldest_s is not None else ""
        lines.append(f"pending  {s.pending}{oldest}")
        for r in s.requests:
            age = fmt_duration(r["age_s"]) if r["age_s"] is not None else "?"
            summary = _one_line(str(r["summary"] or ""))[:60]
            lines.append(
                f"  {r['request_id']}  {age:>7}  {r['approvals']}/{r['needed']}  "
                f"{_one_line(str(r['actor']))[:20]}  {summary}"
            )
    return "\n".join(lines)


def _one_line(text: str) -> str:
    """Agent text on one line with control characters made visible (a status line is a terminal)."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def run(args: argparse.Namespace) -> int:
    import json
    import os
    import time
    from pathlib import Path

    from forge_tui.errors import EXIT_WARN, NotAProject
    from forge_tui.paths import find_project_root, read_project_id, review_socket_path, socket_path

    root = find_project_root()
    if root is None:
        raise NotAProject("not inside a forge-tui project (no .forge/project.toml here or above)")
    pid = read_project_id(root)
    if args.socket:
        sockets: list[Any] = [Path(args.socket)]
    else:
        sockets = [review_socket_path(pid), socket_path(pid)]
        if os.environ.get("FORGE_SOCKET") and not os.environ.get("FORGE_REVIEW_SOCKET"):
            sockets = [socket_path(pid)]
    s = gather(list(dict.fromkeys(sockets)), root.name, time.time())
    if args.json:
        print(json.dumps(asdict(s), ensure_ascii=False))
    elif args.short:
        print(_one_line(short_line(s)))
    else:
        print(long_text(s))
    return 0 if s.daemon == "up" else EXIT_WARN
