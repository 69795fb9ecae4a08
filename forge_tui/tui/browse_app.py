"""`forge-tui browse`: the Ledger screen on its own, over the files (no daemon)."""

from __future__ import annotations

from pathlib import Path

from textual.app import App
from textual.screen import Screen

from forge_tui.core.project import Project
from forge_tui.tui.screens.ledger import LedgerScreen


class BrowseApp(App):
    """Shows one ledger; leaving the Ledger screen quits."""

    TITLE = "forge-tui browse"

    def __init__(self, ledger_path: Path, project: Project | None = None) -> None:
        super().__init__()
        self.ledger_path = Path(ledger_path)
        self.project = project

    def get_default_screen(self) -> Screen:
        return LedgerScreen(self.ledger_path, project=self.project)
