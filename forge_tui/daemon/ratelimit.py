"""The gate's circuit breaker: at most `max_per_minute` requests per key in any 60-second window.

Moved out of the policy engine (the policy only says the number). The key is what the caller counts
by; the daemon should count by peer, not by a session string the client chooses (issue 7).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class RateLimiter:
    WINDOW_S = 60.0
    MAX_KEYS = 10_000

    def __init__(self, max_per_minute: int | None, clock: Callable[[], float] = time.monotonic) -> None:
        self._max = max_per_minute
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}

    def allow(self, key: str) -> bool:
        """Count one request for `key`; False (and not counted) when over the limit."""
        if self._max is None:
            return True
        now = self._clock()
        if len(self._hits) > self.MAX_KEYS:  # forget idle keys so a flood of new keys cannot grow memory
            self._hits = {s: q for s, q in self._hits.items() if q and now - q[-1] < self.WINDOW_S}
        hits = self._hits.setdefault(key, deque())
        while hits and now - hits[0] >= self.WINDOW_S:
            hits.popleft()
        if len(hits) >= self._max:
            return False
        hits.append(now)
        return True
