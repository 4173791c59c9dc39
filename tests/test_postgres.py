"""The store and a whole send against a real PostgreSQL server (DESIGN.md: tests use real parts).

Runs when NEWSLETTER_TEST_DATABASE_URL names a PostgreSQL database whose role may
create databases (`.ci/run` installs and starts Debian's postgresql and sets it).
Each test gets its own fresh database, whose sessions run in America/New_York, so
a time that reached the server without its zone would come back hours off.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from helpers_delivery import NOW, add_issue, add_subscribers, address, app_for
from smtp_servers import Script, counting, faulty
from sqlalchemy import create_engine, inspect, make_url, select, text

from newsletter import app as app_module
from newsletter.app import App
from newsletter.cli import main
from newsletter.delivery import send
from newsletter.models import IssueStatus, SubscriberStatus
from newsletter.store import db, issues, ledger
from newsletter.store import subscribers as subscriber_store
from newsletter.store.schema import deliveries, metadata

URL = os.environ.get("NEWSLETTER_TEST_DATABASE_URL", "")
if not URL:
    pytest.skip(
        "PostgreSQL tests: set NEWSLETTER_TEST_DATABASE_URL="
        "postgresql+psycopg://USER:PASSWORD@127.0.0.1:5432/DB (a role with CREATEDB; "
        "`. .ci/postgres.sh` starts a local server and sets it)",
        allow_module_level=True,
    )

CLOCK = NOW + timedelta(minutes=5, microseconds=123_456)  # a send's clock, to the microsecond
SESSION_ZONE = "America/New_York"


@pytest.fixture(autouse=True)
def database(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A new empty database on the test server for this test; the app's config points at it."""
    server = make_url(URL)
    name = f"newsletter_test_{os.getpid()}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        conn.exec_driver_sql(f"ALTER DATABASE \"{name}\" SET timezone = '{SESSION_ZONE}'")
    url = server.set(database=name).render_as_string(hide_password=False)
    monkeypatch.setenv("NEWSLETTER_DATABASE__URL", url)  # env wins over newsletter.toml
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def make_app(instance: Path) -> Iterator[Callable[..., App]]:
    """`app_for` on this test's database; every App made is closed after the test."""
    made: list[App] = []

    def make(port: int, clock: Any = lambda: CLOCK, **smtp: Any) -> App:
        built = app_for(instance, port, clock, **smtp)
        made.append(built)
        return built

    yield make
    for built in made:
        built.close()


def start_sending(app: App, issue_id: int) -> int:
    """What `send_issue` does first: the issue is sending and its audience queued; rows added."""
    with app.engine.begin() as conn:
        issues.set_status(conn, issue_id, [IssueStatus.DRAFT], IssueStatus.SENDING, NOW)
        return ledger.queue(conn, issue_id, NOW)


def test_init_migrates_to_head_once_and_builds_exactly_the_declared_schema(
    instance, database, capsys
):
    config = str(instance / "newsletter.toml")
    assert main(["--config", config, "init"]) == 0
    assert "upgraded from empty" in capsys.readouterr().out
    assert main(["--config", config, "init"]) == 0
    assert "up to date" in capsys.readouterr().out

    engine = db.connect(database)
    try:
        assert engine.dialect.name == "postgresql"
        head = db.head_revision(engine)
        assert db.current_revision(engine) == head
        assert db.migrate(engine) == (head, head)
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), metadata) == []
        columns = {c["name"]: c for c in inspect(engine).get_columns("deliveries")}
        for name in ("sent_at", "updated_at", "next_attempt_at", "lease_until"):
            assert columns[name]["type"].timezone, name
    finally:
        engine.dispose()


def test_a_send_reaches_every_subscriber_once_and_stores_its_times_in_utc(make_app):
    server, handler = counting()
    with server:
        app = make_app(server.port)
        ids = add_subscribers(app, 50)
        issue_id = add_issue(app)
        summary = send.send_issue(app, issue_id)
        again = send.send_issue(app, issue_id)

    assert (summary.sent, summary.failed, summary.state) == (50, 0, "finished")
    assert handler.received == {address(n): 1 for n in range(50)}
    assert again.sent == 0 and handler.total() == 50
    with app.engine.connect() as conn:
        assert ledger.counts(conn, issue_id) == {"sent": 50}
        assert issues.get(conn, issue_id).status is IssueStatus.SENT
        rows = conn.execute(
            select(deliveries.c.subscriber_id, deliveries.c.sent_at, deliveries.c.updated_at)
        ).all()
        # what the server holds, read by the driver in the session's (New York) zone
        raw = conn.exec_driver_sql("SELECT sent_at, updated_at, message_id FROM deliveries").all()
    assert sorted(row.subscriber_id for row in rows) == ids
    assert {(row.sent_at, row.updated_at) for row in rows} == {(CLOCK, CLOCK)}
    assert all(t.tzinfo is UTC for row in rows for t in (row.sent_at, row.updated_at))
    assert {(sent_at, updated_at) for sent_at, updated_at, _ in raw} == {(CLOCK, CLOCK)}
    assert all(sent_at.utcoffset() == timedelta(hours=-5) for sent_at, _, _ in raw)
    assert all(message_id.startswith(f"<nl.{issue_id}.") for _, _, message_id in raw)


def faulty_send(make_app: Callable[..., App], scripts: list[tuple[str, Script]]) -> Any:
    """Send an issue to 50 subscribers through a server with `scripts`; retries wait 10 min."""
    server, handler = faulty(scripts)
    with server:
        app = make_app(server.port, retry_base_seconds=600)
        ids = add_subscribers(app, 50)
        issue_id = add_issue(app)
        summary = send.send_issue(app, issue_id, seed=7)
    return app, ids, issue_id, summary, handler


def test_deferred_outcomes_are_recorded_with_their_next_attempt(make_app):
    scripts = [
        (address(1), Script("RCPT", "451 4.3.0 greylisted")),
        (address(2), Script("RCPT", "452 4.2.2 mailbox full")),
    ]
    app, ids, issue_id, summary, handler = faulty_send(make_app, scripts)

    assert (summary.sent, summary.deferred, summary.state) == (48, 2, "waiting")
    assert handler.received == {address(n): 1 for n in range(50) if n not in (1, 2)}
    with app.engine.connect() as conn:
        assert ledger.counts(conn, issue_id) == {"sent": 48, "deferred": 2}
        query = select(deliveries).where(deliveries.c.status == "deferred")
        deferred = conn.execute(query.order_by(deliveries.c.subscriber_id)).all()
        due = ledger.next_due(conn, issue_id)
    assert [row.subscriber_id for row in deferred] == ids[1:3]
    assert ["451 4.3.0" in deferred[0].reply, "452 4.2.2" in deferred[1].reply] == [True, True]
    for row in deferred:
        # first retry after 600 s ± 50 % jitter, counted from the send's clock
        assert CLOCK + timedelta(seconds=300) <= row.next_attempt_at
        assert row.next_attempt_at <= CLOCK + timedelta(seconds=900)
        assert row.next_attempt_at.tzinfo is UTC
        assert (row.attempts, row.lease_until, row.sent_at) == (1, None, None)
        assert row.updated_at == CLOCK
    assert due == min(row.next_attempt_at for row in deferred)


def test_requeue_failed_puts_back_active_subscribers_and_counts_follow(make_app):
    scripts = [
        (address(1), Script("RCPT", "451 4.3.0 greylisted", times=1)),
        (address(2), Script("RCPT", "452 4.2.2 mailbox full", times=1)),
        (address(3), Script("RCPT", "550 5.1.1 no such user")),  # fails and bounces
        (address(4), Script("DATA", "554 5.6.0 message refused", times=1)),  # fails, stays
    ]
    app, ids, issue_id, summary, handler = faulty_send(make_app, scripts)
    assert (summary.sent, summary.deferred, summary.failed) == (46, 2, 2)
    with app.engine.connect() as conn:
        assert ledger.counts(conn, issue_id) == {"sent": 46, "deferred": 2, "failed": 2}
        assert subscriber_store.by_id(conn, ids[3]).status is SubscriberStatus.BOUNCED

    later = CLOCK + timedelta(hours=1)
    with app.engine.begin() as conn:
        assert ledger.requeue_failed(conn, issue_id, later) == 3
    with app.engine.connect() as conn:
        assert ledger.counts(conn, issue_id) == {"sent": 46, "queued": 3, "failed": 1}
        assert ledger.next_due(conn, issue_id) is None
        query = select(deliveries).where(deliveries.c.status == "queued")
        requeued = conn.execute(query.order_by(deliveries.c.subscriber_id)).all()
    assert [row.subscriber_id for row in requeued] == [ids[1], ids[2], ids[4]]
    assert {(r.attempts, r.next_attempt_at, r.updated_at) for r in requeued} == {(0, None, later)}

    server, handler = counting()
    with server:
        resumed = send.send_issue(make_app(server.port), issue_id)  # a new run, a fixed relay
    assert (resumed.sent, resumed.state) == (3, "finished")
    assert handler.received == {address(n): 1 for n in (1, 2, 4)}
    with app.engine.connect() as conn:
        assert ledger.counts(conn, issue_id) == {"sent": 49, "failed": 1}


def test_an_open_claim_is_skipped_by_a_second_claim_not_waited_for(make_app):
    app = make_app(9)  # nothing is sent here
    add_subscribers(app, 20)
    issue_id = add_issue(app)
    assert start_sending(app, issue_id) == 20
    lease = NOW + timedelta(minutes=2)

    with app.engine.connect() as first, app.engine.connect() as second, first.begin():
        taken = ledger.claim(first, issue_id, NOW, lease, 8)  # held: not committed yet
        with second.begin():
            # without SKIP LOCKED this claim would wait for the first to commit
            second.execute(text("SET LOCAL lock_timeout = '5s'"))
            also = ledger.claim(second, issue_id, NOW, lease, 8)
    assert len(taken) == len(also) == 8
    assert not {r.delivery_id for r in taken} & {r.delivery_id for r in also}
    assert {r.email for r in taken + also} == {address(n) for n in range(16)}
    with app.engine.connect() as conn:
        assert ledger.counts(conn, issue_id) == {"sending": 16, "queued": 4}


def test_two_senders_at_once_send_each_message_once(make_app):
    server, handler = counting(pause=0.005)
    with server:
        # Leases are compared across senders, so both read the same (real) clock.
        settings = {"lease_seconds": 30, "pool_size": 1}  # batches of 100: both claim
        first = make_app(server.port, app_module.utc_now, **settings)
        second = make_app(server.port, app_module.utc_now, **settings)
        add_subscribers(first, 300)
        issue_id = add_issue(first)
        with ThreadPoolExecutor(2) as pool:
            runs = [pool.submit(send.send_issue, app, issue_id) for app in (first, second)]
            summaries = [run.result(timeout=120) for run in runs]

    assert sum(s.sent for s in summaries) == 300
    assert all(s.sent > 0 for s in summaries), [s.sent for s in summaries]
    assert handler.received == {address(n): 1 for n in range(300)}
    with first.engine.connect() as conn:
        assert ledger.counts(conn, issue_id) == {"sent": 300}
        assert issues.get(conn, issue_id).status is IssueStatus.SENT


def test_helper_processes_share_the_issue_and_send_each_message_once(make_app):
    server, handler = counting()
    with server:
        app = make_app(server.port, app_module.utc_now, processes=2, pool_size=2)
        add_subscribers(app, 300)
        issue_id = add_issue(app)
        summary = send.send_issue(app, issue_id)
    assert (summary.sent, summary.state) == (300, "finished")
    assert handler.received == {address(n): 1 for n in range(300)}
    with app.engine.connect() as conn:
        assert ledger.counts(conn, issue_id) == {"sent": 300}
