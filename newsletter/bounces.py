"""Bounces that come back later: RFC 3464 delivery status notifications read from a Maildir.

A relay that accepted a message (our "sent") may still fail to deliver it and
mail a report back to the envelope sender. Each report is matched to the
delivery it answers by the original Message-ID (ours are deterministic, see
`delivery.mime.message_id`) or, failing that, by a VERP envelope address
(`bounces+ISSUE-SUBSCRIBER@…`). A permanent failure (action "failed", status
5.x.x) marks the subscriber bounced; a temporary one is counted, and
reaching `sender.soft_bounce_limit` of them bounces the subscriber too.
Processed reports are flagged seen in the Maildir, so running again is harmless;
mail that is not a report is left alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import Message
from pathlib import Path

from newsletter.app import App
from newsletter.delivery.mime import parse_message_id
from newsletter.maildir import unseen
from newsletter.models import SubscriberStatus
from newsletter.store import ledger
from newsletter.store import subscribers as subscriber_store

VERP = re.compile(r"\+(\d+)-(\d+)@")
STATUS = re.compile(r"\b([245])\.\d{1,3}\.\d{1,3}\b")


@dataclass(frozen=True, slots=True)
class Notice:
    """One failed recipient in one report, with what identifies the message it answers."""

    recipient: str
    action: str
    status: str
    diagnostic: str
    ids: tuple[int, int] | None  # (issue id, subscriber id)

    @property
    def hard(self) -> bool:
        return self.action == "failed" and self.status.startswith("5")


@dataclass
class Report:
    hard: int = 0
    soft: int = 0
    bounced: int = 0
    unmatched: int = 0
    ignored: int = 0


def _original_ids(report: Message) -> tuple[int, int] | None:
    """(issue, subscriber) from the returned original's Message-ID or the VERP address."""
    for part in report.walk():
        if part.get_content_type() in ("message/rfc822", "text/rfc822-headers"):
            payload = part.get_payload()
            original = (
                payload[0]
                if isinstance(payload, list)
                else message_from_bytes(str(payload).encode("utf-8", "replace"))
            )
            found = parse_message_id(str(original.get("Message-ID", "")))
            if found:
                return found
    for header in ("Delivered-To", "To", "X-Original-To"):
        match = VERP.search(str(report.get(header, "")))
        if match:
            return int(match.group(1)), int(match.group(2))
    return None


def notices(report: Message) -> list[Notice]:
    """The per-recipient fields of a delivery-status report; [] when it is not one."""
    if report.get_content_type() != "multipart/report":
        return []
    ids = _original_ids(report)
    found: list[Notice] = []
    for part in report.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        for block in part.get_payload()[1:]:
            recipient = str(block.get("Final-Recipient", "")).rpartition(";")[2].strip()
            status = STATUS.search(str(block.get("Status", "")))
            found.append(
                Notice(
                    recipient=recipient,
                    action=str(block.get("Action", "")).strip().lower(),
                    status=status.group(0) if status else "",
                    diagnostic=" ".join(str(block.get("Diagnostic-Code", "")).split())[:500],
                    ids=ids,
                )
            )
    return [n for n in found if n.action in ("failed", "delayed")]


def _apply(app: App, notice: Notice, report: Report) -> None:
    """Record one notice against its delivery; bounce the subscriber when it is final."""
    if notice.ids is None:
        report.unmatched += 1
        return
    issue_id, subscriber_id = notice.ids
    limit = app.settings.sender.soft_bounce_limit
    now = app.clock()
    with app.engine.begin() as conn:
        delivery_id = ledger.delivery_of(conn, issue_id, subscriber_id)
        if delivery_id is None:
            report.unmatched += 1
            return
        kind = "hard" if notice.hard else "soft"
        ledger.add_bounce(
            conn,
            subscriber_id=subscriber_id,
            delivery_id=delivery_id,
            kind=kind,
            status_code=notice.status,
            diagnostic=notice.diagnostic,
            now=now,
        )
        setattr(report, kind, getattr(report, kind) + 1)
        final = notice.hard or ledger.add_soft_bounce(conn, subscriber_id) >= limit
        if final and subscriber_store.move_status(
            conn, subscriber_id, SubscriberStatus.BOUNCED, [SubscriberStatus.ACTIVE], now
        ):
            report.bounced += 1


def handle(app: App, data: bytes, report: Report) -> bool:
    """Record the notices in one message; False when it is no delivery report."""
    found = notices(message_from_bytes(data, policy=policy.compat32))
    if not found:
        report.ignored += 1
        return False
    for notice in found:
        _apply(app, notice, report)
    return True


def process(app: App, maildir: Path) -> Report:
    """Read every unseen report in `maildir`, record it, and flag it seen."""
    report = Report()
    for data, mark_seen in unseen(maildir):
        if handle(app, data, report):
            mark_seen()
    return report


def describe(report: Report) -> str:
    return (
        f"bounces: {report.hard} hard, {report.soft} soft, {report.bounced} subscribers bounced, "
        f"{report.unmatched} unmatched, {report.ignored} other messages left alone"
    )
