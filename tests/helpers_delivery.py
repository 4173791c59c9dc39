"""Delivery test data: a list, subscribers and a frozen issue, stored through the store API."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from newsletter import app as app_module
from newsletter import config
from newsletter.app import App
from newsletter.models import SubscriberStatus
from newsletter.store import db, issues
from newsletter.store import subscribers as subscriber_store

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
HTML = (
    '<html><body><p style="color:#333">Hello @@nl:name@@ – caf\u00e9</p>'
    + "<p>"
    + "long line of digest text " * 40
    + "</p>"
    + '<a href="@@nl:unsubscribe_url@@">Unsubscribe</a>'
    + ' <a href="@@nl:preferences_url@@">Preferences</a></body></html>'
)
TEXT = "Hello @@nl:name@@ – café\n\nUnsubscribe: @@nl:unsubscribe_url@@\n"


def address(n: int) -> str:
    return f"reader{n}@example.com"


def add_subscribers(
    app: App, count: int, list_name: str = "weekly", start: int = 0, name: str = "Reader {n}"
) -> list[int]:
    """`count` active subscribers of `list_name`; returns their ids."""
    with app.engine.begin() as conn:
        list_id = issues.ensure_list(conn, list_name, list_name.title(), NOW)
        rows = [
            {
                "email": address(n),
                "email_key": address(n),
                "name": name.format(n=n),
                "status": SubscriberStatus.ACTIVE,
                "preferences": {},
                "created_at": NOW,
                "soft_bounces": 0,
            }
            for n in range(start, start + count)
        ]
        ids = list(subscriber_store.insert_many(conn, rows).values())
        subscriber_store.add_memberships(conn, [(i, list_id) for i in ids], NOW)
    return sorted(ids)


def add_issue(app: App, list_name: str = "weekly", subject: str = "Notes #1: Café") -> int:
    with app.engine.begin() as conn:
        list_id = issues.ensure_list(conn, list_name, list_name.title(), NOW)
        number = issues.next_number(conn, list_id)
        issue = issues.create(
            conn,
            list_id=list_id,
            number=number,
            subject=subject,
            window_start=None,
            window_end=NOW,
            html=HTML,
            text=TEXT,
            articles=[],
            now=NOW,
        )
    return issue.id


def app_for(instance: Path, port: int, clock: Any = lambda: NOW, **smtp: Any) -> App:
    """An App whose [smtp] points at a test server, with short timeouts and no backoff."""
    values = {"port": port, "timeout": 2, "retry_base_seconds": 0, "pool_size": 3} | smtp
    settings = config.load(instance / "newsletter.toml", {"smtp": values})
    built = app_module.build(settings, clock=clock)
    db.migrate(built.engine)
    return built


def dsn(recipient: str, action: str, status: str, original_id: str, to: str = "") -> bytes:
    """A report shaped like Postfix's: human part, delivery-status, returned headers."""
    return (
        "From: MAILER-DAEMON@mx.example.com\r\n"
        f"To: {to or 'bounces@example.org'}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you...\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.com\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: {action}\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp; {status[0]}50 {status} mailbox problem\r\n\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: notes@example.org\r\nMessage-ID: {original_id}\r\nSubject: Notes\r\n\r\n"
        "--B--\r\n"
    ).encode()
