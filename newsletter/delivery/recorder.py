"""Group commit of send outcomes: each worker waits until its outcome is durable.

Waiting bounds what a `kill -9` can repeat to one accepted-but-unrecorded
message per connection; grouping keeps that wait to one transaction for
however many outcomes arrived meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from newsletter.errors import DeliveryError
from newsletter.store.ledger import Claimed, Outcome


class Recorder:
    """Commits outcomes in groups; `add` returns once the caller's outcome is durable.

    Whoever finds the lock free commits everything queued so far; callers whose
    outcome went into that commit return without a transaction of their own.
    """

    def __init__(self, commit: Callable[[list[Recorded]], None]) -> None:
        self._commit = commit
        self._items: list[Recorded] = []
        self._lock = asyncio.Lock()
        self._generation = 0
        self._committed = 0

    async def add(self, item: Recorded) -> None:
        self._items.append(item)
        mine = self._generation
        async with self._lock:
            if self._committed > mine:
                return
            batch, self._items = self._items, []
            self._generation += 1
            await asyncio.to_thread(self._commit, batch)
            self._committed = self._generation


@dataclass(frozen=True, slots=True)
class Recorded:
    """An outcome with the row it is for and the error behind it, if any."""

    claimed: Claimed
    outcome: Outcome
    error: DeliveryError | None = None
