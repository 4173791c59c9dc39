"""Delivery status notifications read back from a Maildir and recorded against the ledger."""

from __future__ import annotations

import mailbox

import pytest
from helpers_delivery import address, dsn

from newsletter import bounces
from newsletter.errors import InputError
from newsletter.models import SubscriberStatus
from newsletter.store import subscribers as subscriber_store


def test_hard_bounce_by_message_id_and_soft_ones_up_to_the_limit(sent, tmp_path):
    app, issue_id, ids = sent
    box = mailbox.Maildir(str(tmp_path / "bounces"), create=True)
    box.add(dsn(address(0), "failed", "5.1.1", f"<nl.{issue_id}.{ids[0]}@example.org>"))
    for _ in range(3):
        box.add(dsn(address(1), "delayed", "4.2.2", f"<nl.{issue_id}.{ids[1]}@example.org>"))
    box.add(dsn(address(2), "failed", "5.2.1", "<unrelated@example.net>"))
    box.add(b"From: someone@example.com\r\nSubject: hello\r\n\r\nnot a bounce\r\n")

    report = bounces.process(app, tmp_path / "bounces")
    again = bounces.process(app, tmp_path / "bounces")

    assert (report.hard, report.soft, report.bounced, report.unmatched) == (1, 3, 2, 1)
    assert report.ignored == 1 and (again.hard, again.soft) == (0, 0)
    with app.engine.connect() as conn:
        status = [subscriber_store.by_id(conn, i).status for i in ids]
    assert status[:3] == [SubscriberStatus.BOUNCED, SubscriberStatus.BOUNCED, "active"]


def test_matched_by_verp_address_when_the_original_is_not_returned(sent, tmp_path):
    app, issue_id, ids = sent
    box = mailbox.Maildir(str(tmp_path / "b"), create=True)
    report = dsn(address(3), "failed", "5.1.1", "<lost@example.net>")
    box.add(report.replace(b"To: bounces@", f"To: bounces+{issue_id}-{ids[3]}@".encode()))
    assert bounces.process(app, tmp_path / "b").bounced == 1


def test_a_folder_that_is_not_a_maildir_is_refused(sent, tmp_path):
    app, _, _ = sent
    with pytest.raises(InputError, match="not a Maildir"):
        bounces.process(app, tmp_path)
