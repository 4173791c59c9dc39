"""The delivery ledger: one row per (issue, subscriber) and the guarded moves between states.

queued → sending (claimed with a lease) → sent / deferred (next attempt) / failed.
A claim is one UPDATE … RETURNING over a bounded batch (with SKIP LOCKED on
PostgreSQL), so any number of senders share an issue without sending a row twice,
and a sender that dies leaves rows whose lease simply runs out. Every query
touches a batch, never the whole audience, so memory stays flat at any size.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    Connection,
    Dialect,
    Text,
    and_,
    bindparam,
    cast,
    exists,
    func,
    insert,
    literal,
    null,
    select,
    update,
)

from newsletter.models import DeliveryStatus, IssueStatus, Preferences, SubscriberStatus
from newsletter.store.schema import (
    UTC_TIME,
    UTCDateTime,
    bounces,
    deliveries,
    issues,
    memberships,
    subscribers,
)
from newsletter.store.subscribers import preferences_from_row as parse_preferences

D = deliveries.c
NO_PREFERENCES = ("{}", "null")  # JSON text of a subscriber who chose nothing


class Claimed(NamedTuple):
    """A ledger row this sender now holds, with what addressing it needs.

    Records a send makes per message are NamedTuples: immutable, and made several
    times faster than frozen dataclasses.
    """

    delivery_id: int
    subscriber_id: int
    email: str
    name: str
    subscriber_status: str
    attempts: int


class Outcome(NamedTuple):
    """What happened to one claimed row; `status` is where it moves."""

    delivery_id: int
    status: DeliveryStatus
    reply: str = ""
    message_id: str = ""
    next_attempt_at: datetime | None = None
    release: bool = False


# Queue the active members of the issue's list who chose no preferences (the list's own issue).
def queue(conn: Connection, issue_id: int, now: datetime) -> int:
    members = (
        select(
            literal(issue_id),
            memberships.c.subscriber_id,
            literal(str(DeliveryStatus.QUEUED)),
            literal(0),
            literal(now, deliveries.c.updated_at.type),
        )
        .join(issues, issues.c.list_id == memberships.c.list_id)
        .join(subscribers, subscribers.c.id == memberships.c.subscriber_id)
        .where(issues.c.id == issue_id, subscribers.c.status == SubscriberStatus.ACTIVE)
        .where(cast(subscribers.c.preferences, Text).in_(NO_PREFERENCES))
        .where(
            ~exists().where(
                and_(D.issue_id == issue_id, D.subscriber_id == memberships.c.subscriber_id)
            )
        )
    )
    columns = ["issue_id", "subscriber_id", "status", "attempts", "updated_at"]
    rows = insert(deliveries).from_select(columns, members)
    # on psycopg, SQLAlchemy reports an INSERT's rowcount as -1 unless asked to keep it
    return conn.execute(rows.execution_options(preserve_rowcount=True)).rowcount


# The active members of the issue's list who chose preferences, streamed: (id, preferences).
def members_with_preferences(
    conn: Connection, issue_id: int, batch: int = 1000
) -> Iterator[tuple[int, Preferences]]:
    query = (
        select(subscribers.c.id, subscribers.c.preferences)
        .join(memberships, memberships.c.subscriber_id == subscribers.c.id)
        .join(issues, issues.c.list_id == memberships.c.list_id)
        .where(issues.c.id == issue_id, subscribers.c.status == SubscriberStatus.ACTIVE)
        .where(cast(subscribers.c.preferences, Text).not_in(NO_PREFERENCES))
        .order_by(subscribers.c.id)
    )
    for row in conn.execution_options(yield_per=batch).execute(query):
        yield row.id, parse_preferences(row.preferences)


# Queue these subscribers for an issue, skipping any that already have a row; returns rows added.
def queue_subscribers(
    conn: Connection, issue_id: int, subscriber_ids: Sequence[int], now: datetime
) -> int:
    if not subscriber_ids:
        return 0
    have = select(D.subscriber_id).where(
        D.issue_id == issue_id, D.subscriber_id.in_(subscriber_ids)
    )
    known = set(conn.execute(have).scalars())
    rows = [
        {
            "issue_id": issue_id,
            "subscriber_id": i,
            "status": DeliveryStatus.QUEUED,
            "attempts": 0,
            "updated_at": now,
        }
        for i in subscriber_ids
        if i not in known
    ]
    if rows:
        conn.execute(insert(deliveries), rows)
    return len(rows)


def _due(status: DeliveryStatus, now: datetime) -> Any:
    if status is DeliveryStatus.SENDING:  # a lease that ran out: its sender died
        return and_(D.status == status, D.lease_until <= now)
    if status is DeliveryStatus.DEFERRED:
        return and_(D.status == status, D.next_attempt_at <= now)
    return D.status == status


def _of_subscriber(column: Any) -> Any:
    """One column of the row's subscriber, for RETURNING (a subquery: RETURNING cannot join)."""
    return select(column).where(subscribers.c.id == D.subscriber_id).scalar_subquery()


# Take up to `limit` due rows of an issue (expired leases, due retries, then queued).
def claim(
    conn: Connection, issue_id: int, now: datetime, lease_until: datetime, limit: int
) -> list[Claimed]:
    """One UPDATE … RETURNING per state, each row with its subscriber's address: a claim
    costs a statement per batch, not per row."""
    rows: list[Any] = []
    for status in (DeliveryStatus.SENDING, DeliveryStatus.DEFERRED, DeliveryStatus.QUEUED):
        if len(rows) >= limit:
            break
        due = and_(D.issue_id == issue_id, _due(status, now))
        pick = select(D.id).where(due).limit(limit - len(rows))
        if conn.dialect.name == "postgresql":
            # A materialized CTE runs once. As a plain IN subquery the planner may rescan
            # it per row (a nested loop), each rescan skipping the rows this UPDATE already
            # took, so the claim took every due row of the issue instead of `limit`.
            locked = pick.with_for_update(skip_locked=True).cte().prefix_with("MATERIALIZED")
            pick = select(locked.c.id)
        taken = conn.execute(
            update(deliveries)
            .where(D.id.in_(pick.scalar_subquery()), due)
            .values(
                status=DeliveryStatus.SENDING,
                lease_until=lease_until,
                attempts=D.attempts + 1,
                updated_at=now,
            )
            .returning(
                D.id,
                D.subscriber_id,
                _of_subscriber(subscribers.c.email),
                _of_subscriber(subscribers.c.name),
                _of_subscriber(subscribers.c.status),
                D.attempts,
            )
        )
        rows.extend(taken)
    return sorted((Claimed(*row) for row in rows), key=lambda row: row.delivery_id)


# Extend the lease of rows a live sender still holds.
def renew(conn: Connection, ids: Sequence[int], lease_until: datetime) -> None:
    conn.execute(
        update(deliveries)
        .where(D.id.in_(ids), D.status == DeliveryStatus.SENDING)
        .values(lease_until=lease_until)
    )


# Moves one claimed row to its outcome; a send runs it every few messages.
_RECORD = (
    update(deliveries)
    .where(D.id == bindparam("did"), D.status == DeliveryStatus.SENDING)
    .values(
        status=bindparam("new_status"),
        reply=bindparam("new_reply"),
        message_id=bindparam("mid"),
        next_attempt_at=bindparam("next_at"),
        sent_at=bindparam("sent"),
        lease_until=null(),
        updated_at=bindparam("now"),
    )
)


@dataclass(frozen=True, slots=True)
class _DriverStatement:
    """A statement compiled once for a dialect, run with the driver's own executemany.

    Recording outcomes is the one statement a send runs per few messages; SQLAlchemy's
    per-row parameter handling cost more than the database's own work.
    """

    sql: str
    defaults: dict[str, Any]
    order: tuple[str, ...] | None  # positional drivers (sqlite3); None: by name (psycopg)
    times: tuple[str, ...]  # parameters bound to UTC_TIME columns
    time: Callable[[datetime | None], Any]  # the column type's own conversion, as Core does

    @classmethod
    @functools.cache
    def compile(cls, statement: Any, dialect: Dialect) -> _DriverStatement:
        compiled = statement.compile(dialect=dialect)
        processor = UTC_TIME.dialect_impl(dialect).bind_processor(dialect)
        order = tuple(compiled.positiontup) if compiled.positiontup else None
        times = tuple(
            name for name in compiled.params if isinstance(compiled.binds[name].type, UTCDateTime)
        )
        return cls(compiled.string, dict(compiled.params), order, times, processor)

    def run(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
        converted: dict[datetime | None, Any] = {}  # a group shares one "now": convert it once
        params = []
        for row in rows:
            values = self.defaults | row
            for name in self.times:
                time = values[name]
                if time not in converted:
                    converted[time] = self.time(time)
                values[name] = converted[time]
            params.append(tuple(values[n] for n in self.order) if self.order else values)
        conn.exec_driver_sql(self.sql, params)


# Record what happened to claimed rows; only rows still in `sending` move.
def record(conn: Connection, outcomes: Sequence[Outcome], now: datetime) -> None:
    done = [_params(o, now) for o in outcomes if not o.release]
    if done:
        _DriverStatement.compile(_RECORD, conn.dialect).run(conn, done)
    released = [o.delivery_id for o in outcomes if o.release]
    if released:
        conn.execute(
            update(deliveries)
            .where(D.id.in_(released), D.status == DeliveryStatus.SENDING)
            .values(status=DeliveryStatus.QUEUED, attempts=D.attempts - 1, lease_until=None)
        )


def _params(outcome: Outcome, now: datetime) -> dict[str, Any]:
    return {
        "did": outcome.delivery_id,
        "new_status": str(outcome.status),
        "new_reply": outcome.reply[:1000],
        "mid": outcome.message_id or None,
        "next_at": outcome.next_attempt_at,
        "sent": now if outcome.status is DeliveryStatus.SENT else None,
        "now": now,
    }


# Put the deferred and failed rows of an issue back in the queue (active subscribers only).
def requeue_failed(conn: Connection, issue_id: int, now: datetime) -> int:
    active = select(subscribers.c.id).where(subscribers.c.status == SubscriberStatus.ACTIVE)
    query = (
        update(deliveries)
        .where(
            D.issue_id == issue_id,
            D.status.in_([DeliveryStatus.DEFERRED, DeliveryStatus.FAILED]),
            D.subscriber_id.in_(active),
        )
        .values(status=DeliveryStatus.QUEUED, attempts=0, next_attempt_at=None, updated_at=now)
    )
    return conn.execute(query).rowcount


# How many rows of an issue are in each state.
def counts(conn: Connection, issue_id: int) -> Counter[str]:
    rows = conn.execute(
        select(D.status, func.count()).where(D.issue_id == issue_id).group_by(D.status)
    )
    return Counter({row[0]: int(row[1]) for row in rows})


# When the next row of an issue that is not due yet becomes due (lease end or retry time).
def next_due(conn: Connection, issue_id: int) -> datetime | None:
    leases = select(func.min(D.lease_until)).where(
        D.issue_id == issue_id, D.status == DeliveryStatus.SENDING
    )
    retries = select(func.min(D.next_attempt_at)).where(
        D.issue_id == issue_id, D.status == DeliveryStatus.DEFERRED
    )
    found = [conn.execute(leases).scalar(), conn.execute(retries).scalar()]
    times = [deliveries.c.lease_until.type.process_result_value(t, None) for t in found if t]
    return min(times) if times else None


# The active members of the issue's list with their preferences, streamed (a dry run's audience).
def audience(
    conn: Connection, issue_id: int, batch: int = 1000
) -> Iterator[tuple[Claimed, Preferences]]:
    query = (
        select(subscribers.c.id, subscribers.c.email, subscribers.c.name, subscribers.c.status)
        .add_columns(subscribers.c.preferences)
        .join(memberships, memberships.c.subscriber_id == subscribers.c.id)
        .join(issues, issues.c.list_id == memberships.c.list_id)
        .where(issues.c.id == issue_id, subscribers.c.status == SubscriberStatus.ACTIVE)
        .order_by(subscribers.c.id)
    )
    for row in conn.execution_options(yield_per=batch).execute(query):
        claimed = Claimed(0, row.id, row.email, row.name, row.status, 0)
        yield claimed, parse_preferences(row.preferences)


# A bounce (at SMTP time or from a DSN), kept with the delivery it answers.
def add_bounce(
    conn: Connection,
    *,
    subscriber_id: int | None,
    delivery_id: int | None,
    kind: str,
    status_code: str,
    diagnostic: str,
    now: datetime,
) -> None:
    conn.execute(
        insert(bounces).values(
            subscriber_id=subscriber_id,
            delivery_id=delivery_id,
            kind=kind,
            status_code=status_code[:16],
            diagnostic=diagnostic[:1000],
            received_at=now,
        )
    )


# Count one soft bounce for a subscriber; returns their count after it.
def add_soft_bounce(conn: Connection, subscriber_id: int) -> int:
    conn.execute(
        update(subscribers)
        .where(subscribers.c.id == subscriber_id)
        .values(soft_bounces=subscribers.c.soft_bounces + 1)
    )
    query = select(subscribers.c.soft_bounces).where(subscribers.c.id == subscriber_id)
    return int(conn.execute(query).scalar() or 0)


# An issue's state alone (a running send checks it before each claim).
def issue_status(conn: Connection, issue_id: int) -> IssueStatus:
    return IssueStatus(
        conn.execute(select(issues.c.status).where(issues.c.id == issue_id)).scalar()
    )


# The ledger row of (issue, subscriber), if any: its id.
def delivery_of(conn: Connection, issue_id: int, subscriber_id: int) -> int | None:
    query = select(D.id).where(D.issue_id == issue_id, D.subscriber_id == subscriber_id)
    found = conn.execute(query).scalar()
    return int(found) if found is not None else None
