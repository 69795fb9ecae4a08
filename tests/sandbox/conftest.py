"""Fixtures for the sandbox tests (helpers in sandbox_kit.py). The tests skip only where bubblewrap is
not installed or the kernel refuses it namespaces."""

from __future__ import annotations

import pytest
from sandbox_kit import bwrap_refusal, close_box, make_box


@pytest.fixture(scope="module")
def box():
    why = bwrap_refusal()
    if why:
        pytest.skip(why)
    b = make_box()
    try:
        yield b
    finally:
        close_box(b)


@pytest.fixture
def idle_box():
    """A project with no daemon running."""
    b = make_box(daemon=False)
    yield b
    close_box(b)
