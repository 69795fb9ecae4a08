"""Time stamps and short durations as the console and `forge-tui status` show them (standard library
only: `status --short` runs every few seconds in a prompt or a tmux status bar)."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_ts(ts: str | None) -> float | None:
    """Seconds since the epoch for a ledger timestamp (`2026-11-23T20:12:19.123Z`); None if unreadable."""
    if not ts:
        return None
    try:
        return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        try:
            return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None


def fmt_duration(seconds: float) -> str:
    """A short human duration, at most 7 characters: `12s`, `4m 05s`, `2h 10m`, `3d 4h`."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}m {s:02d}s"
    h, m = divmod(m, 60)
    if h < 24:
        return f"{h}h {m:02d}m"
    d, h = divmod(h, 24)
    return f"{d}d {h}h"


def fmt_ago(seconds: float) -> str:
    """The coarse age of a past event for a narrow cell: `12s`, `4m`, `2h`, `3d`."""
    s = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{s // size}{unit}"
    return f"{s}s"
