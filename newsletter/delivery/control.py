"""Operator controls around a send: pause, resume, cancel, a dry run, a test copy.

A dry run and a test copy go through the very builder a real send uses
(`IssueMessages`), so what they show is what subscribers get; neither touches
the ledger.
"""

from __future__ import annotations

from typing import Any

from newsletter import compose
from newsletter.app import App
from newsletter.delivery.message import IssueMessages
from newsletter.delivery.send import Summary, send_issue
from newsletter.delivery.smtp import send_one
from newsletter.errors import InputError
from newsletter.models import IssueStatus
from newsletter.store import issues, ledger


def _move(app: App, issue_id: int, allowed: tuple[IssueStatus, ...], new: IssueStatus) -> None:
    with app.engine.begin() as conn:
        issue = issues.get(conn, issue_id)
        if not issues.set_status(conn, issue_id, allowed, new, app.clock()):
            raise InputError(f"issue {issue_id} is {issue.status}, cannot become {new}")


def pause(app: App, issue_id: int) -> None:
    """Stop a send after the messages in flight; a running sender notices at its next claim."""
    _move(app, issue_id, (IssueStatus.SENDING,), IssueStatus.PAUSED)


def resume(app: App, issue_id: int, **options: Any) -> Summary:
    """Continue a paused issue where it stopped."""
    _move(app, issue_id, (IssueStatus.PAUSED,), IssueStatus.SENDING)
    return send_issue(app, issue_id, **options)


def cancel(app: App, issue_id: int) -> None:
    """Give an issue up for good: nothing more of it is sent."""
    allowed = (IssueStatus.DRAFT, IssueStatus.APPROVED, IssueStatus.SENDING, IssueStatus.PAUSED)
    _move(app, issue_id, allowed, IssueStatus.CANCELLED)


def dry_run(app: App, issue_id: int) -> Summary:
    """Build every message the issue's audience would get and count bytes; connect to nothing."""
    with app.engine.connect() as conn:
        issue = issues.get(conn, issue_id)
        messages = IssueMessages(app, issue)
        spec = app.settings.list_named(issue.list_name)
        summary = Summary(issue_id, state="dry run")
        now = app.clock()
        for row, preferences in ledger.audience(conn, issue_id):
            if compose.variant_key(spec, preferences) != issue.variant:
                continue
            summary.bytes += len(messages.build(row.subscriber_id, row.email, row.name, now).data)
            summary.total += 1
    return summary


def send_test(app: App, issue_id: int, address: str) -> str:
    """One copy to `address` with a marked subject, outside the ledger; the server's reply."""
    with app.engine.connect() as conn:
        issue = issues.get(conn, issue_id)
    message = IssueMessages(app, issue, test=True).build(0, address, "", app.clock())
    return send_one(app.settings.smtp, message)
