"""Shared by the verify and policy panel tests: a bare host app for one screen, and a daemon `status`
result built by the daemon's own PolicyHolder."""

from __future__ import annotations

import tempfile
from pathlib import Path

from textual.app import App

from forge_tui.daemon.policy_watch import PolicyHolder
from forge_tui.errors import PolicyError


class Host(App):
    """A bare app that shows the screen under test."""

    TITLE = "forge-tui"

    def __init__(self, screen_factory) -> None:
        super().__init__()
        self._factory = screen_factory

    def on_mount(self) -> None:
        self.push_screen(self._factory())


def status_for(project, text: str, error: PolicyError | str | None = None) -> dict:
    """A daemon `status` result, its policy entry from the daemon's own PolicyHolder.describe() with
    `text` in force and `error` as the last reload error (a PolicyError carries where it is, as the
    daemon keeps it; a bare message carries no location)."""
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "policy.toml"
        f.write_text(text)
        holder = PolicyHolder(f)
        holder.load_initial()
    holder.path = project.policy_path
    holder.error = None if error is None else str(error)
    holder.error_at = error.location() if isinstance(error, PolicyError) else None
    holder.loaded_at = None
    return {"project_id": project.project_id, "policy": holder.describe(), "pending": 0}
