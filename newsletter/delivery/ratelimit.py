"""How fast the pool may hand messages to the relay: per second and per hour, shared by all.

Relays and providers cap both the pace and the volume; the limiter sits in front
of the whole pool (not of one connection), so N connections together keep to it.
Each limit is a sliding window (at most `count` sends in any `period` seconds),
so no burst at a window edge ever exceeds it. The clock and the sleep are
injected so tests drive it without waiting.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable

HOUR = 3600.0
EPSILON = 1e-6


class Window:
    """At most `count` events in any `period` seconds."""

    def __init__(self, count: int, period: float) -> None:
        self.count = count
        self.period = period
        self.times: deque[float] = deque()

    @classmethod
    def per_second(cls, rate: float) -> Window:
        """A rate below one a second becomes one event per 1/rate seconds."""
        return cls(round(rate), 1.0) if rate >= 1 else cls(1, 1.0 / rate)

    def delay(self, now: float) -> float:
        while self.times and self.times[0] <= now - self.period + EPSILON:  # float dust
            self.times.popleft()
        return 0.0 if len(self.times) < self.count else self.times[0] + self.period - now


class RateLimiter:
    """Messages per second and per hour across every caller; no limit when both are 0."""

    def __init__(
        self,
        per_second: float = 0.0,
        per_hour: int = 0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.windows = [Window.per_second(per_second)] if per_second > 0 else []
        if per_hour > 0:
            self.windows.append(Window(per_hour, HOUR))
        self._clock = clock
        self._sleep = sleep
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        """Return when one message may be sent, and count it as sent."""
        if not self.windows:
            return
        async with self._lock:
            while (delay := max(w.delay(self._clock()) for w in self.windows)) > 0:
                await self._sleep(delay)
            now = self._clock()
            for window in self.windows:
                window.times.append(now)
