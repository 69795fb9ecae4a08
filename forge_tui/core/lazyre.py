"""Regular expressions compiled the first time they are used, not when their module is imported.

A module-level `NAME = re.compile(...)` costs every process that imports the module, whether it ever
matches anything or not (`forge-tui verify` imports the policy engine, most commands never parse a
shell command). `NAME = LazyPattern(globals(), r"...")` compiles on the first attribute asked of it
(`NAME.match(...)`, `NAME.search(...)`) and then puts the compiled pattern in its place in the module's
namespace: from then on `NAME` is the `re.Pattern` itself, and the functions that look it up pay
nothing more than before. A reference taken elsewhere before that (another module's `from x import
NAME`) keeps working through the lazy object, which compiles once.
"""

from __future__ import annotations

import re
from typing import Any


class LazyPattern:
    """`re.compile(pattern, flags)` on first use; see the module docstring."""

    __slots__ = ("pattern", "flags", "_namespace", "_compiled")

    def __init__(self, namespace: dict[str, Any], pattern: str, flags: int = 0) -> None:
        self.pattern = pattern
        self.flags = flags
        self._namespace = namespace
        self._compiled: re.Pattern[str] | None = None

    @property
    def compiled(self) -> re.Pattern[str]:
        """The compiled pattern (compiled now if it was not; the module's name then names it)."""
        rx = self._compiled
        if rx is None:
            rx = self._compiled = re.compile(self.pattern, self.flags)
            ns = self._namespace
            for name in [k for k, v in ns.items() if v is self]:
                ns[name] = rx
        return rx

    def __getattr__(self, name: str) -> Any:  # only for what the slots do not hold: match, search...
        return getattr(self.compiled, name)

    def __repr__(self) -> str:
        return f"LazyPattern({self.pattern!r}{f', {self.flags!r}' if self.flags else ''})"


def lazy_patterns(namespace: dict[str, Any]) -> dict[str, LazyPattern]:
    """The names of `namespace` (a module's globals) that still hold a pattern not yet compiled."""
    return {k: v for k, v in namespace.items() if type(v) is LazyPattern}
