"""The built-in guard resolves a path below the project root with one lstat per component below the root
(the root is resolved already) instead of os.path.realpath's walk: it must give exactly what
os.path.realpath gives, links at any depth, dangling links, loops, dot names, missing folders and a root
reached through a link included."""

from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st

from forge_tui.core.policy.guard import Guard as _Guard

NAMES = [
    "file", "dir", "to-forge", "to-outside", "dangling", "loop", "chain", "missing", ".", "..", "dir/x",
    "dir/sub/f", "dir/sub/missing/deeper", "dir/in-link/x", "dir/in-link", "dir/sub/up", "file/x",
    "missing/x/y", "to-forge/x", "dir/../to-outside/x", "dir/sub/loop2/x",
]  # fmt: skip


def _tree(tmp_path):
    real = tmp_path / "real-root"
    (real / ".forge").mkdir(parents=True)
    (real / "dir" / "sub").mkdir(parents=True)
    (real / "dir" / "sub" / "f").write_text("x")
    (real / "file").write_text("x")
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(real / ".forge", real / "to-forge")
    os.symlink(outside, real / "to-outside")
    os.symlink(tmp_path / "nowhere", real / "dangling")
    os.symlink(real / "loop", real / "loop")
    os.symlink("to-forge", real / "chain")
    os.symlink(outside, real / "dir" / "in-link")  # a link below the root's first level
    os.symlink("../..", real / "dir" / "sub" / "up")
    os.symlink("loop2", real / "dir" / "sub" / "loop2")
    link_root = tmp_path / "link-root"
    os.symlink(real, link_root)
    return real, link_root


def test_guard_realpath_equals_os_realpath(tmp_path):
    real, link_root = _tree(tmp_path)
    for root in (str(real), str(link_root)):
        guard = _Guard(root, ())
        for name in NAMES + [str(tmp_path / "outside"), "~"]:
            lexical = os.path.normpath(os.path.join(root, name))
            assert guard.realpath(lexical) == os.path.realpath(lexical), (root, name)
        assert guard.covers("chain") and guard.covers("to-forge/x"), "a link to .forge was not caught"
        assert guard.covers("dir/sub/up/to-forge/x"), (
            "a link below the first level that leads to .forge was not caught"
        )
        assert not guard.covers("to-outside") and not guard.covers("file")


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="ab.-/~ ", max_size=8) | st.sampled_from(NAMES).map(lambda n: n + "/a"))
def test_guard_realpath_matches_for_any_word(tmp_path_factory, word):
    real, link_root = _tree(tmp_path_factory.mktemp("g"))
    for root in (str(real), str(link_root)):
        lexical = os.path.normpath(os.path.join(root, word))
        assert _Guard(root, ()).realpath(lexical) == os.path.realpath(lexical), (root, word)
