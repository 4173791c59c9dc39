"""Delivery test data: a list, subscribers and a frozen issue, stored through the store API."""

from __future__ import annotations

from datetime import UTC, datetime

from newsletter.app import App
from newsletter.models import SubscriberStatus
from newsletter.store import issues
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
