"""Fixtures of the TUI tests."""

from __future__ import annotations

import pytest

from forge_tui.tui.sample import build_sample


@pytest.fixture
def sample(tmp_path, monkeypatch):
    """The deterministic sample project (fixed ids, keys and clock), its keys under tmp."""
    monkeypatch.setenv("FORGE_DATA_DIR", str(tmp_path / "data"))
    return build_sample(tmp_path / "shop")
