"""Sending an issue through the ledger to a real aiosmtpd server on 127.0.0.1."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from email import message_from_bytes, policy
from pathlib import Path

import dkim
import pytest
from helpers_delivery import NOW, add_issue, add_subscribers, address, app_for
from smtp_servers import Counting, RefuseAtConnect, Script, counting, faulty

from newsletter import app as app_module
from newsletter import config
from newsletter.cli import main
from newsletter.delivery import control, send
from newsletter.devsmtp import SMTPThread
from newsletter.errors import InputError
from newsletter.models import Cadence, IssueStatus, Preferences, SubscriberStatus
from newsletter.render import personalise, subscriber_values
from newsletter.store import db, issues, ledger
from newsletter.store import subscribers as subscriber_store


@pytest.fixture
def sink() -> Iterator[tuple[SMTPThread, Counting]]:
    server, handler = counting()
    with server:
        yield server, handler


def test_sends_one_message_per_active_subscriber_and_never_twice(instance, sink):
    server, handler = sink
    app = app_for(instance, server.port)
    ids = add_subscribers(app, 12)
    add_subscribers(app, 2, list_name="ms-monthly", start=100)
    issue_id = add_issue(app)
    with app.engine.begin() as conn:
        subscriber_store.move_status(
            conn, ids[0], SubscriberStatus.UNSUBSCRIBED, [SubscriberStatus.ACTIVE], NOW
        )

    summary = send.send_issue(app, issue_id)
    again = send.send_issue(app, issue_id)

    assert (summary.sent, summary.failed, summary.state) == (11, 0, "finished")
    assert handler.received == {address(n): 1 for n in range(1, 12)}
    assert again.sent == 0 and handler.total() == 11
    with app.engine.connect() as conn:
        assert issues.get(conn, issue_id).status is IssueStatus.SENT
        assert ledger.counts(conn, issue_id) == {"sent": 11}
        # outcomes go in through the driver: times must be stored as SQLAlchemy stores them
        stored = conn.exec_driver_sql("SELECT sent_at, updated_at FROM deliveries").all()
    assert all(
        re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}", t) for row in stored for t in row
    )


def test_message_on_the_wire_matches_the_preview(instance, sink):
    server, handler = sink
    app = app_for(instance, server.port)
    [sid] = add_subscribers(app, 1, name="Zoë <script>")
    issue_id = add_issue(app)
    send.send_issue(app, issue_id)

    [(envelope_from, rcpt, data)] = handler.messages
    assert (envelope_from, rcpt) == ("notes@example.org", address(0))
    message = message_from_bytes(data, policy=policy.default)
    assert b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["To"].addresses[0].display_name == "Zoë <script>"
    assert message["Message-ID"] == f"<nl.{issue_id}.{sid}@example.org>"
    assert message["List-Id"] == '"Notes Weekly" <weekly.example.org>'
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    links = message["List-Unsubscribe"]
    assert "<https://notes.example.org/u/" in links and "<mailto:unsubscribe@example.org?" in links
    assert message["Date"] and message["From"] == "Test Notes <notes@example.org>"
    with app.engine.connect() as conn:
        issue = issues.get(conn, issue_id)
        subscriber = subscriber_store.by_id(conn, sid)
    html, text = personalise(issue, subscriber_values(app.links, app.tokens(), subscriber))
    assert message.get_body(("html",)).get_content().rstrip("\n") == html
    assert message.get_body(("plain",)).get_content().replace("\r\n", "\n") == text
    head, _, body = data.partition(b"\r\n\r\n")
    assert all(len(line) <= 76 for line in body.split(b"\r\n"))
    assert all(len(line) <= 998 for line in head.split(b"\r\n"))


def test_unknown_user_fails_and_bounces_others_deferred_then_sent(instance):
    scripts = [
        (address(1), Script("RCPT", "550 5.1.1 no such user")),
        (address(2), Script("RCPT", "451 4.3.0 greylisted", times=1)),
        (address(3), Script("RCPT", "452 4.2.2 mailbox full", times=1)),
        (address(4), Script("DATA", "554 5.6.0 message refused")),
    ]
    server, handler = faulty(scripts)
    with server:
        app = app_for(instance, server.port)
        ids = add_subscribers(app, 6)
        issue_id = add_issue(app)
        summary = send.send_issue(app, issue_id)

    assert handler.received == {address(n): 1 for n in (0, 2, 3, 5)}
    assert (summary.sent, summary.failed, summary.deferred, summary.bounced) == (4, 2, 2, 1)
    with app.engine.connect() as conn:
        assert ledger.counts(conn, issue_id) == {"sent": 4, "failed": 2}
        assert subscriber_store.by_id(conn, ids[1]).status is SubscriberStatus.BOUNCED
        assert subscriber_store.by_id(conn, ids[4]).status is SubscriberStatus.ACTIVE


def test_a_bounced_subscriber_is_not_queued_for_the_next_issue(instance):
    server, handler = faulty([(address(0), Script("RCPT", "550 5.1.1 user unknown"))])
    with server:
        app = app_for(instance, server.port)
        add_subscribers(app, 2)
        send.send_issue(app, add_issue(app))
        second = send.send_issue(app, add_issue(app))
    assert second.total == 1 and handler.received[address(0)] == 0


def test_policy_550_fails_without_bouncing(instance):
    server, _ = faulty([(address(0), Script("RCPT", "550 5.7.1 rejected by policy"))])
    with server:
        app = app_for(instance, server.port)
        [sid] = add_subscribers(app, 1)
        summary = send.send_issue(app, add_issue(app))
    assert (summary.failed, summary.bounced) == (1, 0)
    with app.engine.connect() as conn:
        assert subscriber_store.by_id(conn, sid).status is SubscriberStatus.ACTIVE


def test_paused_issue_refuses_plain_send_and_resumes(instance, sink):
    server, handler = sink
    app = app_for(instance, server.port)
    add_subscribers(app, 3)
    issue_id = add_issue(app)
    with app.engine.begin() as conn:
        issues.set_status(conn, issue_id, [IssueStatus.DRAFT], IssueStatus.SENDING, NOW)
        ledger.queue(conn, issue_id, NOW)
    control.pause(app, issue_id)
    with pytest.raises(InputError, match="paused"):
        send.send_issue(app, issue_id)
    assert handler.total() == 0
    assert control.resume(app, issue_id).sent == 3


def test_cancelled_issue_sends_nothing(instance, sink):
    server, handler = sink
    app = app_for(instance, server.port)
    add_subscribers(app, 3)
    issue_id = add_issue(app)
    control.cancel(app, issue_id)
    with pytest.raises(InputError, match="cancelled"):
        send.send_issue(app, issue_id)
    assert handler.total() == 0


def test_a_relay_refusing_every_connection_pauses_the_issue_after_n_errors(instance):
    server = SMTPThread(object(), smtp_class=RefuseAtConnect)
    with server:
        app = app_for(
            instance, server.port, errors_before_pause=5, pool_size=1, retry_base_seconds=600
        )
        add_subscribers(app, 30)
        issue_id = add_issue(app)
        summary = send.send_issue(app, issue_id)
    assert summary.state == "paused" and "421" in summary.note
    assert summary.deferred == 5 and summary.sent == 0
    with app.engine.connect() as conn:
        assert issues.get(conn, issue_id).status is IssueStatus.PAUSED
        counts = ledger.counts(conn, issue_id)
    assert counts["deferred"] == 5 and counts["queued"] == 25 and "sending" not in counts


def test_drops_and_stalls_are_retried_and_nothing_is_lost(instance):
    scripts = [
        (address(0), Script("DATA", "drop", times=1)),
        (address(1), Script("DATA", "stall 3", times=1)),
    ]
    server, handler = faulty(scripts)
    with server:
        app = app_for(instance, server.port, timeout=0.5)
        add_subscribers(app, 5)
        issue_id = add_issue(app)
        summary = send.send_issue(app, issue_id)
    assert handler.received == {address(n): 1 for n in range(5)}
    assert (summary.sent, summary.deferred, summary.state) == (5, 2, "finished")
    with app.engine.connect() as conn:
        assert ledger.counts(conn, issue_id) == {"sent": 5}


def test_temporary_errors_give_up_after_max_attempts_and_retry_failed_sends_again(instance):
    server, handler = faulty([(address(0), Script("RCPT", "451 4.7.1 try later", times=3))])
    with server:
        app = app_for(instance, server.port, max_attempts=3)
        add_subscribers(app, 2)
        issue_id = add_issue(app)
        first = send.send_issue(app, issue_id)
        with app.engine.connect() as conn:
            assert ledger.counts(conn, issue_id) == {"sent": 1, "failed": 1}
        retried = send.send_issue(app, issue_id, retry_failed=True)
    assert (first.deferred, first.failed) == (2, 1)
    assert retried.sent == 1 and handler.received == {address(0): 1, address(1): 1}


def test_backoff_defers_to_a_later_run(instance):
    server, handler = faulty([(address(0), Script("RCPT", "452 4.2.2 mailbox full", times=1))])
    with server:
        app = app_for(instance, server.port, retry_base_seconds=600)
        add_subscribers(app, 2)
        summary = send.send_issue(app, add_issue(app), seed=1)
    assert (summary.sent, summary.deferred, summary.state) == (1, 1, "waiting")
    assert summary.remaining == {"sent": 1, "deferred": 1}
    assert handler.received == {address(1): 1}


def test_backoff_grows_exponentially_with_jitter():
    rng = random.Random(3)
    for attempts in (1, 2, 3, 4):
        base = 60 * 2 ** (attempts - 1)
        assert base * 0.5 <= send.backoff(attempts, 60, rng) <= base * 1.5
    assert send.backoff(40, 60, rng) <= send.MAX_BACKOFF * 1.5


def test_dry_run_builds_every_message_and_connects_to_nothing(instance):
    app = app_for(instance, 9)  # nothing listens on port 9
    add_subscribers(app, 7)
    issue_id = add_issue(app)
    summary = control.dry_run(app, issue_id)
    assert summary.total == 7 and summary.bytes > 7 * 1000
    with app.engine.connect() as conn:
        assert ledger.counts(conn, issue_id) == {}
        assert issues.get(conn, issue_id).status is IssueStatus.DRAFT


def test_test_copy_is_marked_and_not_in_the_ledger(instance, sink):
    server, handler = sink
    app = app_for(instance, server.port)
    add_subscribers(app, 3)
    issue_id = add_issue(app)
    control.send_test(app, issue_id, "editor@example.org")
    [(_, rcpt, data)] = handler.messages
    message = message_from_bytes(data, policy=policy.default)
    assert rcpt == "editor@example.org" and message["Subject"].startswith("[TEST] ")
    with app.engine.connect() as conn:
        assert ledger.counts(conn, issue_id) == {}
    with pytest.raises(InputError, match="not a usable email address"):
        control.send_test(app, issue_id, "editor@example.org\r\nBcc: x@evil.example")


def test_dkim_from_config_signs_what_is_sent(instance, sink):
    server, handler = sink
    key = Path(__file__).parent / "data" / "dkim_test_key.pem"
    settings = config.load(
        instance / "newsletter.toml",
        {"smtp": {"port": server.port, "timeout": 2}, "dkim": {"key_file": str(key)}},
    )
    app = app_module.build(settings, clock=lambda: NOW)
    db.migrate(app.engine)
    add_subscribers(app, 1)
    send.send_issue(app, add_issue(app))
    record = b"v=DKIM1; k=rsa; p=" + key.with_suffix(".pub.b64").read_bytes().strip()
    [(_, _, data)] = handler.messages
    assert dkim.verify(data, dnsfunc=lambda name, timeout=5: record)


def test_pause_from_elsewhere_stops_a_running_send_and_resume_finishes_it(instance):
    server, handler = counting(pause=0.01)
    with server:
        app = app_for(instance, server.port)
        add_subscribers(app, 200)
        issue_id = add_issue(app)
        with ThreadPoolExecutor(1) as pool:
            running = pool.submit(send.send_issue, app, issue_id)
            deadline = time.monotonic() + 30
            while handler.total() < 20:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            control.pause(app, issue_id)
            paused = running.result(timeout=30)
        with app.engine.connect() as conn:
            counts = ledger.counts(conn, issue_id)
        resumed = control.resume(app, issue_id)
    assert paused.state == "paused" and paused.sent < 200
    assert "sending" not in counts and counts["sent"] == paused.sent
    assert paused.sent + resumed.sent == 200 and handler.total() == 200


def test_each_subscriber_gets_the_variant_their_preferences_pick(instance, sink):
    server, handler = sink
    app = app_for(instance, server.port)
    ids = add_subscribers(app, 3)
    with app.engine.begin() as conn:
        monthly = Preferences(cadence=Cadence.MONTHLY)
        subscriber_store.set_preferences(conn, ids[0], monthly)
        subscriber_store.set_preferences(conn, ids[1], Preferences())
    own = add_issue(app)
    with app.engine.begin() as conn:
        list_id = issues.ensure_list(conn, "weekly", "Weekly", NOW)
        variant = issues.create(
            conn,
            list_id=list_id,
            number=1,
            variant="monthly",
            subject="Monthly",
            window_start=None,
            window_end=NOW,
            html="<p>@@nl:name@@</p>",
            text="t",
            articles=[],
            now=NOW,
        ).id
    assert control.dry_run(app, own).total == 2
    assert send.send_issue(app, own).sent == 2
    assert send.send_issue(app, variant).sent == 1
    assert handler.received == {address(0): 1, address(1): 1, address(2): 1}
    assert [m[1] for m in handler.messages[-1:]] == [address(0)]


def test_helper_processes_share_the_ledger_and_send_each_message_once(instance, sink):
    server, handler = sink
    # Leases are compared across processes, so every process reads the same (real) clock.
    app = app_for(instance, server.port, app_module.utc_now, processes=2, pool_size=2)
    add_subscribers(app, 300)
    summary = send.send_issue(app, add_issue(app))
    assert summary.sent == 300 and summary.state == "finished"
    assert handler.received == {address(n): 1 for n in range(300)}


def test_cli_send_dry_run_then_send_then_nothing_twice(instance, sink, capsys):
    server, handler = sink
    toml = instance / "newsletter.toml"
    toml.write_text(toml.read_text() + f"\n[smtp]\nport = {server.port}\ntimeout = 2\n")
    app = app_for(instance, server.port)
    add_subscribers(app, 4)
    issue_id = str(add_issue(app))
    assert main(["--config", str(toml), "send", issue_id, "--dry-run"]) == 0
    assert "dry run: 4 messages" in capsys.readouterr().out
    assert main(["--config", str(toml), "send", issue_id]) == 0
    assert main(["--config", str(toml), "send", issue_id]) == 0
    out = capsys.readouterr().out
    assert "sent 4, deferred 0, failed 0, skipped 0; finished" in out
    assert "sent 0, deferred 0, failed 0, skipped 0; finished" in out
    assert handler.total() == 4
    assert main(["--config", str(toml), "send", "999"]) == 2
    assert "no issue with id 999" in capsys.readouterr().err


def test_a_slow_relay_keeps_its_leases_so_a_second_sender_takes_no_row_twice(instance):
    server, handler = counting(pause=0.05)
    with server:
        app = app_for(instance, server.port, app_module.utc_now, pool_size=1, lease_seconds=0.3)
        add_subscribers(app, 20)
        issue_id = add_issue(app)
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(send.send_issue, app, issue_id)
            while not handler.total():
                time.sleep(0.01)
            second = pool.submit(send.send_issue, app, issue_id)
            summaries = [first.result(timeout=60), second.result(timeout=60)]
    assert sum(s.sent for s in summaries) == 20
    assert handler.received == {address(n): 1 for n in range(20)}


def test_a_stored_address_the_wire_cannot_carry_fails_its_row_only(instance, sink):
    server, handler = sink
    app = app_for(instance, server.port)
    ids = add_subscribers(app, 3)
    with app.engine.begin() as conn:  # written around the importer, which would refuse it
        conn.exec_driver_sql(
            "UPDATE subscribers SET email = 'zoë@exämple.com' WHERE id = ?", (ids[1],)
        )
    issue_id = add_issue(app)
    summary = send.send_issue(app, issue_id)
    assert (summary.sent, summary.failed, summary.state) == (2, 1, "finished")
    assert handler.received == {address(0): 1, address(2): 1}
    with app.engine.connect() as conn:
        reply = conn.exec_driver_sql(
            "SELECT reply FROM deliveries WHERE subscriber_id = ?", (ids[1],)
        ).scalar()
    assert reply.startswith("not sendable: ")
