"""How fast the pool may hand messages to the relay: per second and per hour, shared by all.

Relays and providers cap both the burst and the volume; the limiter sits in front
of the whole pool (not of one connection), so N connections together keep to it.
The clock and the sleep are injected so tests can drive it without waiting.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable

HOUR = 3600.0


class RateLimiter:
    """A token bucket for the per-second rate and a sliding one-hour window for the volume."""

    def __init__(
        self,
        per_second: float = 0.0,
        per_hour: int = 0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.per_second = per_second
        self.per_hour = per_hour
        self._clock = clock
        self._sleep = sleep
        self._tokens = max(1.0, per_second)
        self._filled_at = clock()
        self._sent: deque[float] = deque()
        self._lock = asyncio.Lock()

    @property
    def limited(self) -> bool:
        return self.per_second > 0 or self.per_hour > 0

    def _delay(self, now: float) -> float:
        """Seconds until one more message may go, 0 when it may go now."""
        delay = 0.0
        if self.per_second > 0:
            capacity = max(1.0, self.per_second)
            self._tokens = min(capacity, self._tokens + (now - self._filled_at) * self.per_second)
            self._filled_at = now
            if self._tokens < 1.0:
                delay = (1.0 - self._tokens) / self.per_second
        if self.per_hour > 0:
            while self._sent and self._sent[0] <= now - HOUR:
                self._sent.popleft()
            if len(self._sent) >= self.per_hour:
                delay = max(delay, self._sent[0] + HOUR - now)
        return delay

    async def wait(self) -> None:
        """Return when one message may be sent, and count it as sent."""
        if not self.limited:
            return
        async with self._lock:
            while (delay := self._delay(self._clock())) > 0:
                await self._sleep(delay)
            if self.per_second > 0:
                self._tokens -= 1.0
            if self.per_hour > 0:
                self._sent.append(self._clock())
