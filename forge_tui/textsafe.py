"""Agent text made safe to print: one helper for the console and every CLI output (standard library only,
cheap to import: `forge-tui request` runs on each agent tool call).

Everything an agent sends (commands, paths, summaries, reasons) can hold terminal control sequences or
Unicode that reorders what a reader sees. `clean` replaces C0 controls (except newline and tab), DEL, C1
controls, the bidi embeddings, overrides, isolates and marks, and other invisible format characters
(zero-width spaces and joiners, the BOM, the soft hyphen) by visible escapes such as ``\\x1b`` and
``\\u202e``, so nothing an agent writes can repaint a terminal or hide text from a reviewer.
`json_text` does the same for JSON printed as it was stored (ledger records): the same characters
become JSON escapes (``\\u009b``), so the text still parses to the very same values.
"""

from __future__ import annotations

import re

# C0 except \t and \n; DEL; C1; bidi (LRM, RLM, ALM, LRE..RLO, LRI..PDI); zero-width and other invisible
# format characters (ZWSP..ZWJ, word joiner..invisible plus, BOM, soft hyphen, Mongolian vowel separator).
_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]"
)


def _escape(m: re.Match[str]) -> str:
    o = ord(m.group(0))
    return f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}"


def clean(value: object, *, one_line: bool = False) -> str:
    """`value` as a str with unsafe characters made visible; with `one_line`, newlines and tabs too."""
    s = value if isinstance(value, str) else str(value)
    s = _UNSAFE.sub(_escape, s)
    if one_line:
        s = s.replace("\n", "\\n").replace("\t", "\\t")
    return s


def _json_escape(m: re.Match[str]) -> str:
    return f"\\u{ord(m.group(0)):04x}"


def json_text(text: str) -> str:
    """JSON text (a canonical ledger line) safe to print: every unsafe character, which in valid JSON
    can only sit inside a string, written as a `\\uXXXX` escape. It decodes to the same values; a
    line with nothing unsafe is returned unchanged (byte for byte, once encoded)."""
    return _UNSAFE.sub(_json_escape, text)
