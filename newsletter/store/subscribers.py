"""Queries over subscribers, their list memberships and the suppression list.

States move only through guarded updates (`… WHERE status IN (…)`), so a
repeated or late request (a second one-click POST, an old confirmation link)
can never undo a later decision such as an unsubscribe.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Integer,
    MetaData,
    Row,
    String,
    Table,
    and_,
    delete,
    insert,
    select,
    update,
)

from newsletter.models import Cadence, Preferences, Subscriber, SubscriberStatus
from newsletter.store.schema import (
    bounces,
    deliveries,
    lists,
    memberships,
    subscribers,
    suppressions,
)

# Claims of one import run: which address keys the file has already used, and on which row.
# A temporary table keeps a million-row import's duplicate check in the database, not in RAM.
_scratch = MetaData()
import_claims = Table(
    "import_claims",
    _scratch,
    Column("email_key", String(320), primary_key=True),
    Column("row", Integer, nullable=False),
    prefixes=["TEMPORARY"],
)

SUBSCRIBER_COLUMNS = (
    subscribers.c.id,
    subscribers.c.email,
    subscribers.c.name,
    subscribers.c.status,
    subscribers.c.preferences,
    subscribers.c.created_at,
    subscribers.c.confirmed_at,
    subscribers.c.confirmed_ip,
    subscribers.c.status_changed_at,
)


def preferences_from_row(data: dict[str, Any] | None) -> Preferences:
    data = data or {}
    cadence = data.get("cadence")
    return Preferences(
        cadence=Cadence(cadence) if cadence in set(Cadence) else None,
        topics=tuple(str(topic) for topic in data.get("topics") or ()),
    )


def preferences_json(preferences: Preferences) -> dict[str, Any]:
    """The stored shape of Preferences (a JSON column)."""
    return {"cadence": preferences.cadence, "topics": list(preferences.topics)}


def _subscriber(row: Row[Any], list_names: Sequence[str]) -> Subscriber:
    return Subscriber(
        id=row.id,
        email=row.email,
        name=row.name,
        status=SubscriberStatus(row.status),
        lists=tuple(list_names),
        preferences=preferences_from_row(row.preferences),
        created_at=row.created_at,
        confirmed_at=row.confirmed_at,
        confirmed_ip=row.confirmed_ip or "",
        status_changed_at=row.status_changed_at,
    )


# The list names of each of these subscribers, sorted.
def lists_of(conn: Connection, ids: Sequence[int]) -> dict[int, list[str]]:
    query = (
        select(memberships.c.subscriber_id, lists.c.name)
        .join(lists, lists.c.id == memberships.c.list_id)
        .where(memberships.c.subscriber_id.in_(ids))
        .order_by(lists.c.name)
    )
    found: dict[int, list[str]] = {i: [] for i in ids}
    for row in conn.execute(query):
        found[row.subscriber_id].append(row.name)
    return found


# One subscriber by id, with lists.
def by_id(conn: Connection, subscriber_id: int) -> Subscriber | None:
    row = conn.execute(select(*SUBSCRIBER_COLUMNS).where(subscribers.c.id == subscriber_id)).first()
    return _subscriber(row, lists_of(conn, [row.id])[row.id]) if row else None


# One subscriber by normalised address key, with lists.
def by_key(conn: Connection, email_key: str) -> Subscriber | None:
    row = conn.execute(
        select(*SUBSCRIBER_COLUMNS).where(subscribers.c.email_key == email_key)
    ).first()
    return _subscriber(row, lists_of(conn, [row.id])[row.id]) if row else None


# Subscribers, optionally of one list and/or one status, in id order, streamed.
def stream(
    conn: Connection, list_name: str | None = None, status: SubscriberStatus | None = None
) -> Iterator[Subscriber]:
    query = select(*SUBSCRIBER_COLUMNS).order_by(subscribers.c.id)
    if list_name is not None:
        query = query.join(memberships, memberships.c.subscriber_id == subscribers.c.id).join(
            lists, and_(lists.c.id == memberships.c.list_id, lists.c.name == list_name)
        )
    if status is not None:
        query = query.where(subscribers.c.status == status)
    for rows in conn.execution_options(yield_per=500).execute(query).partitions():
        yield from _with_lists(conn, list(rows))


def _with_lists(conn: Connection, rows: list[Row[Any]]) -> Iterator[Subscriber]:
    if rows:
        names = lists_of(conn, [row.id for row in rows])
        yield from (_subscriber(row, names[row.id]) for row in rows)


# Stored subscribers under these address keys: key -> (id, status).
def existing_by_keys(conn: Connection, keys: Sequence[str]) -> dict[str, tuple[int, str]]:
    query = select(subscribers.c.email_key, subscribers.c.id, subscribers.c.status).where(
        subscribers.c.email_key.in_(keys)
    )
    return {row.email_key: (row.id, row.status) for row in conn.execute(query)}


# Which of these address hashes are on the suppression list (forgotten people).
def suppressed_hashes(conn: Connection, hashes: Sequence[str]) -> set[str]:
    query = select(suppressions.c.email_hash).where(suppressions.c.email_hash.in_(hashes))
    return set(conn.execute(query).scalars())


# Start an import run's duplicate check, clearing what a failed run left on this connection.
def begin_import_claims(conn: Connection) -> None:
    import_claims.drop(conn, checkfirst=True)
    import_claims.create(conn)


# Record the first row of each key; returns key -> earlier row for keys already claimed.
def claim_keys(conn: Connection, claims: dict[str, int]) -> dict[str, int]:
    query = select(import_claims.c.email_key, import_claims.c.row).where(
        import_claims.c.email_key.in_(list(claims))
    )
    earlier = {row.email_key: row.row for row in conn.execute(query)}
    fresh = [{"email_key": k, "row": r} for k, r in claims.items() if k not in earlier]
    if fresh:
        conn.execute(insert(import_claims), fresh)
    return earlier


# End an import run's duplicate check.
def end_import_claims(conn: Connection) -> None:
    import_claims.drop(conn)


# Insert new subscribers (dicts of subscribers columns); returns email_key -> id.
def insert_many(conn: Connection, rows: list[dict[str, Any]]) -> dict[str, int]:
    if not rows:
        return {}
    conn.execute(insert(subscribers), rows)
    return {k: v[0] for k, v in existing_by_keys(conn, [r["email_key"] for r in rows]).items()}


# Change one subscriber's name (when given) and status (guarded by the status it had).
def update_imported(
    conn: Connection,
    subscriber_id: int,
    *,
    name: str,
    status: str | None,
    was: str,
    now: datetime,
) -> None:
    values: dict[str, Any] = {"name": name} if name else {}
    if status is not None and status != was:
        values |= {"status": status, "status_changed_at": now}
    if values:
        conn.execute(
            update(subscribers)
            .where(and_(subscribers.c.id == subscriber_id, subscribers.c.status == was))
            .values(**values)
        )


# Add (subscriber id, list id) memberships, skipping the ones that exist.
def add_memberships(conn: Connection, pairs: Iterable[tuple[int, int]], now: datetime) -> None:
    wanted = set(pairs)
    if not wanted:
        return
    query = select(memberships.c.subscriber_id, memberships.c.list_id).where(
        memberships.c.subscriber_id.in_({s for s, _ in wanted})
    )
    have = {(row.subscriber_id, row.list_id) for row in conn.execute(query)}
    new = [
        {"subscriber_id": s, "list_id": lst, "created_at": now} for s, lst in sorted(wanted - have)
    ]
    if new:
        conn.execute(insert(memberships), new)


# Make a subscriber's memberships exactly these lists.
def set_memberships(
    conn: Connection, subscriber_id: int, list_ids_wanted: Iterable[int], now: datetime
) -> None:
    wanted = set(list_ids_wanted)
    query = delete(memberships).where(memberships.c.subscriber_id == subscriber_id)
    if wanted:
        query = query.where(memberships.c.list_id.not_in(wanted))
    conn.execute(query)
    add_memberships(conn, ((subscriber_id, lst) for lst in wanted), now)


# A new pending subscriber from the web form; returns its id.
def insert_pending(conn: Connection, email: str, email_key: str, name: str, now: datetime) -> int:
    values = {
        "email": email,
        "email_key": email_key,
        "name": name,
        "status": SubscriberStatus.PENDING,
        "preferences": {},
        "created_at": now,
        "status_changed_at": now,
    }
    return int(conn.execute(insert(subscribers).values(**values)).inserted_primary_key[0])


# Move a subscriber to `status` if it is in one of `from_states`; True when it moved.
def move_status(
    conn: Connection,
    subscriber_id: int,
    status: SubscriberStatus,
    from_states: Iterable[SubscriberStatus],
    now: datetime,
) -> bool:
    query = (
        update(subscribers)
        .where(subscribers.c.id == subscriber_id, subscribers.c.status.in_(list(from_states)))
        .values(status=status, status_changed_at=now)
    )
    return conn.execute(query).rowcount == 1


# Activate a pending (or previously unsubscribed) subscriber and record the consent.
def confirm(conn: Connection, subscriber_id: int, now: datetime, client: str) -> bool:
    query = (
        update(subscribers)
        .where(
            subscribers.c.id == subscriber_id,
            subscribers.c.status.in_([SubscriberStatus.PENDING, SubscriberStatus.UNSUBSCRIBED]),
        )
        .values(
            status=SubscriberStatus.ACTIVE,
            status_changed_at=now,
            confirmed_at=now,
            confirmed_ip=client[:64],
        )
    )
    return conn.execute(query).rowcount == 1


# Change a subscriber's name, e.g. when they subscribe again with another one.
def rename(conn: Connection, subscriber_id: int, name: str) -> None:
    conn.execute(update(subscribers).where(subscribers.c.id == subscriber_id).values(name=name))


# Store a subscriber's preferences.
def set_preferences(conn: Connection, subscriber_id: int, preferences: Preferences) -> None:
    conn.execute(
        update(subscribers)
        .where(subscribers.c.id == subscriber_id)
        .values(preferences=preferences_json(preferences))
    )


# Put an address hash on the suppression list (no-op when already there).
def suppress_hash(conn: Connection, email_hash: str, reason: str, now: datetime) -> None:
    if not suppressed_hashes(conn, [email_hash]):
        conn.execute(
            insert(suppressions).values(email_hash=email_hash, reason=reason, created_at=now)
        )


# Take an address hash off the suppression list (the person confirmed a new opt-in).
def unsuppress_hash(conn: Connection, email_hash: str) -> None:
    conn.execute(delete(suppressions).where(suppressions.c.email_hash == email_hash))


# Erase a subscriber row with its memberships, deliveries and bounces.
def delete_subscriber(conn: Connection, subscriber_id: int) -> None:
    for table in (memberships, deliveries, bounces):
        conn.execute(delete(table).where(table.c.subscriber_id == subscriber_id))
    conn.execute(delete(subscribers).where(subscribers.c.id == subscriber_id))


# The ledger rows of one subscriber, for `subscribers show`.
def deliveries_of(conn: Connection, subscriber_id: int) -> list[dict[str, Any]]:
    query = (
        select(
            deliveries.c.issue_id,
            deliveries.c.status,
            deliveries.c.message_id,
            deliveries.c.sent_at,
            deliveries.c.reply,
        )
        .where(deliveries.c.subscriber_id == subscriber_id)
        .order_by(deliveries.c.id)
    )
    return [dict(row._mapping) for row in conn.execute(query)]


# The bounces recorded for one subscriber, for `subscribers show`.
def bounces_of(conn: Connection, subscriber_id: int) -> list[dict[str, Any]]:
    query = (
        select(bounces.c.kind, bounces.c.status_code, bounces.c.diagnostic, bounces.c.received_at)
        .where(bounces.c.subscriber_id == subscriber_id)
        .order_by(bounces.c.id)
    )
    return [dict(row._mapping) for row in conn.execute(query)]
