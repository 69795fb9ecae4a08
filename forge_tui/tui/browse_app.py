"""`forge-tui browse`: the Ledger screen on its own, over the files (no daemon)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual.app import App
from textual.screen import Screen

from forge_tui.core.project import Project
from forge_tui.tui.screens.ledger import TAIL_BYTES, LedgerScreen


class BrowseApp(App):
    """Shows one ledger; leaving the Ledger screen quits."""

    TITLE = "forge-tui browse"

    def __init__(
        self,
        ledger_path: Path,
        project: Project | None = None,
        *,
        tail_bytes: int = TAIL_BYTES,
        index_step: Callable[[int, int], None] | None = None,
    ) -> None:
        """The newest `tail_bytes` of the ledger are indexed before the first paint, the rest in a
        worker (`index_step`: see LedgerScreen)."""
        super().__init__()
        self.ledger_path = Path(ledger_path)
        self.project = project
        self._screen_kw = {"tail_bytes": tail_bytes, "index_step": index_step}

    def get_default_screen(self) -> Screen:
        return LedgerScreen(self.ledger_path, project=self.project, **self._screen_kw)
