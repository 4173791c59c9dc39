"""Group commit of send outcomes, made durable only when someone needs them to be.

A worker adds its outcome and goes on to its next message at once; once the
server has taken that message's envelope, and before its data goes out (the
server cannot accept a message before its data ends), it awaits the previous
outcome's durability. So each connection has at most one accepted-but-
unrecorded message at any moment, which bounds what a `kill -9` can repeat to
the pool size.

A commit is made once every connection has an outcome waiting, or when a worker
has waited `patience` for the rest: one transaction per pool-size messages. With
the next envelope riding behind each message's data, workers reach their gate
straight after their reply; committing at the first gate's request would write
two outcomes at a time. The commit runs on the loop's own thread: it takes tens
of microseconds, where handing it to a worker thread cost more than the commit
itself (the two threads fought over the GIL at every message).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import NamedTuple

from newsletter.errors import DeliveryError
from newsletter.store.ledger import Claimed, Outcome


class Recorder:
    """Collects outcomes; commits them once `group` wait, or `patience` after one is needed."""

    def __init__(
        self, commit: Callable[[list[Recorded]], None], group: int, patience: float = 0.001
    ) -> None:
        self._commit = commit
        self._group = group
        self._patience = patience
        self._items: list[Recorded] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._scheduled = False
        self._timer: asyncio.TimerHandle | None = None

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
        if not waiter.done() and not self._scheduled and self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self._patience, self._schedule)
        await waiter

    def flush(self) -> None:
        """Commit everything queued so far, now."""
        self._scheduled = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
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


class Recorded(NamedTuple):
    """An outcome with the row it is for and the error behind it, if any."""

    claimed: Claimed
    outcome: Outcome
    error: DeliveryError | None = None
