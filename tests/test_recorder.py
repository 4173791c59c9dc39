"""Group commit and the gate before a message's final data: what bounds a crash's repeats."""

from __future__ import annotations

import asyncio

import pytest
from smtp_servers import counting
from test_smtp import message, settings

from newsletter.delivery.recorder import Recorded, Recorder
from newsletter.delivery.smtp import Messenger
from newsletter.models import DeliveryStatus
from newsletter.store.ledger import Claimed, Outcome


def item(n: int) -> Recorded:
    row = Claimed(n, n, f"r{n}@example.com", "", "active", 1)
    return Recorded(row, Outcome(n, DeliveryStatus.SENT, "250 ok"))


def test_a_commit_waits_for_one_outcome_per_connection_or_for_its_patience():
    commits: list[list[int]] = []

    def record(items: list[Recorded]) -> None:
        commits.append([i.claimed.delivery_id for i in items])

    async def main() -> None:
        recorder = Recorder(record, group=3, patience=0.05)
        first, second = recorder.add(item(1)), recorder.add(item(2))
        await asyncio.sleep(0.01)
        assert not first.done() and commits == []  # nothing is written until someone needs it
        started = asyncio.get_running_loop().time()
        await recorder.durable(first)  # the third connection never reports: patience runs out
        assert asyncio.get_running_loop().time() - started >= 0.04
        assert second.done() and commits == [[1, 2]]
        waiters = [recorder.add(item(n)) for n in (3, 4, 5)]  # a full group goes at once
        await asyncio.sleep(0)
        assert all(w.done() for w in waiters) and commits[-1] == [3, 4, 5]

    asyncio.run(main())


def test_a_failed_commit_reaches_every_waiter_in_it():
    def fail(_items: list[Recorded]) -> None:
        raise OSError("disk full")

    async def main() -> None:
        recorder = Recorder(fail, group=8)
        first, second = recorder.add(item(1)), recorder.add(item(2))
        with pytest.raises(OSError):
            await recorder.durable(first)
        assert isinstance(second.exception(), OSError)

    asyncio.run(main())


def test_the_gate_runs_before_the_server_can_accept_the_message():
    server, handler = counting()
    seen: list[int] = []

    async def gate() -> None:
        await asyncio.sleep(0.05)  # were the data already sent, the server would have it now
        seen.append(handler.total())

    async def main() -> None:
        async with Messenger(settings(server.port)) as messenger:
            await messenger.send(message(), gate)

    with server:
        asyncio.run(main())
    assert seen == [0] and handler.total() == 1


def test_a_failing_gate_leaves_the_message_unsent():
    server, handler = counting()

    async def gate() -> None:
        raise OSError("the ledger could not be written")

    async def main() -> None:
        async with Messenger(settings(server.port)) as messenger:
            with pytest.raises(OSError):
                await messenger.send(message(), gate)
            await messenger.send(message("bob@example.com"))  # the pool recovers

    with server:
        asyncio.run(main())
    assert handler.received == {"bob@example.com": 1}
