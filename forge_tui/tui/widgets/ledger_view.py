"""A line-API view of ledger records: renders only the rows on screen, over a `LedgerIndex`.

Textual's DataTable measures every cell of every row, which freezes on a large ledger; this view asks the
index for the few records that are visible (`render_line`) and nothing else. Rows are newest first.
Every field shown comes from the ledger and is untrusted: it goes through `shorten` (control characters
made visible) into plain segments, so no markup is ever parsed from it.
"""

from __future__ import annotations

from array import array
from typing import Any

from rich.cells import set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from forge_tui.core.ledger_index import LedgerIndex, NotIndexed, UnreadableRecord
from forge_tui.core.query import record_actor, record_summary
from forge_tui.tui.text import shorten

# (title, width) of the fixed columns; the summary takes the rest of the line. Below WIDE cells the
# time loses its year and milliseconds and the actor narrows, so the summary keeps some room.
WIDE = 110
COLUMNS: tuple[tuple[str, int], ...] = (
    ("SEQ", 8),
    ("TIME (UTC)", 23),
    ("TYPE", 9),
    ("ACTOR", 16),
    ("STATUS", 9),
)
NARROW_COLUMNS: tuple[tuple[str, int], ...] = (
    ("SEQ", 7),
    ("TIME (UTC)", 14),
    ("TYPE", 9),
    ("ACTOR", 10),
    ("STATUS", 9),
)
SUMMARY_TITLE = "SUMMARY"
_GAP = " "


def columns_for(width: int) -> tuple[tuple[str, int], ...]:
    return COLUMNS if width >= WIDE else NARROW_COLUMNS


_STATUS_STYLES = {
    "allowed": Style(color="green"),
    "approve": Style(color="green"),
    "succeeded": Style(color="green"),
    "denied": Style(color="red"),
    "reject": Style(color="red"),
    "failed": Style(color="red"),
    "pending": Style(color="yellow"),
}
_TYPE_STYLES = {
    "violation": Style(color="red", bold=True),
    "recovery": Style(color="yellow", bold=True),
    "approval": Style(color="cyan"),
    "note": Style(color="magenta"),
}


def record_status(rec: dict[str, Any]) -> str:
    """The status column: a decision's or outcome's status, an approval's verdict."""
    body = rec.get("body")
    if not isinstance(body, dict):
        return ""
    status = body.get("status")
    if status is None and isinstance(body.get("approval"), dict):
        status = body["approval"].get("verdict")
    return "" if status is None else str(status)


def row_cells(rec: dict[str, Any], *, narrow: bool = False) -> list[str]:
    """The raw (uncleaned) cell values of one record: seq, time, type, actor, status, summary."""
    try:
        summary = record_summary(rec)
    except (TypeError, AttributeError, ValueError):  # a malformed body: show the row anyway
        summary = ""
    try:
        actor = record_actor(rec)
    except (TypeError, AttributeError):
        actor = None
    ts = str(rec.get("ts", ""))
    if len(ts) == 24:  # 2026-11-23T20:12:19.123Z
        ts = f"{ts[5:10]} {ts[11:19]}" if narrow else ts[:23].replace("T", " ")
    return [
        str(rec.get("seq", "")),
        ts,
        str(rec.get("type", "")),
        "" if actor is None else str(actor),
        record_status(rec),
        summary,
    ]


def header_line(width: int = WIDE) -> str:
    cols = columns_for(width)
    parts = [f"{title:>{w}}" if i == 0 else f"{title:<{w}}" for i, (title, w) in enumerate(cols)]
    return _GAP.join([*parts, SUMMARY_TITLE])


class LedgerView(ScrollView, can_focus=True):
    """Ledger records, newest first, with a cursor and a column header on the first line. Shows every
    record of the index, or only the indices given to `set_rows` (a filter's result).

    Scroll offset y is the display row at the top of the list (under the header); the virtual height is
    one more than the rows, for the header."""

    BINDINGS = [
        Binding("up,k", "cursor_up", "Up", show=False, id="ledger.cursor_up", tooltip="Newer record"),
        Binding("down,j", "cursor_down", "Down", show=False, id="ledger.cursor_down", tooltip="Older record"),
        Binding("pageup", "page_up", "Page up", show=False, id="ledger.page_up", tooltip="A page newer"),
        Binding(
            "pagedown", "page_down", "Page down", show=False, id="ledger.page_down", tooltip="A page older"
        ),
        Binding("home", "first", "Newest", show=False, id="ledger.first", tooltip="The newest record"),
        Binding("end", "last", "Oldest", show=False, id="ledger.last", tooltip="The oldest record"),
    ]

    COMPONENT_CLASSES = {
        "ledger-view--cursor",
        "ledger-view--dim",
        "ledger-view--error",
        "ledger-view--header",
    }

    DEFAULT_CSS = """
    LedgerView {
        overflow-x: hidden;
        overflow-y: scroll;
        height: 1fr;
    }
    LedgerView > .ledger-view--cursor {
        background: $surface-lighten-1;
        text-style: bold;
    }
    LedgerView:focus > .ledger-view--cursor {
        background: $accent 40%;
    }
    LedgerView > .ledger-view--dim {
        color: $text-muted;
    }
    LedgerView > .ledger-view--error {
        color: $error;
    }
    LedgerView > .ledger-view--header {
        color: $text-muted;
        text-style: bold;
    }
    """

    class Highlighted(Message):
        """The cursor moved to another record (`index` is None when nothing is shown)."""

        def __init__(self, view: LedgerView, index: int | None) -> None:
            super().__init__()
            self.view = view
            self.index = index

        @property
        def control(self) -> LedgerView:
            return self.view

    def __init__(
        self,
        index: LedgerIndex,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.index = index
        self._rows: array | None = None  # ledger indices shown (ascending), None = all
        self._count = len(index)
        self.cursor = 0  # display row; row 0 is the newest record shown

    # ---- what is shown -----------------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return self._count

    @property
    def rows(self) -> array | None:
        return self._rows

    def index_at(self, row: int) -> int | None:
        """The ledger index shown at display row `row` (newest first), or None."""
        if not 0 <= row < self._count:
            return None
        pos = self._count - 1 - row
        return pos if self._rows is None else self._rows[pos]

    def row_of(self, index: int) -> int | None:
        """The display row showing ledger index `index`, or None when it is filtered out."""
        if self._rows is None:
            return self._count - 1 - index if 0 <= index < self._count else None
        from bisect import bisect_left

        pos = bisect_left(self._rows, index)
        if pos < len(self._rows) and self._rows[pos] == index:
            return self._count - 1 - pos
        return None

    @property
    def cursor_index(self) -> int | None:
        return self.index_at(self.cursor)

    def set_rows(self, rows: array | None) -> None:
        """Show only these ledger indices (ascending), or everything with None. The cursor stays on the
        same record when it is still shown, else goes to the newest."""
        keep = self.cursor_index
        self._rows = rows
        self._count = len(self.index) if rows is None else len(rows)
        row = self.row_of(keep) if keep is not None else None
        self._resize()
        self.move_to(row if row is not None else 0, center=row is not None)
        self.refresh()

    def appended(self, added: int, new_rows: array | None = None) -> None:
        """Records were appended to the index (`added` of them; with a filter, `new_rows` are the matching
        ones). A cursor on the newest record stays at the top and shows them; otherwise it stays on its
        record and the view does not move."""
        if self._rows is not None:
            if new_rows:
                self._rows.extend(new_rows)
            shown = len(new_rows) if new_rows else 0
            self._count = len(self._rows)
        else:
            shown = added
            self._count = len(self.index)
        if shown == 0:
            return
        self._resize()
        if self.cursor != 0 or self.scroll_offset.y != 0:
            self.cursor += shown
            self.scroll_to(y=self.scroll_offset.y + shown, animate=False)
        self.refresh()
        self.post_message(self.Highlighted(self, self.cursor_index))

    def _resize(self) -> None:
        self.virtual_size = Size(self.scrollable_content_region.width, self._count + 1)

    def on_resize(self, _event: events.Resize) -> None:
        self._resize()

    def on_mount(self) -> None:
        self._resize()

    # ---- cursor ------------------------------------------------------------------------------------

    @property
    def page_height(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)  # less the header

    def move_to(self, row: int, *, center: bool = False) -> None:
        """Put the cursor on display row `row` (clamped) and scroll it into view."""
        old = self.cursor
        row = max(0, min(row, self._count - 1)) if self._count else 0
        self.cursor = row
        top = round(self.scroll_offset.y)
        height = self.page_height
        if center and not top <= row < top + height:
            self.scroll_to(y=max(0, row - height // 2), animate=False)
        elif row < top:
            self.scroll_to(y=row, animate=False)
        elif row >= top + height:
            self.scroll_to(y=row - height + 1, animate=False)
        self.refresh_line(old + 1)  # + 1: the header line
        self.refresh_line(row + 1)
        if old != row or center:
            self.post_message(self.Highlighted(self, self.cursor_index))

    def move_to_index(self, index: int) -> bool:
        """Put the cursor on ledger index `index`; False when that record is not shown."""
        row = self.row_of(index)
        if row is None:
            return False
        self.move_to(row, center=True)
        return True

    def action_cursor_up(self) -> None:
        self.move_to(self.cursor - 1)

    def action_cursor_down(self) -> None:
        self.move_to(self.cursor + 1)

    def action_page_up(self) -> None:
        step = self.page_height
        self.scroll_to(y=max(0, self.scroll_offset.y - step), animate=False)
        self.move_to(self.cursor - step)

    def action_page_down(self) -> None:
        step = self.page_height
        self.scroll_to(y=self.scroll_offset.y + step, animate=False)
        self.move_to(self.cursor + step)

    def action_first(self) -> None:
        self.move_to(0)

    def action_last(self) -> None:
        self.move_to(self._count - 1)

    def on_click(self, event: events.Click) -> None:
        row = round(self.scroll_offset.y) + event.y - 1
        if event.y >= 1 and 0 <= row < self._count:
            self.move_to(row)

    # ---- rendering ---------------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        if y == 0:
            header = base + self.get_component_rich_style("ledger-view--header", partial=True)
            return Strip([Segment(set_cell_size(header_line(width), width), header)], width)
        row = round(self.scroll_offset.y) + y - 1
        if row >= self._count:
            return Strip.blank(width, base)
        index = self.index_at(row)
        style = base + self.get_component_rich_style("ledger-view--cursor") if row == self.cursor else base
        return Strip(self._segments(index, width, style), width).adjust_cell_length(width, style)

    def row_text(self, row: int) -> str:
        """The plain text of display row `row` as it is drawn now (tests and tools)."""
        width = self.scrollable_content_region.width
        style = self.rich_style
        return Strip(self._segments(self.index_at(row), width, style), width).text

    def _segments(self, index: int, width: int, style: Style) -> list[Segment]:
        try:
            rec = self.index.record(index)
        except NotIndexed:
            dim = style + self.get_component_rich_style("ledger-view--dim", partial=True)
            return [Segment(set_cell_size(f"{'…':>8}{_GAP}indexing older records…", width), dim)]
        except (UnreadableRecord, IndexError) as exc:
            error = style + self.get_component_rich_style("ledger-view--error", partial=True)
            text = f"{'?':>8}{_GAP}unreadable line {index}: {exc} (run forge-tui verify)"
            return [Segment(set_cell_size(shorten(text, width), width), error)]
        cols = columns_for(width)
        cells = row_cells(rec, narrow=cols is NARROW_COLUMNS)
        dim = style + self.get_component_rich_style("ledger-view--dim", partial=True)
        segs: list[Segment] = []
        for i, (_title, w) in enumerate(cols):
            value = shorten(cells[i], w)
            value = value.rjust(w) if i == 0 else set_cell_size(value, w)
            if i == 1:
                seg_style = dim
            elif i == 2:
                seg_style = style + _TYPE_STYLES[cells[2]] if cells[2] in _TYPE_STYLES else style
            elif i == 4:
                seg_style = style + _STATUS_STYLES[cells[4]] if cells[4] in _STATUS_STYLES else style
            else:
                seg_style = style
            segs.append(Segment(value, seg_style))
            segs.append(Segment(_GAP, style))
        used = sum(w for _t, w in cols) + len(cols) * len(_GAP)
        rest = max(0, width - used)
        if rest:
            segs.append(Segment(set_cell_size(shorten(cells[5], rest), rest), style))
        return segs
