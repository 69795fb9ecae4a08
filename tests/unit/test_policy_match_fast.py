"""The matcher's shortcuts are honest: `match_command` (with its answer for patterns of one-word
patterns, `Pattern.fixed`) gives what the plain search `match_command_full` gives, and `lexical_path`
what `os.path.normpath(os.path.join(...))` gives, on generated patterns, commands and paths."""

from __future__ import annotations

import os
import random

from forge_tui.core.policy.match import (
    compile_pattern,
    lexical_path,
    match_command,
    match_command_full,
)
from forge_tui.core.policy.normalize import normalize
from forge_tui.core.shell import SimpleCommand

_PROGRAMS = ("rm", "git", "pytest", "ls", "cp", "/usr/bin/git", "./rm")
_PATTERN_WORDS = (
    "-rf", "-r", "-f", "*", "x*", "build/*", "push", "origin", "main", "-q", "tests/*", "--force", "?",
    "-[fr]", "a", "--", "status", "[ab]",
)  # fmt: skip
_COMMAND_WORDS = (
    "-rf", "-fr", "-r", "-f", "-v", "build/1", "x1", "push", "origin", "+main", "main", "-q", "tests/t.py",
    "--force", "a", "b", "--", "status", "-uf", "--recursive", "",
)  # fmt: skip


def _cases(n: int, seed: int):
    rng = random.Random(seed)
    for _ in range(n):
        prog = rng.choice(_PROGRAMS)
        pattern_prog = prog.rsplit("/", 1)[-1] if rng.random() < 0.8 else rng.choice(("rm", "git", "*"))
        pw = [pattern_prog, *(rng.choice(_PATTERN_WORDS) for _ in range(rng.randint(0, 4)))]
        try:
            pattern = compile_pattern(" ".join(pw))
        except ValueError:
            continue
        words = (prog, *(rng.choice(_COMMAND_WORDS) for _ in range(rng.randint(0, 5))))
        dynamic = frozenset(k for k in range(len(words)) if rng.random() < 0.08)
        yield pattern, normalize(SimpleCommand(words, dynamic), None, None)


def test_match_command_equals_the_search_on_generated_patterns() -> None:
    """If this fails, a shortcut of `match_command` answers otherwise than the search: a rule would
    match (or allow) a command it does not, or miss one it does."""
    fixed = answered = 0
    for pattern, view in _cases(20000, seed=5):
        got = match_command(pattern, view)
        assert got == match_command_full(pattern, view), (pattern.source, view.words, view.dynamic)
        fixed += pattern.fixed is not None and not view.dynamic
        answered += got > 0
    assert fixed > 5000 and answered > 1000, "the generated cases hardly exercise the shortcut"


def test_lexical_path_equals_normpath_of_the_join() -> None:
    """If this fails, a path is placed elsewhere than os.path.normpath puts it: a path rule or the guard
    would judge another path than the one named."""
    rng = random.Random(6)
    roots = ("/", "/tmp/p", "/tmp/p/", "//tmp", "/tmp/./p", "/tmp/../p", "rel/p", "")
    parts = ("a", "b.py", ".", "..", "", ".forge", "~", "x y", "a.", "..a")
    for _ in range(20000):
        root = rng.choice(roots)
        path = "/".join(rng.choice(parts) for _ in range(rng.randint(1, 4)))
        if rng.random() < 0.1:
            path = "/" + path
        assert lexical_path(root, path) == os.path.normpath(os.path.join(root, path)), (root, path)
