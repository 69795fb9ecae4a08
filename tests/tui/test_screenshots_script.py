"""The screenshot script still drives the real console end to end (daemon, agent requests, Pilot).

It writes every picture the README and the docs use; a change to the app that breaks a step (a key, a
screen class, a dialog) fails here instead of leaving stale screenshots.
"""

from __future__ import annotations

import html
import os

from forge_tui.tui import screenshots

EXPECTED = {
    "queue.svg": ["protect-auth", "release-bot", "1/2 ✓bob", "may:"],
    "inspect.svg": ["src/auth/session.py", "SEC-142"],
    "inspect-quorum.svg": ["1 of 2 approvals", "signature verified", "may approve", "bob (already approved)"],
    "approve.svg": ["Approve this request?"],
    "ledger.svg": ["a3f9c21e07b4d856"],
    "verify.svg": ["VERIFIED"],
    "verify-tampered.svg": ["FAILED", "record signature does not verify"],
    "policy.svg": ["no-force-push", "from the daemon"],
    "policy-error.svg": ["POLICY RELOAD FAILED", "line 28, column 1"],
}


def test_screenshots_are_written(tmp_path):
    saved = dict(os.environ)
    try:
        assert screenshots.main([str(tmp_path / "out")]) == 0
    finally:  # the script points the process at its scratch folders; put the test's back
        os.environ.clear()
        os.environ.update(saved)
    for name, words in EXPECTED.items():
        text = html.unescape((tmp_path / "out" / name).read_text()).replace("\xa0", " ")
        for word in words:
            assert word in text, f"{name} lacks {word!r}"
