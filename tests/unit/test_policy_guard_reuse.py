"""The built-in guard is reused between decisions only while everything it was built from is unchanged:
the same root and protected folders, $HOME, and the same resolution of every trusted folder (so a
protected folder moved behind a link is seen once its cached resolution expires)."""

from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st

from forge_tui.core import policy
from forge_tui.core.policy.guard import Guard as _Guard


def test_the_same_inputs_give_the_same_guard(tmp_path, monkeypatch):
    root = tmp_path / "root"
    (root / ".forge").mkdir(parents=True)
    keys = tmp_path / "keys"
    keys.mkdir()
    g1 = _Guard.get(str(root), (keys,))
    assert _Guard.get(str(root), (keys,)) is g1
    assert _Guard.get(str(root), ()) is not g1
    monkeypatch.setenv("HOME", str(tmp_path / "elsewhere"))
    assert _Guard.get(str(root), (keys,)) is not g1


def test_a_protected_folder_that_now_resolves_elsewhere_gives_a_new_guard(tmp_path, monkeypatch):
    root = tmp_path / "root"
    (root / ".forge").mkdir(parents=True)
    keys_real = tmp_path / "keys-v1"
    keys_real.mkdir()
    keys = tmp_path / "keys"
    os.symlink(keys_real, keys)
    g1 = _Guard.get(str(root), (keys,))
    assert g1.covers(str(keys_real / "k"))
    moved = tmp_path / "keys-v2"
    moved.mkdir()
    os.unlink(keys)
    os.symlink(moved, keys)
    policy.CACHES.trusted_real.clear()  # the one-second resolution cache expired
    g2 = _Guard.get(str(root), (keys,))
    assert g2 is not g1
    assert g2.covers(str(moved / "k")) and not g2.covers(str(keys_real / "k"))


def _covers_as_before(guard: _Guard, cand: str) -> bool:
    return any(cand == d or cand.startswith(d.rstrip("/") + "/") for d in guard.dirs)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab./~-", max_size=12))
def test_the_folder_check_is_the_one_it_replaced(tmp_path_factory, word):
    root = tmp_path_factory.mktemp("r")
    guard = _Guard(str(root), (root / "a", root / "b/"))
    lexical = os.path.normpath(os.path.join(str(root), word))
    for cand in (lexical.casefold(), guard.realpath(lexical).casefold(), word):
        assert (cand in guard._dir_set or cand.startswith(guard._prefixes)) == _covers_as_before(guard, cand)


def _linked_tree(tmp_path):
    root = tmp_path / "root"
    (root / ".forge").mkdir(parents=True)
    (root / "dir").mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(root / ".forge", root / "to-forge")
    os.symlink(outside, root / "out")
    return root, outside


WORDS = st.text(alphabet="ab.-/=*$~{}HOME to-forge out dir", max_size=16)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(WORDS, st.booleans()), min_size=1, max_size=6))
def test_a_planned_word_is_judged_as_afresh(tmp_path_factory, words):
    root, _ = _linked_tree(tmp_path_factory.mktemp("w"))
    guard = _Guard(str(root), ())
    for word, dynamic in words + words:  # the second time from the plan
        assert guard.covers_word(word, dynamic) == guard._covers_word_afresh(word, dynamic), word


def test_a_word_whose_link_changes_is_judged_on_the_file_system_every_time(tmp_path):
    root, outside = _linked_tree(tmp_path)
    guard = _Guard(str(root), ())
    assert not guard.covers_word("out", False)
    assert not guard.covers_word("--file=out/x", False)
    os.unlink(root / "out")
    os.symlink(root / ".forge", root / "out")  # now the same word reaches .forge
    assert guard.covers_word("out", False)
    assert guard.covers_word("--file=out/x", False)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(WORDS, st.booleans()), min_size=1, max_size=6))
def test_realpaths_shared_by_the_guards_of_one_decision_judge_as_afresh(tmp_path_factory, words):
    """check_builtins lets its two guards (with and without .forge) share the realpaths of one
    decision: each guard must judge every word exactly as it does on its own."""
    root, _ = _linked_tree(tmp_path_factory.mktemp("s"))
    guard = _Guard(str(root), ())
    private = _Guard(str(root), (), include_forge=False)
    shared: dict[str, str] = {}
    for word, dynamic in words:
        for g in (private, guard):
            assert g.covers_word(word, dynamic, shared) == g._covers_word_afresh(word, dynamic), word
