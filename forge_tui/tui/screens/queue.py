"""The queue: pending requests, live, oldest first, with an empty state."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from forge_tui.tui.widgets.header import ConsoleHeader
from forge_tui.tui.widgets.queue_table import Clock, QueueTable

EMPTY_TEXT = "No requests are waiting for a review."
EMPTY_HINT = "Agents' actions that the policy sends to a human appear here as they arrive."
DOWN_HINT = "The daemon is not reachable: the console reconnects by itself."


class QueueScreen(Screen[None]):
    """The console's main screen. The app feeds it (`table.upsert/remove_request/replace_all`); it
    tells the app when the reviewer wants a request inspected (`InspectRequested`)."""

    class InspectRequested(Message):
        """Enter on a row: open Inspect for `request_id`."""

        def __init__(self, request_id: str) -> None:
            super().__init__()
            self.request_id = request_id

    DEFAULT_CSS = """
    QueueScreen #empty {
        height: 1fr;
        content-align: center middle;
        text-align: center;
        color: $text-muted;
    }
    """

    def __init__(self, *, clock: Clock) -> None:
        super().__init__(id="queue-screen")
        self.clock = clock
        # Held, not queried: link messages may still arrive while the app tears the screen down.
        self.table = QueueTable(clock=clock, id="queue")
        self.placeholder = Static(id="empty")

    def compose(self) -> ComposeResult:
        yield ConsoleHeader()
        yield self.table
        yield self.placeholder
        yield Footer()

    def on_mount(self) -> None:
        self.update_empty(connected=False)

    def update_empty(self, *, connected: bool) -> None:
        """Show the empty state when nothing waits (and say so when the daemon is away)."""
        empty = not self.table.items
        self.table.display = not empty
        placeholder = self.placeholder
        placeholder.display = empty
        if empty:
            t = Text(justify="center")
            t.append(EMPTY_TEXT + "\n\n", style="bold")
            t.append(EMPTY_HINT if connected else DOWN_HINT)
            placeholder.update(t)
        elif self.table.is_mounted:
            self.table.focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.InspectRequested(event.row_key.value))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.refresh_bindings()
