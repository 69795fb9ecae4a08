"""The console's pure parts: the user config (keymap, reviewer), durations and timestamps, and the
session history built from ledger records."""

from __future__ import annotations

from pathlib import Path

from forge_tui.tui.config import load_config, parse_config
from forge_tui.tui.screens.inspect import session_rows
from forge_tui.tui.widgets.queue_table import expiry_text, fmt_duration, parse_ts


def test_keymap_flat_nested_and_lists_mean_the_same():
    """Broken if one of the documented keymap spellings is ignored or mangled."""
    cfg = parse_config(
        'reviewer = "alice"\n[keymap]\n"app.approve" = "y"\nquit = ["ctrl+q", " x "]\n[keymap.app]\nreject = "n, ctrl+r"\n'
    )
    assert cfg.keymap == {"app.approve": "y", "quit": "ctrl+q,x", "app.reject": "n,ctrl+r"}
    assert cfg.reviewer == "alice" and cfg.problems == []


def test_bad_config_values_are_problems_not_exceptions(tmp_path: Path):
    """Broken if a wrong value or unreadable file raises instead of being reported."""
    cfg = parse_config('colour = "red"\nreviewer = 3\n[keymap]\n"app.approve" = 5\n')
    assert cfg.keymap == {}
    assert len(cfg.problems) == 3
    assert any("unknown settings colour" in p for p in cfg.problems)
    broken = tmp_path / "config.toml"
    broken.write_bytes(b"\xff\xfe[")
    assert load_config(broken).problems
    assert load_config(tmp_path / "missing.toml").problems == []


def test_durations_and_timestamps():
    """Broken if ages or times to expiry are miscounted."""
    assert [fmt_duration(s) for s in (-3, 0, 59, 60, 3599, 3600, 86400 + 7200)] == [
        "0s",
        "0s",
        "59s",
        "1m 00s",
        "59m 59s",
        "1h 00m",
        "1d 2h",
    ]
    t = parse_ts("2026-11-23T20:12:19.123Z")
    assert t is not None and abs(t - 1795464739.123) < 1e-6
    assert parse_ts("yesterday") is None and parse_ts(None) is None
    item = {"expires_at": "2026-11-23T20:12:19.123Z"}
    assert expiry_text(item, t + 1).plain == "expiring"
    assert expiry_text(item, t - 30).plain == "30s"


def test_session_rows_pick_the_session_and_join_decisions_and_outcomes():
    """Broken if the inspect history mixes sessions, shows the request itself, or loses an outcome."""

    def req(seq, rid, session):
        return {
            "seq": seq,
            "ts": f"t{seq}",
            "type": "request",
            "body": {
                "request_id": rid,
                "actor": {"id": "a", "session": session},
                "action": {"kind": "file.read", "paths": ["p"]},
            },
        }

    records = [
        {"seq": 9, "type": "outcome", "body": {"request_id": "r1", "status": "failed"}},
        {"seq": 2, "type": "decision", "body": {"request_id": "r1", "status": "allowed"}},
        req(1, "r1", "s"),
        req(3, "r2", "other"),
        req(5, "r3", "s"),
        {"seq": 6, "type": "decision", "body": {"request_id": "r3", "status": "pending"}},
        req(7, "me", "s"),
    ]
    rows = session_rows(records, "s", exclude="me")
    assert [(r["request_id"], r["status"], r["outcome"], r["summary"]) for r in rows] == [
        ("r1", "allowed", "failed", "p"),
        ("r3", "pending", None, "p"),
    ]
