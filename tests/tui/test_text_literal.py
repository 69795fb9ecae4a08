"""Agent-supplied text is shown literally: no markup parsing, no escape sequences passed through."""

from __future__ import annotations

import pytest
from rich.console import Console

from forge_tui.tui.text import clean, literal, shorten

HOSTILE = [
    "[/foo]",
    "[bold red]x[/]",
    "[link=https://evil.example]click[/link]",
    "\x1b[2J\x1b[31mred\x1b[0m",
    "\x1b]8;;https://evil.example\x07x\x1b]8;;\x07",
    "a\rb",
    "bell\x07",
    "c1\x9b31m",
    "rtl\u202eexe.txt",
]


def render(text) -> str:
    console = Console(width=200, color_system=None, force_terminal=False, record=True)
    console.print(text)
    return console.export_text()


@pytest.mark.parametrize("s", HOSTILE)
def test_literal_renders_without_markup_or_control_characters(s):
    out = render(literal(s))
    assert not any(ord(c) < 0x20 and c not in "\n" or 0x7F <= ord(c) <= 0x9F for c in out), repr(out)
    assert "\u202e" not in out
    # The visible text is exactly the cleaned input: nothing swallowed as markup.
    assert out.rstrip("\n") == clean(s)


def test_markup_is_kept_as_text():
    assert render(literal("[bold red]x[/]")).strip() == "[bold red]x[/]"
    assert render(literal("[/foo]")).strip() == "[/foo]"


def test_escapes_are_made_visible():
    assert clean("\x1b[31m") == "\\x1b[31m"
    assert clean("a\u202eb") == "a\\u202eb"
    assert clean("tab\tnl\n") == "tab\tnl\n"
    assert clean("tab\tnl\n", one_line=True) == "tab\\tnl\\n"


def test_shorten_cuts_to_width():
    assert shorten("abcdef", 4) == "abc…"
    assert shorten("ab\ncd", 10) == "ab\\ncd"
