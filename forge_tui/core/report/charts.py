"""Inline SVG charts for the HTML report (no script, no network). Every label passes through
`html.escape`: day names and bucket labels are ours, but the functions take no chances."""

from __future__ import annotations

from html import escape
from typing import Any

SERIES_COLOURS = {
    "allowed by policy": "#5b8def",
    "allowed by reviewers": "#2f9e6e",
    "denied": "#d9534f",
    "pending": "#e0a526",
}


def _nice_max(n: int) -> int:
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        if n <= step * 4:
            return step * 4
    return n


def stacked_bars(days: list[dict[str, Any]], width: int = 720, height: int = 220) -> str:
    """Decisions per day, stacked by outcome, with a legend."""
    if not days:
        return '<p class="muted">No requests in the period.</p>'
    keys = list(SERIES_COLOURS)
    top = _nice_max(max(sum(d[k] for k in keys) for d in days) + 1)  # headroom above the tallest bar
    left, bottom, plot_h = 40, 30, height - 60
    plot_w = width - left - 10
    slot = plot_w / len(days)
    bar = max(2.0, min(40.0, slot * 0.7))
    parts = [
        f'<svg role="img" aria-label="Decisions per day" viewBox="0 0 {width} {height}" '
        f'width="100%" xmlns="http://www.w3.org/2000/svg" font-size="11" font-family="inherit">'
    ]
    for i in range(5):
        v = top * i // 4
        y = 20 + plot_h - plot_h * i / 4
        parts.append(
            f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e6ea"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#667">{v}</text>'
        )
    every = max(1, len(days) // 10)
    for i, d in enumerate(days):
        x = left + slot * i + (slot - bar) / 2
        y = 20 + plot_h
        tip = ", ".join(f"{k} {d[k]}" for k in keys if d[k])
        parts.append(f"<g><title>{escape(d['day'])}: {escape(tip)}</title>")
        for k in keys:
            h = plot_h * d[k] / top
            if h:
                y -= h
                parts.append(
                    f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{SERIES_COLOURS[k]}"/>'
                )
        parts.append("</g>")
        if i % every == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{height - bottom + 16}" text-anchor="middle" fill="#667">'
                f"{escape(d['day'][5:])}</text>"
            )
    lx = left
    for k in keys:
        parts.append(
            f'<rect x="{lx}" y="2" width="10" height="10" fill="{SERIES_COLOURS[k]}"/>'
            f'<text x="{lx + 14}" y="11" fill="#333">{escape(k)}</text>'
        )
        lx += 24 + 7 * len(k)
    parts.append("</svg>")
    return "".join(parts)


def histogram(buckets: list[dict[str, Any]], width: int = 420, height: int = 200) -> str:
    """Time from request to first approval, one bar per bucket."""
    total = sum(b["count"] for b in buckets)
    if not total:
        return '<p class="muted">No approval in the period.</p>'
    top = max(b["count"] for b in buckets)
    left, plot_h = 10, height - 50
    slot = (width - 2 * left) / len(buckets)
    parts = [
        f'<svg role="img" aria-label="Time to first approval" viewBox="0 0 {width} {height}" '
        f'width="100%" xmlns="http://www.w3.org/2000/svg" font-size="11" font-family="inherit">'
    ]
    for i, b in enumerate(buckets):
        h = plot_h * b["count"] / top
        x = left + slot * i + slot * 0.15
        y = 15 + plot_h - h
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}" fill="#2f9e6e" rx="2"/>'
            f'<text x="{x + slot * 0.35:.1f}" y="{y - 3:.1f}" text-anchor="middle" fill="#333">{b["count"]}</text>'
            f'<text x="{x + slot * 0.35:.1f}" y="{height - 18}" text-anchor="middle" fill="#667">'
            f"{escape(b['bucket'])}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def status_strip(counts: dict[str, int], colours: dict[str, str], width: int = 720) -> str:
    """One horizontal bar split by control status."""
    total = sum(counts.values()) or 1
    parts = [
        f'<svg role="img" aria-label="Controls by status" viewBox="0 0 {width} 18" width="100%" '
        'xmlns="http://www.w3.org/2000/svg">'
    ]
    x = 0.0
    for status, n in counts.items():
        if not n:
            continue
        w = width * n / total
        parts.append(
            f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="18" fill="{colours[status]}">'
            f"<title>{escape(status)}: {n}</title></rect>"
        )
        x += w
    parts.append("</svg>")
    return "".join(parts)
