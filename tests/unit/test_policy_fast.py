"""`decide()`'s fast paths are honest: for every action of the evasion corpus and a generated set, under
every policy pack and both corpus policies, `decide()` gives the very Evaluation (every field) that a
reference evaluator gives which takes none of them:

* the shell parser's fast path for plain lines (the reference parses with `shell.parse_full`);
* the rules left out before any unit is matched because their `kind`, `tool` or `url` patterns miss
  (`_Evaluator._live_rules`; the reference matches every rule against every unit, key by key, with
  `fnmatch` as before);
* the compiled `kind`/`tool`/`url` globs (`match.Globs`; the reference calls `fnmatch.fnmatchcase`);
* the command patterns left out because they name another program (`CompiledRule.commands_for`), and
  `match_command`'s answers without a search and compiled word globs (the reference searches with
  `match.match_command_full`, fnmatch on every word, over every pattern);
* the path globs matched with the regexes wcmatch compiled (`match.PathGlob`; the reference calls
  wcmatch's own match);
* the walk below the project root that resolves links (`match.realpath_below`; the reference calls
  `os.path.realpath`)."""

from __future__ import annotations

import fnmatch
import os
import random
import shutil
import tempfile
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forge_tui.core import shell
from forge_tui.core.policy import CACHES, Context, Evaluation, Policy, decide, load_policy
from forge_tui.core.policy import evaluate as ev
from forge_tui.core.policy import guard as gd
from forge_tui.core.policy import match as mt
from forge_tui.core.policy.match import NO, YES, CompiledRule, match_path, normal_url

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "tests" / "corpus"
CASES: list[dict[str, Any]] = tomllib.loads((CORPUS / "evasions.toml").read_text(encoding="utf-8"))["case"]


def _first(values: Any, value: str | None) -> str | None:
    if value is None:
        return None
    return next((v for v in values if fnmatch.fnmatchcase(value, v)), None)


class _Reference(ev._Evaluator):
    """The evaluator without the rule filter and the compiled globs: every rule, every key, fnmatch."""

    def _live_rules(self) -> tuple[tuple[CompiledRule, tuple[str, ...]], ...]:
        return tuple((comp, ()) for comp in self.p.compiled)

    def _match(self, comp: CompiledRule, whys_so_far: tuple[str, ...], unit: Any) -> tuple[int, str, bool]:
        assert whys_so_far == ()
        match = comp.rule.match
        whys: list[str] = []
        strength = YES
        names_program = False
        for key in comp.keys:
            values = match[key]
            if key in ("tool", "kind"):
                value = self.tool if key == "tool" else self.kind
                hit = _first(values, value)
                if hit is None:
                    return NO, "", False
                whys.append(
                    f"{key} {value!r} matches {hit!r}" if key == "tool" else f"kind {value} matches {hit!r}"
                )
            elif key == "url":
                hit = _first(values, normal_url(self.url) if self.url is not None else None)
                if hit is None:
                    return NO, "", False
                whys.append(f"url {self.url} matches {hit!r}")
            elif key == "paths":
                if unit.path is None:
                    return NO, "", False
                view = self.views[unit.path]
                hit = next((pat for pat, m in comp.paths if match_path(pat, m, view)), None)
                if not hit:
                    return NO, "", False
                where = view.rel if view.rel is not None else f"{view.abs}, outside the project"
                whys.append(f"path {view.shown} ({where}) matches {hit!r}")
            elif key == "command":
                if unit.cmd is None:
                    return NO, "", False
                part = self.parts[unit.cmd]
                best, pat_hit = NO, None
                for pat in comp.commands:
                    s = mt.match_command_full(pat, part)
                    if s > best:
                        best, pat_hit = s, pat
                    if best == YES:
                        break
                if best == NO or pat_hit is None:
                    return NO, "", False
                names_program = (
                    pat_hit.program == part.program
                    and 0 not in part.dynamic
                    and all(any(w == r or w.startswith(r) for w in pat_hit.words) for r in part.explicit)
                )
                strength = min(strength, best)
                whys.append(f"command part `{part.text()}` matches {pat_hit.source!r}")
        return strength, "; ".join(whys), names_program


def _reference_decide(policy: Policy, action: Any, ctx: Context, mp: pytest.MonkeyPatch) -> Evaluation:
    with mp.context() as m:
        m.setattr(ev, "parse_command", shell.parse_full)
        m.setattr(mt.Globs, "first", lambda self, value: _first(self.patterns, value))
        m.setattr(mt.PathGlob, "match", lambda self, path: bool(self.wc.match(path)))
        for module in (mt, gd):
            m.setattr(module, "realpath_below", lambda lexical, prefix, real_root: os.path.realpath(lexical))
        CACHES.clear()
        return _Reference(policy, action, ctx).run()


@dataclass(frozen=True)
class World:
    home: Path
    root: Path
    policies: dict[str, Policy]


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    """A project with links to .forge, to the data folder, out of the project and within it."""
    home = Path(tempfile.mkdtemp(prefix="ff-", dir="/tmp"))
    data = home / ".local" / "share" / "forge-tui"
    (data / "keys").mkdir(parents=True)
    root = home / "proj"
    for sub in (".forge", "src/app", "build", "tests", ".git/hooks", ".claude"):
        (root / sub).mkdir(parents=True)
    (root / "src" / "a.py").write_text("")
    os.symlink(root / ".forge", root / "forgelink")
    os.symlink(data, root / "datalink")
    os.symlink("/etc", root / "etclink")
    os.symlink("src/app", root / "applink")
    os.symlink("missing", root / "dangling")
    mp = pytest.MonkeyPatch()
    mp.setenv("HOME", str(home))
    mp.setenv("FORGE_DATA_DIR", str(data))
    try:
        policies = {p.stem: load_policy(p) for p in sorted((REPO / "policies").glob("*.toml"))}
        policies |= {p.stem: load_policy(p) for p in sorted(CORPUS.glob("default-*.toml"))}
    finally:
        mp.undo()
    yield World(home, root, policies)
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(autouse=True)
def _env(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(world.home))
    monkeypatch.setenv("FORGE_DATA_DIR", str(world.home / ".local" / "share" / "forge-tui"))


def _fill(value: Any, w: World) -> Any:
    data = str(w.home / ".local" / "share" / "forge-tui")
    if isinstance(value, str):
        return value.replace("{data}", data).replace("{home}", str(w.home))
    if isinstance(value, list):
        return [_fill(v, w) for v in value]
    return {k: _fill(v, w) for k, v in value.items()}


_PROGRAMS = (
    "pytest", "ls", "git", "rm", "cp", "mv", "echo", "cat", "ruff", "npm", "make", "python", "python3",
    "curl", "tee", "forge-tui", "cd", "sudo", "env", "/usr/bin/git", "./git", "find", "bash", "touch",
)  # fmt: skip
_ARGS = (
    "-q", "-rf", "-fr", "-f", "--force", "push", "origin", "+main", "status", "diff", "commit", "-m", "x",
    "test", "run", "build", "-c", "-o", "out.txt", "--output=o.txt", "--basetemp=build/t", "src/a.py",
    "tests/", "build/x", ".forge/policy.toml", "forgelink/x", "datalink/keys", "etclink/passwd",
    "applink/m.py", "dangling", "~/.ssh/id_rsa", "/tmp/x", "/etc/passwd", "..", "../..", "-C", ".",
    "approve", "log", "CI=1", "PATH=.", "-delete", "-exec", ";", ".env", "a.pem", "-m", "pytest",
    "*.py", "$X", "-[f]", "build/*", "-rfv", "-uf", "--force-with-lease", "reset", "--hard", "clean",
)  # fmt: skip
_JOINERS = (" && ", " | ", "; ", " > build/o.txt ", " >> /tmp/o ", " 2>&1 ", " $(pwd) ", " ")
_KINDS = ("shell.exec", "file.read", "file.write", "file.delete", "net.fetch", "git.commit", "git.push")
_TOOLS = ("Bash", "Read", "Write", "Edit", "Grep", "Glob", "WebFetch", None)
_PATHS = (
    "src/a.py", "src/new_1.py", "README.md", ".env", "build/x/y", ".forge/policy.toml", "forgelink/p",
    "datalink/keys/k", "etclink/passwd", "applink/m.py", "dangling", "/etc/passwd", "~/.ssh/config",
    ".claude/settings.json", ".git/hooks/pre-commit", "../outside", "src/../../x", "tests/t_9.py",
)  # fmt: skip
_URLS = ("https://pypi.org/simple/x/", "https://PyPI.org@evil.example/", "http://localhost:8000/", "x")


def _command(rng: random.Random, i: int) -> str:
    out = []
    for _ in range(rng.randint(1, 3)):
        words = [rng.choice(_PROGRAMS), *(rng.choice(_ARGS) for _ in range(rng.randint(0, 4)))]
        if rng.random() < 0.5:
            words.append(f"tests/test_{i}.py")  # a word never seen before
        out.append(" ".join(words))
    return rng.choice(_JOINERS).join(out) if len(out) > 1 else out[0]


def _generated(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    actions: list[dict[str, Any]] = []
    for i in range(n):
        kind = rng.choice(_KINDS)
        action: dict[str, Any] = {"kind": kind}
        if (tool := rng.choice(_TOOLS)) is not None:
            action["tool"] = tool
        if kind == "shell.exec" or rng.random() < 0.15:
            action["command"] = _command(rng, i)
        if kind.startswith("file.") or rng.random() < 0.15:
            action["paths"] = [rng.choice(_PATHS) for _ in range(rng.randint(1, 2))]
        if kind == "net.fetch" or rng.random() < 0.1:
            action["url"] = rng.choice(_URLS)
        actions.append(action)
    return actions


def _check_all(actions: list[Any], w: World) -> int:
    mp = pytest.MonkeyPatch()
    ctx = Context.for_project(w.root, prior_succeeded=frozenset({"tests"}))
    compared = 0
    for name, policy in w.policies.items():
        for action in actions:
            want = _reference_decide(policy, action, ctx, mp)
            CACHES.clear()
            got = decide(policy, action, ctx)
            assert got == want, (name, action)
            compared += 1
    return compared


def test_decide_equals_the_reference_on_the_corpus(world: World) -> None:
    """If this fails, a fast path changes the Evaluation of a corpus action (message: policy, action)."""
    actions = [
        _fill(c["action"], world)
        if "action" in c
        else {"kind": "shell.exec", "tool": "Bash", "command": _fill(c["command"], world)}
        for c in CASES
    ]
    assert _check_all(actions, world) >= 6 * len(CASES)


def test_decide_equals_the_reference_on_generated_actions(world: World) -> None:
    """If this fails, a fast path changes the Evaluation of a generated action (message: policy, action)."""
    actions = _generated(400, seed=12)
    actions += [{"kind": "shell.exec", "command": 7}, "not an object", {"kind": "file.write", "paths": 3}]
    assert _check_all(actions, world) >= 6 * 400


_WORD_PARTS = (
    ".forge", ".FORGE", "forgelink", "datalink", "keys", "src", "..", ".", "~", "$HOME", "${HOME}", "*",
    ".f*", "?", "[d]", "--out=", "of=", "-o", "x", "/", "etclink", "dangling", "applink",
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.sampled_from(_WORD_PARTS), min_size=1, max_size=5).map("/".join)
    | st.lists(st.sampled_from(_WORD_PARTS), min_size=1, max_size=3).map("".join),
    st.booleans(),
)
def test_a_word_the_private_guard_covers_the_guard_covers(world: World, word: str, dynamic: bool) -> None:
    """If this fails, check_builtins may miss a private folder: it asks the private guard only about
    the words the full guard covers (its folders are the private ones and .forge)."""
    data = world.home / ".local" / "share" / "forge-tui"
    guard, private = gd.Guard.pair(str(world.root), (data,))
    if private.covers_word(word, dynamic, {}):
        assert guard.covers_word(word, dynamic, {}), word


def test_the_private_guard_covers_some_words(world: World) -> None:
    """If this fails, the implication above is checked on no word the private guard covers (vacuous)."""
    data = world.home / ".local" / "share" / "forge-tui"
    guard, private = gd.Guard.pair(str(world.root), (data,))
    for word in (
        "datalink/keys",
        "--out=datalink/x",
        "~/.local/share/forge-tui/keys",
        "../.l*/share/f*/keys",
    ):
        dynamic = "*" in word
        assert private.covers_word(word, dynamic, {}) and guard.covers_word(word, dynamic, {}), word
