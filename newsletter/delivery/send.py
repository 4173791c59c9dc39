"""Sending an issue: the ledger loop, retries, pause/resume/cancel, and the summary.

A worker per pooled connection takes claimed ledger rows from a shared batch
(each claim is a lease; the worker that finds the batch empty claims the next),
and one recorder commits outcomes in groups. A message's data goes out only
once the same worker's previous outcome is committed, so a `kill -9` can repeat
at most one accepted-but-unrecorded message per connection; everything else is
either recorded or still leased and is picked up again when the lease runs out.
4xx and lost connections defer with exponential backoff and jitter, 5xx fails,
"no such user" also marks the subscriber bounced, and too many errors in a row
pause the issue.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import multiprocessing
import random
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from newsletter import app as app_module
from newsletter import compose
from newsletter.app import App
from newsletter.config import Settings
from newsletter.delivery.message import IssueMessages
from newsletter.delivery.recorder import Recorded, Recorder
from newsletter.delivery.smtp import Messenger
from newsletter.errors import DeliveryError, InputError, PermanentDeliveryError
from newsletter.models import (
    DeliveryStatus,
    Issue,
    IssueStatus,
    OutgoingMessage,
    SubscriberStatus,
)
from newsletter.store import Connection, issues, ledger
from newsletter.store import subscribers as subscriber_store
from newsletter.store.ledger import Claimed, Outcome
from newsletter.tokens import address_hash

log = logging.getLogger(__name__)
UNKNOWN_USER_CODES = (550, 551, 553)
MAX_BACKOFF = 24 * 3600.0
POLL = 0.5  # seconds between looks at rows other senders hold
PENDING = (DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.DEFERRED)


@dataclass
class Summary:
    """What one run did; `state` says why it stopped (finished, waiting, paused, cancelled)."""

    issue_id: int
    total: int = 0
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    skipped: int = 0
    bounced: int = 0
    bytes: int = 0
    state: str = "finished"
    note: str = ""
    remaining: dict[str, int] = field(default_factory=dict)

    @property
    def done(self) -> int:
        return self.sent + self.deferred + self.failed + self.skipped


Progress = Callable[[Summary], None]


def _no_progress(_summary: Summary) -> None:
    return None


def backoff(attempts: int, base: float, rng: random.Random) -> float:
    """Seconds before the next try: base·2^(n-1), ±50 % jitter so retries do not stampede."""
    return min(MAX_BACKOFF, base * 2 ** max(0, attempts - 1)) * rng.uniform(0.5, 1.5)


def is_unknown_user(error: DeliveryError) -> bool:
    """550/551/553 means no such mailbox, unless an enhanced code says it is about policy."""
    if error.code not in UNKNOWN_USER_CODES:
        return False
    text = error.message.split(" ", 2)
    enhanced = text[1] if len(text) > 1 and text[1][:2] == "5." else ""
    return not enhanced or enhanced.startswith("5.1.")


class Run:
    """One sending run of one issue over one pool of connections.

    Every database step runs on the event loop's thread over one held connection:
    each is a short indexed statement over a batch, cheaper than a hand-off to
    a thread. Workers share one deque of claimed rows; the worker that finds it
    empty claims the next batch before any other can look.
    """

    def __init__(self, app: App, issue: Issue, progress: Progress, *, seed: int | None = None):
        self.app = app
        self.issue = issue
        self.smtp = app.settings.smtp
        self.messages = IssueMessages(app, issue)
        self.progress = progress
        self.rng = random.Random(seed)
        self.summary = Summary(issue.id)
        self.recorder = Recorder(self._commit, group=self.smtp.pool_size)  # one per connection
        self.stopping = ""
        self.errors_in_row = 0
        self.rows: deque[Claimed] = deque()
        self.held: set[int] = set()  # claimed here, outcome not yet recorded
        self.idle = asyncio.Event()
        self.suppressed: set[int] = set()
        self.conn: Connection | None = None
        self.look_again = 0.0  # loop time of the next look at the issue's status
        pool = self.smtp.pool_size
        self.batch = max(pool, min(1000, pool * 100))  # a claim costs per batch more than per row
        if self.smtp.rate_per_second > 0:
            paced = int(self.smtp.rate_per_second * self.smtp.lease_seconds / 2)
            self.batch = max(1, min(self.batch, paced))

    async def run(self, messenger: Messenger) -> Summary:
        with self.app.engine.connect() as conn:
            self.conn = conn
            workers = [
                asyncio.create_task(self._worker(messenger)) for _ in range(self.smtp.pool_size)
            ]
            heartbeat = asyncio.create_task(self._renew_leases())
            try:
                await asyncio.gather(*workers)  # a worker that fails ends the run with its error
            finally:
                for task in [*workers, heartbeat]:
                    task.cancel()
            self._finish()
        return self.summary

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        """One transaction on the run's connection."""
        assert self.conn is not None, "only while running"
        with self.conn.begin():
            yield self.conn

    async def _next(self) -> Claimed | None:
        """The next row to work on; None once nothing is left that this run should wait for."""
        loop = asyncio.get_running_loop()
        waiting_since: float | None = None
        while True:
            self._look()
            if self.rows:
                return self.rows.popleft()
            if self.stopping:
                return None
            if self._claim():
                waiting_since = None
                continue
            if self.held:  # rows in flight here may come back deferred
                self.idle.clear()
                self.recorder.flush()  # outcomes waiting for a commit keep rows held
                await self.idle.wait()
                continue
            waiting_since = waiting_since or loop.time()
            delay = self._until_due()
            if delay is None or loop.time() - waiting_since + delay > self.smtp.lease_seconds:
                return None
            await asyncio.sleep(min(max(0.05, delay), POLL))  # others may finish sooner

    def _claim(self) -> bool:
        """Claim the next batch; False when none is due or the issue was paused or cancelled."""
        now = self.app.clock()
        with self._begin() as conn:
            if not self._still_sending(conn):
                return False
            lease = now + timedelta(seconds=self.smtp.lease_seconds)
            claimed = ledger.claim(conn, self.issue.id, now, lease, self.batch)
            hashes = {address_hash(row.email): row.delivery_id for row in claimed}
            found = subscriber_store.suppressed_hashes(conn, list(hashes)) if hashes else set()
        self.suppressed.update(hashes[h] for h in found)
        self.held.update(row.delivery_id for row in claimed)
        self.rows.extend(claimed)
        return bool(claimed)

    def _look(self) -> None:
        """A batch lasts seconds: look at the issue's status often enough to notice a pause."""
        if asyncio.get_running_loop().time() >= self.look_again:
            with self._begin() as conn:
                self._still_sending(conn)

    def _still_sending(self, conn: Connection) -> bool:
        """Whether the issue is still being sent; a pause or cancel elsewhere stops this run."""
        self.look_again = asyncio.get_running_loop().time() + POLL
        status = ledger.issue_status(conn, self.issue.id)
        if status is not IssueStatus.SENDING and status is not IssueStatus.SENT:
            self.stopping = str(status)
        return status is IssueStatus.SENDING  # SENT: another sender finished the last rows

    async def _renew_leases(self) -> None:
        """Keep the leases of rows still waiting here alive, so no other sender takes them."""
        while True:
            await asyncio.sleep(self.smtp.lease_seconds / 3)
            if self.held:
                until = self.app.clock() + timedelta(seconds=self.smtp.lease_seconds)
                with self._begin() as conn:
                    ledger.renew(conn, list(self.held), until)

    def _until_due(self) -> float | None:
        """Seconds until a row held by nobody alive (lease ended) or a retry is due."""
        with self._begin() as conn:
            due = ledger.next_due(conn, self.issue.id)
        return None if due is None else (due - self.app.clock()).total_seconds()

    async def _worker(self, messenger: Messenger) -> None:
        """Send rows one after another; each message's data waits for the previous outcome
        to be durable (see recorder.py), so one commit serves the whole pool. The next
        row is taken before the current message's data goes out, so its envelope can
        ride behind that data."""
        previous: asyncio.Future[None] | None = None
        job = self._job(await self._next())
        while job is not None:
            row, message = job
            upcoming = None
            if isinstance(message, str) or self.stopping:
                item = self._unsent(row, message if isinstance(message, str) else "")
                if not isinstance(message, str):
                    messenger.forget(message)  # its envelope may have been announced
            else:
                upcoming = self._job_now()
                then = upcoming[1] if upcoming is not None else None
                sendable = then if isinstance(then, OutgoingMessage) else None
                item = await self._attempt(row, message, messenger, previous, sendable)
            previous = self.recorder.add(item)
            previous.add_done_callback(functools.partial(self._recorded, item))
            if item.outcome.status is not DeliveryStatus.SENT:  # counted before the next try,
                await self.recorder.durable(previous)  # so a run of errors pauses in time
            job = upcoming if upcoming is not None else self._job(await self._next())
        if previous is not None:
            await self.recorder.durable(previous)

    def _job(self, row: Claimed | None) -> tuple[Claimed, OutgoingMessage | str] | None:
        return None if row is None else (row, self._message(row))

    def _job_now(self) -> tuple[Claimed, OutgoingMessage | str] | None:
        """The next row and its message if one is ready without waiting (None otherwise)."""
        self._look()
        if self.stopping or not (self.rows or self._claim()):
            return None
        return self._job(self.rows.popleft())

    def _message(self, row: Claimed) -> OutgoingMessage | str:
        """The row's message, or why it gets none (unsubscribed, suppressed, unusable)."""
        if row.delivery_id in self.suppressed:
            return "skipped: suppressed"
        if row.subscriber_status != SubscriberStatus.ACTIVE:
            return f"skipped: {row.subscriber_status}"
        try:
            return self.messages.build(row.subscriber_id, row.email, row.name, self.app.clock())
        except InputError as error:  # a stored address the wire cannot carry: this row only
            return f"not sendable: {error}"

    def _unsent(self, row: Claimed, reason: str) -> Recorded:
        """A row not sent: back to the queue when the run stops, else failed with its reason."""
        if self.stopping:
            return Recorded(row, Outcome(row.delivery_id, DeliveryStatus.QUEUED, release=True))
        return Recorded(row, Outcome(row.delivery_id, DeliveryStatus.FAILED, reason))

    def _recorded(self, item: Recorded, durable: asyncio.Future[None]) -> None:
        if durable.cancelled() or durable.exception():
            return
        self.held.discard(item.claimed.delivery_id)
        if not self.held:
            self.idle.set()
        self._count(item)

    async def _attempt(
        self,
        row: Claimed,
        message: OutgoingMessage,
        messenger: Messenger,
        previous: asyncio.Future[None] | None,
        then: OutgoingMessage | None,
    ) -> Recorded:
        self.summary.bytes += len(message.data)
        gate = None if previous is None else functools.partial(self.recorder.durable, previous)
        try:
            reply = await messenger.send(message, gate, then)
        except PermanentDeliveryError as error:
            return Recorded(row, Outcome(row.delivery_id, DeliveryStatus.FAILED, str(error)), error)
        except DeliveryError as error:
            if row.attempts >= self.smtp.max_attempts:
                reason = f"gave up after {row.attempts} attempts: {error}"
                return Recorded(row, Outcome(row.delivery_id, DeliveryStatus.FAILED, reason), error)
            wait = backoff(row.attempts, self.smtp.retry_base_seconds, self.rng)
            later = self.app.clock() + timedelta(seconds=wait)
            outcome = Outcome(row.delivery_id, DeliveryStatus.DEFERRED, str(error), "", later)
            return Recorded(row, outcome, error)
        return Recorded(
            row, Outcome(row.delivery_id, DeliveryStatus.SENT, reply, message.message_id)
        )

    def _count(self, item: Recorded) -> None:
        """Tally a durable outcome; too many errors in a row pause the issue."""
        outcome = item.outcome
        if outcome.release:
            return
        if outcome.reply.startswith("skipped: "):
            self.summary.skipped += 1
        elif outcome.status is DeliveryStatus.SENT:
            self.summary.sent += 1
            self.errors_in_row = 0
        else:
            setattr(self.summary, outcome.status, getattr(self.summary, outcome.status) + 1)
            self.errors_in_row += 1
            log.info("%s %s: %s", outcome.status, item.claimed.email, outcome.reply)
            if self.errors_in_row >= self.smtp.errors_before_pause and not self.stopping:
                self.stopping = str(IssueStatus.PAUSED)
                self.summary.note = f"{self.errors_in_row} errors in a row, last: {outcome.reply}"
        self.progress(self.summary)

    def _commit(self, items: list[Recorded]) -> None:
        now = self.app.clock()
        with self._begin() as conn:
            ledger.record(conn, [item.outcome for item in items], now)
            for item in items:
                error = item.error
                if isinstance(error, PermanentDeliveryError) and is_unknown_user(error):
                    self._bounced(conn, item.claimed, error, now)

    def _bounced(self, conn: Any, row: Claimed, error: DeliveryError, now: datetime) -> None:
        """No such mailbox: the subscriber is bounced, so no later issue tries again."""
        subscriber_store.move_status(
            conn, row.subscriber_id, SubscriberStatus.BOUNCED, [SubscriberStatus.ACTIVE], now
        )
        ledger.add_bounce(
            conn,
            subscriber_id=row.subscriber_id,
            delivery_id=row.delivery_id,
            kind="hard",
            status_code=str(error.code),
            diagnostic=error.message,
            now=now,
        )
        self.summary.bounced += 1

    def _finish(self) -> None:
        """Close the issue when no row is left to send; pause it when errors piled up."""
        now = self.app.clock()
        with self._begin() as conn:
            counts = ledger.counts(conn, self.issue.id)
            left = sum(counts[s] for s in PENDING)
            if self.stopping == IssueStatus.PAUSED:
                issues.set_status(
                    conn, self.issue.id, [IssueStatus.SENDING], IssueStatus.PAUSED, now
                )
            elif not left and not self.stopping:
                issues.set_status(conn, self.issue.id, [IssueStatus.SENDING], IssueStatus.SENT, now)
        self.summary.remaining = dict(counts)
        self.summary.state = self.stopping or ("waiting" if left else "finished")


def _queue(app: App, conn: Any, issue: Issue, now: datetime) -> None:
    """Queue the audience of this issue: members whose preferences pick its variant."""
    if not issue.variant:
        ledger.queue(conn, issue.id, now)
    spec = app.settings.list_named(issue.list_name)
    chosen = (
        subscriber_id
        for subscriber_id, preferences in ledger.members_with_preferences(conn, issue.id)
        if compose.variant_key(spec, preferences) == issue.variant
    )
    while chunk := list(itertools.islice(chosen, 1000)):
        ledger.queue_subscribers(conn, issue.id, chunk, now)


def _begin(app: App, issue_id: int, retry_failed: bool) -> tuple[Issue, int]:
    """Move the issue to sending and queue its audience once; (issue, rows to send)."""
    now = app.clock()
    with app.engine.begin() as conn:
        issue = issues.get(conn, issue_id)
        if issue.status is IssueStatus.CANCELLED:
            raise InputError(f"issue {issue_id} was cancelled", where="send")
        if issue.status is IssueStatus.PAUSED:
            raise InputError(
                f"issue {issue_id} is paused", hint=f"newsletter send {issue_id} --resume"
            )
        if retry_failed:
            ledger.requeue_failed(conn, issue_id, now)
            issues.set_status(conn, issue_id, [IssueStatus.SENT], IssueStatus.SENDING, now)
        if issue.status in (IssueStatus.DRAFT, IssueStatus.APPROVED):
            issues.set_status(conn, issue_id, [issue.status], IssueStatus.SENDING, now)
            _queue(app, conn, issue, now)
        counts = ledger.counts(conn, issue_id)
    return issue, sum(counts[s] for s in PENDING)


def send_issue(
    app: App,
    issue_id: int,
    *,
    retry_failed: bool = False,
    progress: Progress = _no_progress,
    seed: int | None = None,
) -> Summary:
    """Send an issue to every active subscriber of its list who has not had it yet.

    Safe to run again at any time (after a crash, a pause, or in parallel on
    PostgreSQL): the ledger makes each (issue, subscriber) go out once.
    """
    issue, total = _begin(app, issue_id, retry_failed)
    run = Run(app, issue, progress, seed=seed)
    run.summary.total = total
    if not total:
        run.summary.state = "finished" if issue.status is IssueStatus.SENT else "empty"
        return run.summary
    helpers = app.settings.smtp.processes - 1
    if not helpers:
        return _drive(app, run)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(helpers, mp_context=context) as pool:
        others = [pool.submit(send_in_helper, app.settings, issue_id) for _ in range(helpers)]
        summary = _drive(app, run)
        for other in others:
            _merge(summary, other.result())
    return summary


def _drive(app: App, run: Run) -> Summary:
    async def main() -> Summary:
        async with Messenger(app.settings.smtp) as messenger:
            return await run.run(messenger)

    return asyncio.run(main())


def send_in_helper(settings: Settings, issue_id: int) -> Summary:
    """A helper process of `send_issue`: same issue, same ledger, its own pool and CPU."""
    app = app_module.build(settings)
    try:
        with app.engine.connect() as conn:
            issue = issues.get(conn, issue_id)
        return _drive(app, Run(app, issue, _no_progress))
    finally:
        app.close()


def _merge(summary: Summary, other: Summary) -> None:
    for name in ("sent", "deferred", "failed", "skipped", "bounced", "bytes"):
        setattr(summary, name, getattr(summary, name) + getattr(other, name))
    if other.state == IssueStatus.PAUSED and summary.state != IssueStatus.PAUSED:
        summary.state, summary.note = other.state, other.note
