"""Record filters shared by `forge-tui log/query` and the daemon's `ledger.query`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from wcmatch import glob as wglob

_GLOB_FLAGS = wglob.GLOBSTAR | wglob.DOTMATCH


def record_actor(rec: dict[str, Any]) -> str | None:
    body = rec.get("body") or {}
    actor = body.get("actor")
    if isinstance(actor, dict):
        return actor.get("id")
    appr = body.get("approval")
    if isinstance(appr, dict):
        return appr.get("reviewer")
    return body.get("author")


def record_summary(rec: dict[str, Any]) -> str:
    """One line describing a record, for tables (plain text; callers escape as needed)."""
    b = rec.get("body") or {}
    t = rec.get("type")
    if t == "request":
        a = b.get("action") or {}
        return str(
            a.get("summary") or a.get("command") or ", ".join(a.get("paths") or []) or a.get("tool") or ""
        )
    if t == "decision":
        return f"{b.get('request_id')}: {b.get('reason', '')}"
    if t == "approval":
        a = b.get("approval") or {}
        return f"{a.get('request_id')}: {a.get('verdict')} {a.get('reason', '')}".rstrip()
    if t == "outcome":
        return f"{b.get('request_id')}: {b.get('detail') or ''}".rstrip(": ")
    if t == "note":
        return str(b.get("text", ""))
    if t == "policy":
        return f"{b.get('path')} {str(b.get('digest', ''))[:12]}" + (
            f" error: {b['error']}" if b.get("error") else ""
        )
    if t == "violation":
        return f"{b.get('kind')}: {b.get('detail')}"
    if t == "recovery":
        return f"torn tail of {b.get('torn_bytes')} bytes set aside"
    if t == "genesis":
        return f"ledger {b.get('ledger_id')} created"
    return ""


@dataclass
class Filters:
    since: str | None = None
    until: str | None = None
    types: frozenset[str] | None = None
    actor: str | None = None
    path: str | None = None
    status: str | None = None
    rule: str | None = None
    request_id: str | None = None

    def matches(self, rec: dict[str, Any]) -> bool:
        ts = rec.get("ts", "")
        if self.since and ts < self.since:
            return False
        if self.until and ts > self.until:
            return False
        if self.types and rec.get("type") not in self.types:
            return False
        body = rec.get("body") or {}
        if self.actor and record_actor(rec) != self.actor:
            return False
        if self.status and body.get("status") != self.status:
            return False
        if self.rule and body.get("rule") != self.rule:
            return False
        if self.request_id:
            rid = body.get("request_id") or (body.get("approval") or {}).get("request_id")
            if rid != self.request_id:
                return False
        if self.path:
            paths = (body.get("action") or {}).get("paths") or []
            if not any(
                wglob.globmatch(str(p).lstrip("/"), self.path.lstrip("/"), flags=_GLOB_FLAGS) for p in paths
            ):
                return False
        return True


_TIME_PREFIX = re.compile(r"\d{4}(-\d{2}(-\d{2}(T\d{2}(:\d{2}(:\d{2}(\.\d{1,3})?)?)?)?)?)?Z?")


def normalise_time(value: str | None, *, end: bool = False) -> str | None:
    """Accept `2026-11-23`, `2026-11-23T20:12` … and pad to a comparable RFC 3339 stamp.

    Raises ValueError for anything that is not such a prefix (`notadate`), so a typo never becomes a
    filter that silently matches nothing."""
    if not value:
        return None
    if not _TIME_PREFIX.fullmatch(value):
        raise ValueError(f"{value!r} is not a time (use RFC 3339 or a prefix of it, e.g. 2026-11-23T20:12)")
    full = "0000-01-01T00:00:00.000Z" if not end else "9999-12-31T23:59:59.999Z"
    v = value.rstrip("Z")
    return v + full[len(v) :] if len(v) < len(full) else value


@dataclass(frozen=True)
class QuerySpec:
    """`forge-tui query`: the filters of `log` plus requirement and reviewer (exact values)."""

    since: str | None = None
    until: str | None = None
    types: frozenset[str] | None = None
    actor: str | None = None
    path: str | None = None
    status: str | None = None
    rule: str | None = None
    request_id: str | None = None
    requirement: str | None = None
    reviewer: str | None = None


def query_ledger(path, spec: QuerySpec):
    """(seq, line) of the records of one ledger file matching `spec`, in order.

    The offset index (`LedgerIndex.search`) finds candidates by byte scans over the file; only those
    are parsed, and only when a filter needs a field the bytes cannot decide."""
    import json

    from forge_tui.core.ledger_index import LedgerFilter, LedgerIndex

    # One literal the record's bytes must contain: the most selective exact value given.
    text = spec.request_id or spec.requirement or spec.reviewer
    flt = LedgerFilter(
        types=spec.types,
        actor=spec.actor,
        path=spec.path,
        status=spec.status,
        rule=spec.rule,
        since=spec.since,
        until=spec.until,
        text=text,
    )
    extra = bool(spec.request_id or spec.requirement or spec.reviewer)
    with LedgerIndex(path) as idx:
        hits = idx.search(flt) or ()
        for i in hits:
            line = idx.raw(i)
            if extra:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if not _extra_ok(rec, spec):
                    continue
            yield i, line


def _extra_ok(rec: dict[str, Any], spec: QuerySpec) -> bool:
    body = rec.get("body") or {}
    appr = body.get("approval") if isinstance(body.get("approval"), dict) else {}
    if spec.request_id and (body.get("request_id") or appr.get("request_id")) != spec.request_id:
        return False
    if spec.requirement and body.get("requirement") != spec.requirement:
        return False
    return not (spec.reviewer and appr.get("reviewer") != spec.reviewer)


def checked_cli_filters(
    types: list[str] | None, since: str | None, until: str | None
) -> tuple[frozenset[str] | None, str | None, str | None]:
    """The `--type`, `--since` and `--until` of `log` and `query`, checked: a ConfigError (exit 2) for an
    unknown record type or a time that is no RFC 3339 prefix, so a typo never prints an empty answer."""
    from forge_tui.core.records import TYPES
    from forge_tui.errors import ConfigError

    unknown = sorted(set(types or ()) - TYPES)
    if unknown:
        raise ConfigError(f"no record type {', '.join(unknown)} (types: {', '.join(sorted(TYPES))})")
    try:
        return (
            frozenset(types) if types else None,
            normalise_time(since),
            normalise_time(until, end=True),
        )
    except ValueError as exc:
        raise ConfigError(f"--since/--until: {exc}") from None
