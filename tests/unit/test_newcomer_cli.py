"""Regression tests for the mistakes a newcomer's first hour hit (issue: the house in order).

Each test names what a user saw before: a typo that printed an empty table with exit 0, an internal
error (exit 70) for a configuration problem, a half-made `.forge/` after a failed `init`.
"""

from __future__ import annotations

import os

from forge_tui.errors import EXIT_USAGE


def test_log_since_that_is_no_date_is_a_usage_error(project, run_cli):
    code, out, err = run_cli("log", "--since", "notadate")
    assert code == EXIT_USAGE, (code, out, err)
    assert "notadate" in err and "not a time" in err
    assert out == ""  # no empty table that looks like "nothing happened"


def test_log_until_accepts_prefixes_and_rejects_garbage(project, run_cli):
    assert run_cli("log", "--until", "2026-11")[0] == 0
    assert run_cli("log", "--until", "2026-11-23T20:1x")[0] == EXIT_USAGE


def test_log_unknown_type_is_a_usage_error(project, run_cli):
    code, out, err = run_cli("log", "--type", "nosuchtype")
    assert code == EXIT_USAGE
    assert "nosuchtype" in err and "request" in err  # names the valid types


def test_log_known_type_still_filters(project, run_cli):
    code, out, _ = run_cli("log", "--type", "genesis")
    assert code == 0 and "genesis" in out


def test_verify_anchor_that_is_no_checkpoint_is_a_usage_error(project, run_cli, tmp_path):
    bogus = tmp_path / "anchor.txt"
    bogus.write_text("hello\nworld\n")
    code, _out, err = run_cli("verify", "--anchor", str(bogus))
    assert code == EXIT_USAGE, err
    assert "not a checkpoint" in err


def test_verify_anchor_that_is_a_real_checkpoint_is_accepted(project, run_cli):
    lid = project.local_ledger_id()
    cp = project.ledger_dir / f"{lid}.checkpoint"
    code, _out, err = run_cli("verify", "--anchor", str(cp))
    assert code == 0, err


def test_request_with_malformed_project_toml_is_a_config_error(project, run_cli):
    (project.root / ".forge" / "project.toml").write_text("project_id = \n")
    code, _out, err = run_cli("request", "--kind", "shell.exec", "--command", "ls")
    assert code == EXIT_USAGE, err
    assert "project.toml" in err and "internal error" not in err


def test_request_action_from_a_missing_file_is_a_usage_error(project, run_cli):
    code, _out, err = run_cli("request", "--action", "@missing.json")
    assert code == EXIT_USAGE, err
    assert "missing.json" in err and "internal error" not in err


def test_init_with_an_unusable_data_folder_leaves_nothing(tmp_path, monkeypatch, run_cli):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("FORGE_DATA_DIR", str(blocker / "data"))  # a folder below a file: even root fails
    root = tmp_path / "p"
    root.mkdir()
    code, _out, err = run_cli("init", str(root))
    assert code == EXIT_USAGE, err
    assert "data folder" in err
    assert not (root / ".forge").exists()


def test_init_that_fails_half_way_leaves_no_half_made_project(tmp_path, run_cli):
    root = tmp_path / "p"
    root.mkdir()
    (root / ".gitattributes").mkdir()  # init cannot write it: it fails after .forge/ was begun
    code, _out, err = run_cli("init", str(root))
    assert code == EXIT_USAGE, err
    assert "internal error" not in err
    assert not (root / ".forge").exists()
    os.rmdir(root / ".gitattributes")
    code, _out, err = run_cli("init", str(root))  # and a second try works without --join or --force
    assert code == 0, err
    assert (root / ".forge" / "project.toml").is_file()


def test_write_private_file_survives_short_writes(tmp_path, monkeypatch):
    from forge_tui import paths

    real_write = os.write

    def one_byte(fd, data):  # a kernel may write less than asked; the old code wrote once
        return real_write(fd, bytes(data[:1]))

    monkeypatch.setattr(paths.os, "write", one_byte)
    target = tmp_path / "secret"
    paths.write_private_file(target, b"0123456789" * 10)
    monkeypatch.undo()
    assert target.read_bytes() == b"0123456789" * 10
    assert oct(target.stat().st_mode & 0o777) == "0o600"
