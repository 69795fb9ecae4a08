"""The policy engine's process-wide caches, in one named object: `CACHES.clear()` forgets them all.

* `guards`: built-in guards by their inputs (root, protected folders, $HOME, cwd), see `guard.Guard.get`;
* `trusted_real`: realpaths of the trusted folders (project root, .forge, data folder), one second;
* the shell parser's cache of parsed command lines (`forge_tui.core.shell`);
* the guard's shapes of shell words (`guard._word_shape`: candidates and lexical paths, no file system).
None of them holds anything an action chose: a cached guard is rebuilt when a trusted folder resolves
differently, and a path or word from an action is resolved afresh on every decision.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

TRUSTED_TTL_S = 1.0


@dataclass
class PolicyCaches:
    guards: dict[tuple, Any] = field(default_factory=dict)
    trusted_real: dict[str, tuple[float, str]] = field(default_factory=dict)
    max_guards: int = 16
    max_trusted: int = 256

    def clear(self) -> None:
        from forge_tui.core import shell
        from forge_tui.core.policy import guard

        self.guards.clear()
        self.trusted_real.clear()
        shell.clear_cache()
        guard._word_shape.cache_clear()

    def trusted_realpath(self, path: str) -> str:
        """realpath of a trusted folder, reused for one second. Only these are cached, never a path or
        word from an action: they change only by actions the built-in guard denies (or by the human)."""
        import os

        now = time.monotonic()
        hit = self.trusted_real.get(path)
        if hit is not None and now - hit[0] < TRUSTED_TTL_S:
            return hit[1]
        real = os.path.realpath(path)
        if len(self.trusted_real) > self.max_trusted:
            self.trusted_real.clear()
        self.trusted_real[path] = (now, real)
        return real


CACHES = PolicyCaches()
