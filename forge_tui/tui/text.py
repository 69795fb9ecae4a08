"""Untrusted text: everything an agent sends (commands, paths, diffs, reasons, client names) and every
ledger field is shown literally. Rich markup is never parsed from it and terminal control sequences are
never passed through: control characters (C0, DEL, C1) other than newline and tab are replaced by
visible escapes such as ``\\x1b``, so an agent cannot repaint the reviewer's screen or hide text."""

from __future__ import annotations

import re

from rich.text import Text

# C0 controls except \t and \n, DEL, C1 controls, and the Unicode bidi overrides/isolates that can reorder
# what a reviewer reads (the "Trojan Source" characters).
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")


def _escape(m: re.Match[str]) -> str:
    c = m.group(0)
    o = ord(c)
    return f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}"


def clean(value: object, *, one_line: bool = False) -> str:
    """`value` as a str with unsafe characters made visible; with `one_line`, newlines and tabs too."""
    s = value if isinstance(value, str) else str(value)
    s = _UNSAFE.sub(_escape, s)
    if one_line:
        s = s.replace("\n", "\\n").replace("\t", "\\t")
    return s


def literal(value: object, style: str = "", *, one_line: bool = False) -> Text:
    """A rich Text holding `value` exactly as written (after `clean`): markup like ``[bold]`` stays text."""
    return Text(clean(value, one_line=one_line), style=style, no_wrap=one_line, end="")


def shorten(value: object, width: int) -> str:
    """One cleaned line cut to `width` cells with an ellipsis."""
    s = clean(value, one_line=True)
    return s if len(s) <= width else s[: max(0, width - 1)] + "…"
