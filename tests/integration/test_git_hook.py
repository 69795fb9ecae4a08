"""The prepare-commit-msg hook (`forge-tui git-hook`) and the trailer of `request --commit`."""

from __future__ import annotations

import os
import subprocess

import pytest

from forge_tui.commands.git_hook import add_trailer_for_commit
from forge_tui.gitlink import ENV_REQUEST, remember_request, staged_change


def git(root, *args: str) -> str:
    res = subprocess.run(
        ["git", "-c", "user.name=Dev", "-c", "user.email=dev@example.com", "-C", str(root), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    return res.stdout


@pytest.fixture
def repo(tmp_path):
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "a.txt").write_text("a\n")
    git(tmp_path, "add", "a.txt")
    return tmp_path


def test_the_hook_names_the_request_whose_staged_change_is_committed(repo, monkeypatch):
    monkeypatch.delenv(ENV_REQUEST, raising=False)
    msg = repo / "MSG"
    msg.write_text("change a\n")
    add_trailer_for_commit(str(msg), root=str(repo))
    assert "Forge-Request" not in msg.read_text()  # no request: the message is left alone
    paths, digest = staged_change(str(repo))
    remember_request(str(repo), "r-123", digest)
    add_trailer_for_commit(str(msg), root=str(repo))
    assert msg.read_text().rstrip("\n").endswith("\n\nForge-Request: r-123")
    add_trailer_for_commit(str(msg), root=str(repo))
    assert msg.read_text().count("Forge-Request") == 1  # not repeated
    # A different staged change is not what r-123 was decided on: no trailer.
    (repo / "a.txt").write_text("something else\n")
    git(repo, "add", "a.txt")
    other = repo / "MSG2"
    other.write_text("change a again\n")
    add_trailer_for_commit(str(other), root=str(repo))
    assert "Forge-Request" not in other.read_text()
    # The request an agent's session works under wins.
    monkeypatch.setenv(ENV_REQUEST, "r-session")
    add_trailer_for_commit(str(other), root=str(repo))
    assert "Forge-Request: r-session" in other.read_text()


def test_install_writes_an_executable_hook_git_runs(repo, run_cli, monkeypatch):
    monkeypatch.chdir(repo)
    monkeypatch.setenv(ENV_REQUEST, "r-777")
    code, out, _ = run_cli("git-hook", "install")
    assert code == 0 and "prepare-commit-msg" in out
    hook = repo / ".git" / "hooks" / "prepare-commit-msg"
    assert os.access(hook, os.X_OK)
    git(repo, "commit", "-q", "-m", "with the hook")
    assert "Forge-Request: r-777" in git(repo, "log", "-1", "--format=%B")
    # A hook of another tool is not overwritten.
    hook.write_text("#!/bin/sh\nexit 0\n")
    code, _, err = run_cli("git-hook", "install")
    assert code == 2 and "--force" in err
