"""Untrusted text: everything an agent sends (commands, paths, diffs, reasons, client names) and every
ledger field is shown literally. Rich markup is never parsed from it and terminal control sequences are
never passed through: control characters (C0, DEL, C1) other than newline and tab are replaced by
visible escapes such as ``\\x1b``, so an agent cannot repaint the reviewer's screen or hide text."""

from __future__ import annotations

from rich.text import Text

from forge_tui.textsafe import clean  # the one escaping rule for the console and the CLI

__all__ = ["clean", "cut", "literal", "shorten"]


def literal(value: object, style: str = "", *, one_line: bool = False) -> Text:
    """A rich Text holding `value` exactly as written (after `clean`): markup like ``[bold]`` stays text."""
    return Text(clean(value, one_line=one_line), style=style, no_wrap=one_line, end="")


def shorten(value: object, width: int) -> str:
    """One cleaned line cut to `width` cells with an ellipsis."""
    s = clean(value, one_line=True)
    return s if len(s) <= width else s[: max(0, width - 1)] + "…"


def cut(value: object, limit: int) -> str:
    """`value` whole (lines kept) up to `limit` characters, else cut there with a note of what is left
    out, so a reviewer never mistakes a shortened command for the whole one."""
    s = str(value)
    if len(s) <= limit:
        return s
    return s[:limit] + f"… ({len(s) - limit} more characters: Inspect shows the whole)"
