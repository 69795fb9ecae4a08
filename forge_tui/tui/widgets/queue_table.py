"""The table of pending requests: one row per request, keyed by request id, oldest first.

Rows are added, updated and removed by key as daemon events arrive; the age, time-to-expiry and quorum
columns are recomputed from an injectable clock (the snapshot tests freeze it). Column widths are
planned from the terminal's width (`plan_columns`): at 80 columns the summary keeps a readable width
because the other columns shrink and, if need be, the kind and expiry columns give way. Every
agent-supplied string goes through `forge_tui.tui.text` and into a `rich.text.Text` cell, so markup in it
is never parsed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist

from forge_tui.tui.durations import fmt_ago, fmt_duration, parse_ts
from forge_tui.tui.quorum import quorum_of, who_may
from forge_tui.tui.text import literal, shorten

__all__ = [
    "COLUMNS",
    "Clock",
    "QueueTable",
    "age_of",
    "expiry_of",
    "expiry_text",
    "fmt_duration",
    "parse_ts",
    "plan_columns",
    "quorum_text",
    "action_of",
    "action_text",
    "agent_says",
    "summary_of",
]

Clock = Callable[[], float]


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    min: int
    max: int


# In display order. The summary comes last and takes the width that is left (Inspect shows it whole).
COLUMNS = (
    Column("age", "Age", 7, 7),  # fmt_duration is at most 7 characters: `1m 05s`, `23h 59m`
    Column("expires", "Expires", 8, 8),
    Column("actor", "Actor", 8, 18),
    Column("kind", "Kind", 6, 12),
    Column("rule", "Rule", 8, 18),
    Column("quorum", "Quorum", 12, 32),
    Column("summary", "Action", 8, 200),  # the real action, then the agent's words (action_text)
)
_BY_KEY = {c.key: c for c in COLUMNS}
SUMMARY_WANTED = 24  # below this the plan shrinks, then drops, other columns
SHRINK_ORDER = ("rule", "actor", "quorum", "kind")
DROP_ORDER = ((), ("kind",), ("kind", "expires"))
CELL_PADDING = 1


def plan_columns(width: int, natural: dict[str, int], padding: int = CELL_PADDING) -> dict[str, int]:
    """Column key -> width for a table `width` cells wide, given each column's natural (content) width.

    Each column gets its natural width within its bounds; when the summary would be narrower than
    SUMMARY_WANTED the others shrink to their minimum (the rule first, the quorum late), and then the kind and the expiry
    columns are left out. Pure, for the tests."""
    for drop in DROP_ORDER:
        cols = [c for c in COLUMNS if c.key not in drop]
        room = width - 2 * padding * len(cols) - 1  # one cell of slack for a vertical scroll bar
        widths = {
            c.key: max(c.min, min(c.max, natural.get(c.key, len(c.label)), room))
            for c in cols
            if c.key != "summary"
        }
        rest = room - sum(widths.values())
        for key in SHRINK_ORDER:
            if rest >= SUMMARY_WANTED:
                break
            if key in widths:
                give = min(widths[key] - _BY_KEY[key].min, SUMMARY_WANTED - rest)
                widths[key] -= give
                rest += give
        if rest >= SUMMARY_WANTED or drop is DROP_ORDER[-1]:
            summary = _BY_KEY["summary"]
            widths["summary"] = max(summary.min, min(summary.max, rest))
            return widths
    raise AssertionError("unreachable")


def action_of(item: dict[str, Any]) -> str:
    """What will really run or be touched: the command, else the paths, and the URL; else the tool
    and kind. Never the agent's own `summary` (an agent can describe `curl … | sh` as "run the tests"):
    that is shown apart, labelled as the agent's words (`agent_says`)."""
    action = item.get("action") or {}
    command = action.get("command") or ""
    paths = ", ".join(str(p) for p in action.get("paths") or [])
    url = action.get("url") or ""
    parts = [str(command)] if command else ([paths] if paths else [])
    if url and url not in command:
        parts.append(str(url))
    if parts:
        return " ".join(parts)
    return str(action.get("tool") or action.get("kind") or "(no command, path or URL given)")


def agent_says(item: dict[str, Any]) -> str:
    """The agent's own description of the action ("" when it gave none, or one that only repeats it)."""
    said = (item.get("action") or {}).get("summary")
    if not said or not isinstance(said, str) or said == action_of(item):
        return ""
    return said


summary_of = action_of  # the name the other screens import: the real action, never the agent's summary

AGENT_SAYS = "agent says: "
AGENT_STYLE = "dim italic"


def action_text(item: dict[str, Any], width: int = 400) -> Text:
    """One line for the queue: the real action first, then `agent says: …` (dimmed), both escaped."""
    t = literal(shorten(action_of(item), width), one_line=True)
    said = agent_says(item)
    if said:
        t.append("  ")
        t.append(AGENT_SAYS, style=AGENT_STYLE)
        t.append_text(literal(shorten(said, width), AGENT_STYLE, one_line=True))
    return t


def age_of(item: dict[str, Any], now: float) -> float:
    t = parse_ts(item.get("received_at"))
    return 0.0 if t is None else now - t


def expiry_of(item: dict[str, Any], now: float) -> float | None:
    t = parse_ts(item.get("expires_at"))
    return None if t is None else t - now


def _order_key(item: dict[str, Any]) -> tuple[str, int]:
    return (item.get("received_at") or "", item.get("seq") or 0)


def quorum_text(item: dict[str, Any], reviewers: Iterable[str], now: float, *, compact: bool = False) -> Text:
    """`1/2 ✓alice 3m · may: bob`: approvals so far / needed, who approved and how long ago, and who
    may still approve (red when nobody registered here can complete it). `compact` (a narrow column)
    drops the times and counts who may approve: `1/2 ✓alice · 2 may`."""
    q = quorum_of(item, reviewers)
    t = Text(no_wrap=True, end="")
    t.append(f"{q.have}/{q.needed}", style="bold" if q.have else "")
    for v in q.votes:
        t.append(" ✓", style="green")
        t.append_text(literal(shorten(v.reviewer, 16), one_line=True))
        ts = parse_ts(v.ts)
        if ts is not None and not compact:
            t.append(f" {fmt_ago(now - ts)}", style="dim")
    if q.missing and compact:
        t.append(" · ", style="dim")
        t.append(f"{len(q.eligible)} may" if q.eligible else "nobody", style="bold red" if q.stuck else "")
    elif q.missing:
        t.append(" · may: " if q.votes or q.eligible else " · ", style="dim")
        t.append_text(literal(who_may(q), "bold red" if q.stuck else "", one_line=True))
    return t


def expiry_text(item: dict[str, Any], now: float) -> Text:
    left = expiry_of(item, now)
    if left is None:
        return Text("?")
    if left <= 0:
        return Text("expiring", style="bold red")
    return Text(fmt_duration(left), style="bold red" if left < 60 else ("yellow" if left < 300 else ""))


def _fit(text: Text, width: int) -> Text:
    """`text` cut to `width` cells with an ellipsis (DataTable would cut it without one)."""
    if text.cell_len <= width:
        return text
    cut = text.copy()
    cut.truncate(max(1, width), overflow="ellipsis")
    return cut


class QueueTable(DataTable):
    """Pending requests, oldest first. `items` holds the latest description of each row; `reviewers`
    (set by the app) the active reviewer names the quorum column counts from."""

    # Enter selects the row, which the queue screen turns into Inspect; shown in the footer as such.
    # Home/End move the cursor (DataTable's own scroll the table sideways, which this one never is).
    BINDINGS = [
        Binding("enter", "select_cursor", "Inspect", id="queue.inspect", tooltip="the whole request"),
        Binding("home", "first_row", "First", show=False, id="queue.first", tooltip="the oldest request"),
        Binding("end", "last_row", "Last", show=False, id="queue.last", tooltip="the newest request"),
    ]

    DEFAULT_CSS = """
    QueueTable {
        height: 1fr;
        overflow-x: hidden;
    }
    """

    def __init__(self, *, clock: Clock = time.time, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True, cell_padding=CELL_PADDING)
        self.clock = clock
        self.items: dict[str, dict[str, Any]] = {}
        self.reviewers: tuple[str, ...] = ()
        self.widths: dict[str, int] = {}

    def on_mount(self) -> None:
        self._relayout()

    # ---- columns ---------------------------------------------------------------------------------------

    def full_cells(self, item: dict[str, Any], now: float) -> dict[str, Text]:
        """Every column's cell for `item`, before fitting it to its column."""
        actor = item.get("actor") or {}
        return {
            "age": Text(fmt_duration(age_of(item, now))),
            "expires": expiry_text(item, now),
            "actor": literal(shorten(actor.get("id", "?"), 60), one_line=True),
            "kind": literal(shorten((item.get("action") or {}).get("kind", "?"), 30), one_line=True),
            "rule": literal(shorten(item.get("rule") or "default", 60), one_line=True),
            "quorum": quorum_text(item, self.reviewers, now),
            "summary": action_text(item),
        }

    def _natural(self, now: float) -> dict[str, int]:
        natural: dict[str, int] = {}
        for item in self.items.values():
            for key, cell in self.full_cells(item, now).items():
                natural[key] = max(natural.get(key, len(_BY_KEY[key].label)), cell.cell_len)
        return natural

    def cells(self, item: dict[str, Any], now: float) -> list[Text]:
        full = self.full_cells(item, now)
        return [self._cell(item, key, full[key], width, now) for key, width in self.widths.items()]

    def _cell(self, item: dict[str, Any], key: str, full: Text, width: int, now: float) -> Text:
        if key == "quorum" and full.cell_len > width:
            full = quorum_text(item, self.reviewers, now, compact=True)
        return _fit(full, width)

    def _relayout(self, *, force: bool = False) -> bool:
        """Plan the columns for the current width; rebuild the table when the plan changed."""
        width = self.size.width or (self.app.size.width if self.is_attached else 0) or 120
        plan = plan_columns(width, self._natural(self.clock()), self.cell_padding)
        ordered = {c.key: plan[c.key] for c in COLUMNS if c.key in plan}
        if ordered == self.widths and self.columns and not force:
            return False
        keep = self.selected_id()
        self.widths = ordered
        self.clear(columns=True)
        for key, w in ordered.items():
            self.add_column(_BY_KEY[key].label, width=w, key=key)
        now = self.clock()
        for item in sorted(self.items.values(), key=_order_key):
            self.add_row(*self.cells(item, now), key=item["request_id"])
        if keep in self.items:
            self.move_cursor(row=self.get_row_index(keep))
        return True

    def on_resize(self) -> None:
        self._relayout()

    def set_reviewers(self, names: Iterable[str]) -> None:
        """The active reviewers (who may still approve is counted from them)."""
        names = tuple(sorted(names))
        if names != self.reviewers:
            self.reviewers = names
            self._refresh_all()

    def _refresh_all(self) -> None:
        if not self._relayout():
            now = self.clock()
            for rid, item in self.items.items():
                for key, value in zip(self.widths, self.cells(item, now), strict=True):
                    self.update_cell(rid, key, value)

    # ---- rows by key ---------------------------------------------------------------------------------

    def upsert(self, item: dict[str, Any]) -> bool:
        """Add or update the row of `item`; True when the row is new."""
        rid = item["request_id"]
        new = rid not in self.items
        newest = max(self.items.values(), key=_order_key, default=None)
        self.items[rid] = item
        if self._relayout():
            return new
        now = self.clock()
        if not new:
            for key, value in zip(self.widths, self.cells(item, now), strict=True):
                self.update_cell(rid, key, value)
        elif newest is not None and _order_key(item) < _order_key(newest):
            self._relayout(force=True)  # arrived out of order: rebuild, still oldest first
        else:
            self.add_row(*self.cells(item, now), key=rid)
        return new

    def remove_request(self, request_id: str) -> dict[str, Any] | None:
        """Drop the row of `request_id` (decided); returns its last description."""
        item = self.items.pop(request_id, None)
        if item is not None and not self._relayout():
            self.remove_row(request_id)
        return item

    def replace_all(self, items: Iterable[dict[str, Any]]) -> None:
        """The whole queue after a (re)connection: keeps the cursor on the same request when it is still there."""
        self.items = {i["request_id"]: i for i in sorted(items, key=_order_key)}
        self._relayout(force=True)

    def tick(self) -> None:
        """Recompute the clock-driven columns (age, expiry, the quorum's "3m ago")."""
        now = self.clock()
        for rid, item in self.items.items():
            full = self.full_cells(item, now)
            for key in ("age", "expires", "quorum"):
                if key in self.widths:
                    self.update_cell(rid, key, self._cell(item, key, full[key], self.widths[key], now))

    # ---- selection -----------------------------------------------------------------------------------

    def action_first_row(self) -> None:
        if self.row_count:
            self.move_cursor(row=0)

    def action_last_row(self) -> None:
        if self.row_count:
            self.move_cursor(row=self.row_count - 1)

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
