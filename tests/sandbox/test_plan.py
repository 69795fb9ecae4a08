"""The sandbox plan as a pure function: what is mounted where, in which order, and which layouts are
refused. No bubblewrap needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from forge_tui.sandbox import Layout, SandboxError, bwrap_argv, plan


def _layout(tmp: Path, **kw) -> Layout:
    base = dict(
        project_root=tmp / "proj",
        data_root=tmp / "home/.local/share/forge-tui",
        agent_socket=tmp / "run/forge-tui/p.sock",
        review_socket=tmp / "run/forge-tui/review/p.sock",
        home=tmp / "home",
        runtime_dir=tmp / "run",
    )
    base.update(kw)
    return Layout(**base)


def _ops(p) -> list[tuple[str, Path]]:
    return [(m.op, m.path) for m in p.mounts]


def test_default_layout(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = plan(_layout(tmp_path))
    ops = _ops(p)
    for d in (".forge", ".claude", ".codex", ".gemini"):
        assert ("ro", tmp_path / "proj" / d) in ops
    assert ("hide", tmp_path / "home/.local/share/forge-tui") in ops
    assert ("hide", tmp_path / "run/forge-tui/review") in ops
    assert ("hide", tmp_path / "run") in ops  # $XDG_RUNTIME_DIR: the session bus and friends
    assert ("expose", tmp_path / "run/forge-tui") in ops  # the agent socket's folder, bound back
    assert p.exposed == tmp_path / "run/forge-tui"
    # Ancestors are pinned (cannot be renamed away), but nothing inside a hidden folder is re-exposed.
    assert ("bind", tmp_path / "proj") in ops and ("bind", tmp_path / "home/.local/share") in ops
    assert ("bind", tmp_path / "run/forge-tui") not in ops


def test_every_mount_comes_after_the_mounts_above_it(tmp_path, monkeypatch):
    # A bind of a folder after a mount inside it would cover that mount with the host's writable view.
    monkeypatch.chdir(tmp_path)
    mounts = plan(
        _layout(tmp_path, git_paths=(tmp_path / "proj/.git/hooks", tmp_path / "proj/.git/config"))
    ).mounts
    for i, later in enumerate(mounts):
        for earlier in mounts[:i]:
            assert later.path not in earlier.path.parents, f"{later} comes before {earlier}"


def test_agent_socket_beside_the_reviewer_socket_is_bound_alone(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = plan(_layout(tmp_path, agent_socket=tmp_path / "s/a.sock", review_socket=tmp_path / "s/r.sock"))
    assert p.exposed == tmp_path / "s/a.sock"
    assert ("hide", tmp_path / "s") in _ops(p) and ("expose", tmp_path / "s/a.sock") in _ops(p)


@pytest.mark.parametrize(
    "change",
    [
        {"data_root": "proj/.."},  # the project inside the data folder
        {"review_socket": "proj/r.sock"},  # hiding the reviewer socket's folder would hide the project
        {"review_socket": "home/r.sock"},  # … or the home folder
        {"agent_socket": "home/.local/share/forge-tui/a.sock"},  # agent socket inside the data folder
    ],
)
def test_layouts_that_cannot_be_sandboxed_are_refused(tmp_path, monkeypatch, change):
    monkeypatch.chdir(tmp_path)
    kw = {k: (tmp_path / v).resolve() for k, v in change.items()}
    with pytest.raises(SandboxError):
        plan(_layout(tmp_path, **kw))


def test_runtime_dir_holding_the_project_is_left_visible(tmp_path, monkeypatch):
    # $XDG_RUNTIME_DIR is hidden only as an extra; it never hides the project.
    monkeypatch.chdir(tmp_path)
    p = plan(_layout(tmp_path, runtime_dir=tmp_path))
    assert ("hide", tmp_path) not in _ops(p)


def test_bwrap_argv_drops_capabilities_and_makes_hidden_folders_read_only(tmp_path, monkeypatch):
    # As root, bwrap keeps every capability unless told otherwise: root could then unmount the tmpfs.
    monkeypatch.chdir(tmp_path)
    p = plan(_layout(tmp_path))
    argv = bwrap_argv("bwrap", p, ["claude"], new_session=False, landlock=True)
    assert argv[argv.index("--cap-drop") + 1] == "ALL"
    assert "--unshare-pid" in argv and "--new-session" not in argv
    remounts = [argv[i + 1] for i, a in enumerate(argv) if a == "--remount-ro"]
    assert sorted(remounts) == sorted(str(h) for h in p.hidden)
    assert argv.index("--remount-ro") > max(i for i, a in enumerate(argv) if a in ("--bind", "--tmpfs"))
    assert argv[-2:] == ["--", "claude"]
    assert "--new-session" in bwrap_argv("bwrap", p, ["claude"], new_session=True, landlock=True)


def test_pair_socket_folder_is_hidden_and_never_bound_back(tmp_path, monkeypatch):
    """Broken if the pair socket's folder (the reviewer role for other OS accounts) stays visible to the
    agent, or a pair folder holding the project is accepted."""
    monkeypatch.chdir(tmp_path)
    pair = tmp_path / "tmp/forge-tui-pair-p"
    p = plan(_layout(tmp_path, pair_dirs=(pair,)))
    assert ("hide", pair) in _ops(p) and pair in p.hidden
    assert not any(m.path == pair and m.op in ("bind", "expose") for m in p.mounts)
    beside = plan(_layout(tmp_path, pair_dirs=(tmp_path / "run/forge-tui",)))
    assert beside.exposed == tmp_path / "run/forge-tui/p.sock"  # the agent socket alone, not its folder
    with pytest.raises(SandboxError, match="must hide"):
        plan(_layout(tmp_path, pair_dirs=(tmp_path,)))
