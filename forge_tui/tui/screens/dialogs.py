"""Modal dialogs of the console: confirm an approval, give a rejection reason, unlock a reviewer key,
and show a refusal plainly. Agent text in them is `Text` (never parsed as markup)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

_DIALOG_CSS = """
{name} {{
    align: center middle;
    background: $background 60%;
}}
{name} > Vertical {{
    width: 72;
    max-width: 95%;
    height: auto;
    border: thick $primary;
    background: $surface;
    padding: 1 2;
}}
{name} .dialog-title {{
    text-style: bold;
    margin-bottom: 1;
}}
{name} .dialog-body {{
    margin-bottom: 1;
}}
{name} .dialog-error {{
    color: $error;
    height: auto;
}}
{name} Horizontal {{
    height: auto;
    align-horizontal: right;
}}
{name} Button {{
    margin-left: 2;
}}
{name} Input, {name} Select {{
    margin-bottom: 1;
}}
"""


class ConfirmDialog(ModalScreen[bool]):
    """Yes/no; Enter confirms, Escape cancels."""

    DEFAULT_CSS = _DIALOG_CSS.format(name="ConfirmDialog")
    BINDINGS = [
        Binding("enter", "confirm", "Confirm", priority=True, id="dialog.confirm"),
        Binding("escape", "cancel", "Cancel", id="dialog.cancel"),
    ]

    def __init__(self, title: str, body: Text, *, confirm_label: str = "Approve") -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.confirm_label = confirm_label

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(self.title_text), classes="dialog-title")
            yield Static(self.body, classes="dialog-body")
            with Horizontal():
                yield Button("Cancel (Esc)", id="cancel")
                yield Button(f"{self.confirm_label} (Enter)", id="confirm", variant="success")

    def on_mount(self) -> None:
        self.query_one("#confirm", Button).focus()

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm")


class _FormDialog(ModalScreen[Any]):
    """A dialog with a form: Enter in a field or the SUBMIT button submits, Cancel or Escape dismisses
    with None."""

    SUBMIT = ""
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="dialog.cancel")]

    def _submit(self) -> None:
        raise NotImplementedError

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == self.SUBMIT:
            self._submit()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ReasonDialog(_FormDialog):
    """Ask for a rejection reason (required); Enter submits, Escape cancels."""

    DEFAULT_CSS = _DIALOG_CSS.format(name="ReasonDialog")
    SUBMIT = "reject"

    def __init__(self, title: str, body: Text) -> None:
        super().__init__()
        self.title_text = title
        self.body = body

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(self.title_text), classes="dialog-title")
            yield Static(self.body, classes="dialog-body")
            yield Input(placeholder="why it is rejected (shown to the agent)", id="reason")
            yield Static("", id="error", classes="dialog-error")
            with Horizontal():
                yield Button("Cancel (Esc)", id="cancel")
                yield Button("Reject (Enter)", id="reject", variant="error")

    def on_mount(self) -> None:
        self.query_one("#reason", Input).focus()

    def _submit(self) -> None:
        reason = self.query_one("#reason", Input).value.strip()
        if not reason:
            self.query_one("#error", Static).update(Text("A rejection needs a reason."))
            return
        self.dismiss(reason)


class PassphraseDialog(_FormDialog):
    """Choose a reviewer key (only when there are several) and type its passphrase.

    Dismisses with (name, passphrase), or None when cancelled. `passphrase` may be given (from
    FORGE_PASSPHRASE) so that only the reviewer is asked for."""

    DEFAULT_CSS = _DIALOG_CSS.format(name="PassphraseDialog")
    SUBMIT = "unlock"

    def __init__(self, names: list[str], *, passphrase: str | None = None, error: str = "") -> None:
        super().__init__()
        self.names = names
        self.passphrase = passphrase
        self.error = error

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Unlock your reviewer key", classes="dialog-title")
            yield Static(
                Text("Your approvals are signed with your own key. It stays unlocked until you quit."),
                classes="dialog-body",
            )
            if len(self.names) > 1:
                yield Select(
                    [(Text(n), n) for n in self.names], value=self.names[0], allow_blank=False, id="who"
                )
            else:
                yield Label(Text(f"reviewer: {self.names[0]}"), id="who-label")
            if self.passphrase is None:
                yield Input(password=True, placeholder="passphrase", id="passphrase")
            yield Static(Text(self.error), id="error", classes="dialog-error")
            with Horizontal():
                yield Button("Cancel (Esc)", id="cancel")
                yield Button("Unlock (Enter)", id="unlock", variant="primary")

    def on_mount(self) -> None:
        if self.passphrase is None:
            self.query_one("#passphrase", Input).focus()
        else:
            self.query_one("#unlock", Button).focus()

    def _submit(self) -> None:
        name = self.names[0]
        if len(self.names) > 1:
            value = self.query_one("#who", Select).value
            name = value if isinstance(value, str) else name
        passphrase = self.passphrase
        if passphrase is None:
            passphrase = self.query_one("#passphrase", Input).value
            if not passphrase:
                self.query_one("#error", Static).update(Text("Type the passphrase of your reviewer key."))
                return
        self.dismiss((name, passphrase))


class MessageDialog(ModalScreen[None]):
    """A plain message that needs acknowledging (a refusal by the daemon); Enter or Escape closes it."""

    DEFAULT_CSS = (
        _DIALOG_CSS.format(name="MessageDialog")
        + """
    MessageDialog > Vertical { border: thick $error; }
    """
    )
    BINDINGS = [
        Binding("enter", "close", "Close", priority=True, id="dialog.close"),
        Binding("escape", "close", "Close", id="dialog.dismiss"),
    ]

    def __init__(self, title: str, body: Text) -> None:
        super().__init__()
        self.title_text = title
        self.body = body

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(self.title_text), classes="dialog-title", id="title")
            yield Static(self.body, classes="dialog-body", id="body")
            with Horizontal():
                yield Button("OK (Enter)", id="ok", variant="primary")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
