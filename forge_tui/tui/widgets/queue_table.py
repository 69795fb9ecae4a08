"""The table of pending requests: one row per request, keyed by request id, oldest first.

Rows are added, updated and removed by key as daemon events arrive; the age and time-to-expiry columns
are recomputed from an injectable clock (the snapshot tests freeze it). Every agent-supplied string goes
through `forge_tui.tui.text` and into a `rich.text.Text` cell, so markup in it is never parsed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist

from forge_tui.tui.text import literal, shorten

Clock = Callable[[], float]

# The summary comes last and takes the width that is left, cut with an ellipsis (Inspect shows it whole).
COLUMNS = (
    ("age", "Age"),
    ("expires", "Expires in"),
    ("actor", "Actor"),
    ("kind", "Kind"),
    ("rule", "Rule"),
    ("approvals", "Approvals"),
    ("summary", "Summary"),
)
MIN_SUMMARY, MAX_SUMMARY = 16, 200


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
    """A short human duration: `12s`, `4m 05s`, `2h 10m`, `3d 4h`."""
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


def summary_of(item: dict[str, Any]) -> str:
    action = item.get("action") or {}
    return str(
        action.get("summary")
        or action.get("command")
        or ", ".join(action.get("paths") or [])
        or action.get("url")
        or action.get("tool")
        or ""
    )


def age_of(item: dict[str, Any], now: float) -> float:
    t = parse_ts(item.get("received_at"))
    return 0.0 if t is None else now - t


def expiry_of(item: dict[str, Any], now: float) -> float | None:
    t = parse_ts(item.get("expires_at"))
    return None if t is None else t - now


def _order_key(item: dict[str, Any]) -> tuple[str, int]:
    return (item.get("received_at") or "", item.get("seq") or 0)


def approvals_text(item: dict[str, Any]) -> Text:
    have = sum(1 for a in item.get("approvals") or [] if a.get("verdict") == "approve")
    need = int(item.get("approvals_needed") or 1)
    return Text(f"{have}/{need}", style="bold" if have else "")


def expiry_text(item: dict[str, Any], now: float) -> Text:
    left = expiry_of(item, now)
    if left is None:
        return Text("?")
    if left <= 0:
        return Text("expiring", style="bold red")
    return Text(fmt_duration(left), style="bold red" if left < 60 else ("yellow" if left < 300 else ""))


class QueueTable(DataTable):
    """Pending requests, oldest first. `items` holds the latest description of each row."""

    # Enter selects the row, which the queue screen turns into Inspect; shown in the footer as such.
    BINDINGS = [
        Binding("enter", "select_cursor", "Inspect", id="queue.inspect", tooltip="the whole request"),
    ]

    DEFAULT_CSS = """
    QueueTable {
        height: 1fr;
        overflow-x: hidden;
    }
    """

    def __init__(self, *, clock: Clock = time.time, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.clock = clock
        self.items: dict[str, dict[str, Any]] = {}
        self.summary_width = 40

    def on_mount(self) -> None:
        self._ensure_columns()

    def _ensure_columns(self) -> None:
        # Rows may arrive before this widget's mount handler ran (the link starts with the app).
        if not self.columns:
            for key, label in COLUMNS:
                self.add_column(label, key=key)

    # ---- rows by key ---------------------------------------------------------------------------------

    def cells(self, item: dict[str, Any], now: float) -> list[Any]:
        actor = item.get("actor") or {}
        rule = item.get("rule") or "default"
        return [
            Text(fmt_duration(age_of(item, now))),
            expiry_text(item, now),
            literal(shorten(actor.get("id", "?"), 20), one_line=True),
            literal(shorten((item.get("action") or {}).get("kind", "?"), 12), one_line=True),
            literal(shorten(rule, 20), one_line=True),
            approvals_text(item),
            self.summary_cell(item),
        ]

    def summary_cell(self, item: dict[str, Any]) -> Text:
        return literal(shorten(summary_of(item), self.summary_width), one_line=True)

    def _fit_summary(self) -> None:
        """Give the summary the width the other columns leave (recomputed on resize and new rows)."""
        width = self.size.width
        if width <= 0:
            return
        used = 0
        for key, label in COLUMNS[:-1]:
            col = self.columns.get(key)  # type: ignore[call-overload]
            content = col.content_width if col is not None else 0
            used += max(len(label), content) + 2 * self.cell_padding
        fit = max(MIN_SUMMARY, min(MAX_SUMMARY, width - used - 2 * self.cell_padding - 1))
        if fit != self.summary_width:
            self.summary_width = fit
            for rid, item in self.items.items():
                self.update_cell(rid, "summary", self.summary_cell(item))

    def on_resize(self) -> None:
        self._fit_summary()

    def upsert(self, item: dict[str, Any]) -> bool:
        """Add or update the row of `item`; True when the row is new."""
        self._ensure_columns()
        rid = item["request_id"]
        now = self.clock()
        if rid in self.items:
            self.items[rid] = item
            for (key, _), value in zip(COLUMNS, self.cells(item, now), strict=True):
                self.update_cell(rid, key, value)
            return False
        newest = max(self.items.values(), key=_order_key, default=None)
        if newest is not None and _order_key(item) < _order_key(newest):
            self.replace_all(
                [*self.items.values(), item]
            )  # arrived out of order: rebuild, still oldest first
            return True
        self.items[rid] = item
        self.add_row(*self.cells(item, now), key=rid)
        self.call_after_refresh(self._fit_summary)
        return True

    def remove(self, request_id: str) -> dict[str, Any] | None:
        item = self.items.pop(request_id, None)
        if item is not None:
            self.remove_row(request_id)
        return item

    def replace_all(self, items: Iterable[dict[str, Any]]) -> None:
        """The whole queue after a (re)connection: keeps the cursor on the same request when it is still there."""
        self._ensure_columns()
        keep = self.selected_id()
        self.clear()
        self.items = {}
        now = self.clock()
        for item in sorted(items, key=_order_key):
            self.items[item["request_id"]] = item
            self.add_row(*self.cells(item, now), key=item["request_id"])
        if keep in self.items:
            self.move_cursor(row=self.get_row_index(keep))
        self.call_after_refresh(self._fit_summary)

    def tick(self) -> None:
        """Recompute the age and expiry columns from the clock."""
        now = self.clock()
        for rid, item in self.items.items():
            self.update_cell(rid, "age", Text(fmt_duration(age_of(item, now))))
            self.update_cell(rid, "expires", expiry_text(item, now))

    # ---- selection -----------------------------------------------------------------------------------

    def selected_id(self) -> str | None:
        if not self.items or self.row_count == 0:
            return None
        try:
            row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        except CellDoesNotExist:  # no valid cursor (empty, or just cleared)
            return None
        return row_key.value

    def selected_item(self) -> dict[str, Any] | None:
        rid = self.selected_id()
        return self.items.get(rid) if rid else None

    def oldest(self) -> dict[str, Any] | None:
        if not self.items:
            return None
        return min(self.items.values(), key=_order_key)
