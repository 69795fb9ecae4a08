"""How the Ledger screen looks, over the deterministic ledger of tests/tui/ledger_kit.py (fixed project id,
key, clock and size, animations off): the list newest first, and the detail panel of a record whose text
holds markup and an escape sequence (shown literally).

Update the pictures with `pytest tests/tui/test_ledger_snapshot.py --snapshot-update` after checking the
change is wanted.
"""

from __future__ import annotations

import os

os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")

from ledger_kit import build  # noqa: E402

from forge_tui.tui.browse_app import BrowseApp  # noqa: E402

SIZE = (120, 30)


def test_ledger_list(snap_compare, tmp_path):
    kit = build(tmp_path / "proj")
    try:
        assert snap_compare(BrowseApp(kit.path, kit.project), terminal_size=SIZE, press=["down"])
    finally:
        kit.writer.close()


def test_ledger_detail_of_hostile_note(snap_compare, tmp_path):
    kit = build(tmp_path / "proj")
    try:
        assert snap_compare(
            BrowseApp(kit.path, kit.project), terminal_size=SIZE, press=["g", "9", "enter", "enter"]
        )
    finally:
        kit.writer.close()
