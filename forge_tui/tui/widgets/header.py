"""The console's top line: title, project, who is signing, connection state, queue size, policy state,
ledger state.

The app sets the reactives (attributes down); a header that appears with a new screen asks for them by
posting `ConsoleHeader.Attached` (messages up)."""

from __future__ import annotations

from rich.text import Text
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from forge_tui.tui.text import shorten

_STATE_STYLE = {
    "connected": ("●", "bold green"),
    "connecting": ("◌", "bold yellow"),
    "disconnected": ("○", "bold red"),
}


class ConsoleHeader(Widget):
    """One line; every part is plain `Text` (project names and errors are shown literally)."""

    class Attached(Message):
        """A header was mounted (with a new screen) and wants the console's current state."""

    DEFAULT_CSS = """
    ConsoleHeader {
        dock: top;
        height: 1;
        background: $panel;
        color: $foreground;
        padding: 0 1;
    }
    """

    title: reactive[str] = reactive("forge-tui")
    project: reactive[str] = reactive("")
    state: reactive[str] = reactive("connecting")
    detail: reactive[str] = reactive("")
    pending: reactive[int] = reactive(0)
    oldest: reactive[str] = reactive("")
    policy_error: reactive[str] = reactive("")
    ledger_state: reactive[str] = reactive("")  # status ledger.health.state: ok, degraded, tracked_stale
    ledger_detail: reactive[str] = reactive("")
    signer: reactive[str] = reactive("")  # the reviewer whose key is unlocked here, "" when locked
    locks_in: reactive[str] = reactive("")  # shown in the last minute before the idle lock

    def render(self) -> Text:
        t = Text(no_wrap=True, overflow="ellipsis", end="")
        t.append(self.title, style="bold")
        if self.project:
            t.append("  ")
            t.append(shorten(self.project, 40), style="italic")
        t.append("   ")
        if self.signer:
            t.append("signing as ", style="dim")
            t.append(shorten(self.signer, 24), style="bold green")
            if self.locks_in:
                t.append(f" (locks in {self.locks_in})", style="yellow")
        else:
            t.append("key locked", style="bold yellow")
        dot, style = _STATE_STYLE.get(self.state, ("?", "bold"))
        t.append("   ")
        t.append(f"{dot} {self.state}", style=style)
        if self.state != "connected" and self.detail:
            t.append(f"  {shorten(self.detail, 60)}", style="dim")
        t.append("   ")
        t.append(f"{self.pending} pending", style="bold" if self.pending else "dim")
        if self.pending and self.oldest:
            t.append(f" · oldest {self.oldest}")
        if self.policy_error:
            t.append("   ")
            t.append(f"policy error: {shorten(self.policy_error, 50)}", style="bold red")
        if self.ledger_state == "degraded":  # the gate denies every request until the ledger heals
            t.append("   ")
            t.append(f"ledger degraded, denying: {shorten(self.ledger_detail, 50)}", style="bold red")
        elif self.ledger_state == "tracked_stale":
            t.append("   ")
            t.append(f"tracked ledger copy stale: {shorten(self.ledger_detail, 40)}", style="bold yellow")
        return t

    def on_mount(self) -> None:
        self.post_message(self.Attached())
