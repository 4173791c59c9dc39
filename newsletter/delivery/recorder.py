"""Group commit of send outcomes, made durable only when someone needs them to be.

A worker adds its outcome and goes on to the next message at once; once the
server has taken that message's envelope, and before its data goes out (the
server cannot accept a message before its data ends), it awaits the previous
outcome's durability. So each connection has at most one accepted-but-
unrecorded message at any moment, which bounds what a `kill -9` can repeat to
the pool size, and a commit carries every outcome that arrived while the other
connections were busy (about one commit per pool-size messages). The commit
runs on the loop's own thread: it takes tens of microseconds, where handing it
to a worker thread cost more than the commit itself (the two threads fought
over the GIL at every message).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from newsletter.errors import DeliveryError
from newsletter.store.ledger import Claimed, Outcome


class Recorder:
    """Collects outcomes; commits them all when one is awaited, or when `group` are waiting."""

    def __init__(self, commit: Callable[[list[Recorded]], None], group: int = 500) -> None:
        self._commit = commit
        self._group = group
        self._items: list[Recorded] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._scheduled = False

    def add(self, item: Recorded) -> asyncio.Future[None]:
        """Queue an outcome; the future is done once it is committed."""
        waiter = asyncio.get_running_loop().create_future()
        self._items.append(item)
        self._waiters.append(waiter)
        if len(self._items) >= self._group:
            self._schedule()
        return waiter

    async def durable(self, waiter: asyncio.Future[None]) -> None:
        """Return once the outcome behind `waiter` is committed (raise if its commit failed)."""
        if not waiter.done():
            self._schedule()
        await waiter

    def flush(self) -> None:
        """Commit everything queued so far, now."""
        self._scheduled = False
        items, waiters = self._items, self._waiters
        self._items, self._waiters = [], []
        if not items:
            return
        try:
            self._commit(items)
        except Exception as exc:  # every waiter's outcome was in the failed transaction
            for waiter in waiters:
                if not waiter.done():  # a cancelled worker's is
                    waiter.set_exception(exc)
            return
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _schedule(self) -> None:
        """Commit on the next turn, so every worker that wakes in this one joins the group."""
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)


@dataclass(frozen=True, slots=True)
class Recorded:
    """An outcome with the row it is for and the error behind it, if any."""

    claimed: Claimed
    outcome: Outcome
    error: DeliveryError | None = None
