"""Mail sent back to the embedded SMTP server: unsubscribe requests and bounces act at once."""

from __future__ import annotations

import mailbox
import smtplib
from pathlib import Path

from helpers_delivery import address, dsn

from newsletter import devsmtp, inbound, unsubscribes
from newsletter.models import SubscriberStatus
from newsletter.store import subscribers as subscriber_store


def status(app, subscriber_id: int) -> SubscriberStatus:
    with app.engine.connect() as conn:
        return subscriber_store.by_id(conn, subscriber_id).status


def deliver(port: int, sender: str, recipient: str, data: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.sendmail(sender, [recipient], data)


def test_mail_to_the_unsubscribe_address_unsubscribes_its_sender(sent, tmp_path: Path) -> None:
    app, _issue_id, ids = sent
    maildir = tmp_path / "inbox"
    request = (
        f"From: {address(0)}\r\nTo: unsubscribe@example.org\r\nSubject: unsubscribe\r\n\r\n.\r\n"
    ).encode()
    with devsmtp.sink(maildir, inbound=inbound.handler(app)) as server:
        deliver(server.port, address(0), "unsubscribe@example.org", request)
        deliver(server.port, address(1), "editor@example.org", request.replace(b"unsub", b"hello"))
    assert status(app, ids[0]) is SubscriberStatus.UNSUBSCRIBED
    assert status(app, ids[1]) is SubscriberStatus.ACTIVE
    box = mailbox.Maildir(str(maildir), create=False)
    flags = sorted("S" in message.get_flags() for message in box)
    assert flags == [False, True]  # both stored; only the handled one is marked seen
    again = unsubscribes.process_maildir(app, maildir)
    assert again[unsubscribes.Outcome.UNSUBSCRIBED] == 0  # the handled one is not redone


def test_an_existing_empty_folder_becomes_a_maildir(tmp_path: Path) -> None:
    folder = tmp_path / "made-by-hand"
    folder.mkdir()
    with devsmtp.sink(folder) as server:
        deliver(server.port, "a@example.org", "b@example.org", b"Subject: hi\r\n\r\nhello\r\n")
    assert len(mailbox.Maildir(str(folder), create=False)) == 1


def test_a_bounce_report_to_the_bounce_address_bounces_the_subscriber(sent, tmp_path) -> None:
    app, issue_id, ids = sent
    report = dsn(address(2), "failed", "5.1.1", f"<nl.{issue_id}.{ids[2]}@example.org>")
    with devsmtp.sink(tmp_path / "inbox", inbound=inbound.handler(app)) as server:
        # no bounce_address configured: bounces come back to the From address
        deliver(server.port, "", app.settings.sender.address, report)
    assert status(app, ids[2]) is SubscriberStatus.BOUNCED
    assert status(app, ids[3]) is SubscriberStatus.ACTIVE
