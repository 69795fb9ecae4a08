"""The shell parser's fast path for plain lines (`_Parser.plain`) is honest: on every command of the
evasion corpus and on a generated set, the parser with the fast path gives exactly what the full parser
gives (the same simple commands, each shown the same, or the same refusal)."""

from __future__ import annotations

import random
import tomllib
from pathlib import Path

from forge_tui.core import shell
from forge_tui.core.shell import Unparseable, parse_full

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "evasions.toml"

# Words that exercise what `_finish` and `_emit` do with plain words: keywords, assignments, wrappers
# and their options, shells with -c, eval, find -exec, look-alike and non-ASCII program words.
_WORDS = (
    "ls", "git", "push", "-f", "--force", "-C", "..", "rm", "-rf", "-fr", "/", "~", "~/.ssh", ".forge",
    "build/x", "pytest", "-q", "tests/t.py", "if", "then", "fi", "!", "time", "-p", "for", "x", "in",
    "case", "esac", "function", "select", "coproc", "FOO=1", "A+=2", "a=b=c", "PATH=.", "env", "-i",
    "-u", "sudo", "-u", "root", "doas", "nice", "-n", "5", "timeout", "10", "nohup", "xargs", "-0",
    "exec", "command", "-v", "builtin", "bash", "sh", "-c", "-lc", "--", "--login", "-o", "eval",
    "trap", "INT", "find", ".", "-exec", "-delete", "+", "/usr/bin/env", "./env", "/tmp/x/sudo",
    "python3", "-m", "node", "-e", "forge-tui", "approve", "déjà", "ｌｓ", "a\u00a0b", "x\u2028y",
    "=", "-", "%", "^", ",", "@", ":", "~root", "..//..", "a=", "=a", "-ftimeout",
)  # fmt: skip
_SPECIALS = "\n;&|()<>#\\'\"$`*?[]{}"


def _outcome(parse, command: str) -> tuple:
    try:
        return ("ok", parse(command))
    except Unparseable as exc:
        return ("refused", str(exc))


def _check(command: str) -> bool:
    """Assert the two parsers agree on `command`, and on how each command reads (`text()`, which the
    fast path may set as it parses); True if the fast path took it."""
    fast, full = _outcome(shell._parse, command), _outcome(parse_full, command)
    assert fast == full, repr(command)
    if fast[0] == "ok":
        assert [c.text() for c in fast[1]] == [c._render() for c in full[1]], repr(command)
    return shell._PLAIN_LINE.fullmatch(command) is not None


def _generated(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words = [rng.choice(_WORDS) for _ in range(rng.randint(1, 7))]
        if rng.random() < 0.3:  # a special character somewhere: the fast path must step aside
            k = rng.randrange(len(words))
            w = words[k]
            at = rng.randint(0, len(w))
            words[k] = w[:at] + rng.choice(_SPECIALS) + w[at:]
        blanks = [rng.choice((" ", "  ", "\t", " \t ")) for _ in words]
        lead = rng.choice(("", " ", "\t"))
        out.append(lead + "".join(w + b for w, b in zip(words, blanks, strict=True)).rstrip(" \t"))
    return out


def test_the_fast_path_agrees_with_the_full_parser_on_the_corpus() -> None:
    """If this fails, the fast path reads a corpus command differently from the full parser."""
    cases = tomllib.loads(CORPUS.read_text(encoding="utf-8"))["case"]
    commands = [c["command"] for c in cases if "command" in c]
    # Also each command with its special characters blanked out: plain lines the fast path takes.
    commands += ["".join(" " if ch in _SPECIALS else ch for ch in c) for c in commands]
    took = sum(_check(c) for c in commands)
    assert took >= 100  # the comparison is not vacuous


def test_the_fast_path_agrees_with_the_full_parser_on_generated_lines() -> None:
    """If this fails, a generated line of plain words (or one with a special character) parses
    differently with the fast path; the message names the line."""
    lines = _generated(4000, seed=12)
    took = sum(_check(c) for c in lines)
    assert 1500 <= took < len(lines)  # both paths are exercised


def test_a_refusal_on_a_plain_line_is_the_full_parsers() -> None:
    """If this fails, a plain line the full parser refuses is accepted by the fast path."""
    for command in ("case x", "for", "for 1 in x", "function f", "a[1]=x", "coproc x", "in"):
        if shell._PLAIN_LINE.fullmatch(command):
            assert _outcome(shell._parse, command)[0] == "refused", command
        _check(command)
