"""The normaliser's shortcuts are honest: `_opaque` answers None at once only for programs
`_opaque_full` has nothing to say about, and `_paths_written` finds the very paths the plain walk over
every word (kept here as the reference) finds, on generated command words."""

from __future__ import annotations

import random

from forge_tui.core.policy import normalize as nz

_PROGRAMS = (
    *sorted(nz._OPAQUE_PROGRAMS), *sorted(nz._DASH_O_WRITES), *sorted(nz._DESTROYERS), *sorted(nz._COPIERS),
    *sorted(nz._CREATORS), "python3", "python3.11", "pypy3", "python-config", "pythonista", "pytest", "ls",
    "ruff", "make", "npm", "dd", "cargo", "node18", "bash5", "gitk", "", "-", "tests",
)  # fmt: skip
_ARGS = (
    "-c", "-e", "-o", "-O", "-oout", "-o-", "--output", "--output=o.txt", "--out", "--basetemp=b",
    "--basetemp", "--junitxml=r.xml", "--cache-dir", "of=/tmp/x", "if=/dev/zero", "-v", "-eq", "1", "x",
    "-f", "-rf", "-", "--", "push", "--exec", "--upload-pack=x", "alias.x=y", "-exec", "sh", "{}", ";",
    "-delete", "--delete", "src", "dst", "expand_aliases", "-p", "PATH=.", "a[1]=2", "--to-command=x",
    "-e", "ProxyCommand=x", "--rsh=ssh", "-I", "=", "--=x", "---output", "--output-file=",
)  # fmt: skip


def _paths_written_reference(words: list[str], dynamic: set[int], clusters: set[int]) -> tuple:
    """`_paths_written` as it was, one test per word in order (the reference)."""
    writes: list[str] = []
    destroys: list[str] = []
    name = words[0] if words else ""
    operands = [
        w for k, w in enumerate(words[1:], 1) if k not in clusters and (k in dynamic or not w.startswith("-"))
    ]
    for k, w in enumerate(words):
        if k == 0:
            continue
        opt = w.split("=", 1)[0]
        if opt in nz._WRITE_OPTIONS:
            value = nz._option_value(words, k)
            if value:
                writes.append(value)
                if opt in nz._DESTROY_OPTIONS:
                    destroys.append(value)
        elif name in nz._DASH_O_WRITES and w in ("-o", "-O", "--output") and k + 1 < len(words):
            writes.append(words[k + 1])
        elif name in nz._DASH_O_WRITES and len(w) > 2 and w[:2] == "-o" and w[2] != "-":
            writes.append(w[2:])
        elif name == "dd" and w.startswith("of="):
            writes.append(w[3:])
    if name in nz._DESTROYERS:
        destroys.extend(operands)
        writes.extend(operands)
    elif name in nz._COPIERS and operands:
        writes.append(operands[-1])
        if name == "mv":
            destroys.extend(operands[:-1])
            writes.extend(operands[:-1])
        if name == "rsync" and any(w.startswith("--delete") for w in words):
            destroys.append(operands[-1])
    elif name in nz._CREATORS:
        writes.extend(operands)
    elif name == "find" and "-delete" in words:
        starts = [w for w in words[1:] if not w.startswith(("-", "(", "!"))]
        tests = [
            w for w in words[1:] if w.startswith("-") and w not in ("-delete", "-depth", "-xdev", "-mount")
        ]
        if not tests:
            destroys.extend(starts[:1] or ["."])
    return tuple(dict.fromkeys(writes)), tuple(dict.fromkeys(destroys))


def _generated(n: int, seed: int) -> list[tuple[list[str], set[int], set[int]]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words = [rng.choice(_PROGRAMS), *(rng.choice(_ARGS) for _ in range(rng.randint(0, 5)))]
        dynamic = {k for k in range(len(words)) if rng.random() < 0.1}
        clusters = {k for k in range(1, len(words)) if rng.random() < 0.1}
        out.append((words, dynamic, clusters))
    return out


def test_every_write_option_starts_with_two_dashes() -> None:
    """If this fails, `_paths_written` (which looks up only words starting with "--") misses a path
    written through an option of _WRITE_OPTIONS."""
    assert all(o.startswith("--") for o in nz._WRITE_OPTIONS)


def test_opaque_equals_the_full_test_on_generated_words() -> None:
    """If this fails, a program `_opaque_full` finds opaque is missing from _OPAQUE_PROGRAMS: its code
    would be taken as visible (an allow by the default or by a rule that does not name it)."""
    opaque = 0
    for words, dynamic, _ in _generated(6000, seed=3):
        got, want = nz._opaque(words, dynamic), nz._opaque_full(words, dynamic)
        assert got == want, words
        opaque += want is not None
    assert opaque > 500, "the generated words hardly exercise the opaque programs"


def test_paths_written_equals_the_reference_on_generated_words() -> None:
    """If this fails, `_paths_written` finds other written or destroyed paths than the walk over every
    word: the guard and the write rules would see other paths."""
    found = 0
    for words, dynamic, clusters in _generated(6000, seed=4):
        got = nz._paths_written(words, dynamic, clusters)
        assert got == _paths_written_reference(words, dynamic, clusters), words
        found += bool(got[0] or got[1])
    assert found > 1000, "the generated words hardly write any path"
