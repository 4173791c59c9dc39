"""Unsubscribe by mail: the List-Unsubscribe mailto, delivered over SMTP into a real Maildir."""

from __future__ import annotations

import mailbox
import smtplib
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from newsletter.app import App
from newsletter.delivery.mime import list_unsubscribe
from newsletter.devsmtp import sink
from newsletter.errors import InputError
from newsletter.models import Subscriber, SubscriberStatus
from newsletter.store import subscribers as store
from newsletter.subscribers import consent
from newsletter.tokens import Purpose
from newsletter.unsubscribes import Outcome, handle, process_maildir


def subscribed(app: App, address: str) -> Subscriber:
    made = consent.request(app, address, "", ["weekly"], "192.0.2.1")
    assert made is not None
    return consent.confirm(app, app.tokens().make(Purpose.CONFIRM, made.id, made.email), "")


def status(app: App, address: str) -> SubscriberStatus | None:
    with app.engine.connect() as conn:
        found = store.by_key(conn, address.lower())
    return found.status if found else None


def mailto_of(app: App, who: Subscriber) -> tuple[str, str]:
    """(recipient, subject) of the mailto our emails carry in List-Unsubscribe."""
    token = app.tokens().make(Purpose.UNSUBSCRIBE, who.id, who.email)
    url = app.links.unsubscribe(token)
    header = dict(list_unsubscribe(url, app.settings.sender.unsubscribe_address, token))
    mailto = header["List-Unsubscribe"].split("<mailto:")[1].rstrip(">")
    parts = urlsplit("mailto:" + mailto)
    return unquote(parts.path), parse_qs(parts.query)["subject"][0]


def mail(sender: str, recipient: str, subject: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = subject
    message.set_content("Please take me off.\n")
    return message


def deliver(maildir: Path, *messages: EmailMessage) -> None:
    """Send through the embedded SMTP sink, as a reader's mail client would."""
    with sink(maildir) as server, smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
        for message in messages:
            client.send_message(message)


def test_the_mailto_in_our_emails_unsubscribes_by_its_token(app: App, tmp_path: Path) -> None:
    who = subscribed(app, "reader@example.com")
    bystander = subscribed(app, "bystander@example.com")
    recipient, subject = mailto_of(app, who)
    # Sent from another address (a forwarding alias): the token decides, not the sender.
    deliver(tmp_path / "maildir", mail("alias@example.net", recipient, subject))
    assert process_maildir(app, tmp_path / "maildir") == {Outcome.UNSUBSCRIBED: 1}
    assert status(app, who.email) == SubscriberStatus.UNSUBSCRIBED
    assert status(app, bystander.email) == SubscriberStatus.ACTIVE
    assert process_maildir(app, tmp_path / "maildir") == {}  # handled mail is marked seen


def test_without_a_token_the_sender_address_is_unsubscribed(app: App, tmp_path: Path) -> None:
    subscribed(app, "plain@example.com")
    address = app.settings.sender.unsubscribe_address
    deliver(
        tmp_path / "maildir",
        mail("Plain Person <PLAIN@example.com>", address, "unsubscribe"),
        mail("stranger@example.org", address, "unsubscribe me"),
        mail("plain@example.com", "editor@example.org", "a letter to the editor"),
    )
    counts = process_maildir(app, tmp_path / "maildir")
    assert counts == {Outcome.UNSUBSCRIBED: 1, Outcome.UNKNOWN: 1, Outcome.NOT_FOR_US: 1}
    assert status(app, "plain@example.com") == SubscriberStatus.UNSUBSCRIBED
    box = mailbox.Maildir(tmp_path / "maildir", create=False)
    unseen = [m for m in box if "S" not in m.get_flags()]
    assert [m["Subject"] for m in unseen] == ["a letter to the editor"]  # left for a human


def test_a_forged_token_falls_back_to_the_sender_only(app: App) -> None:
    victim = subscribed(app, "victim@example.com")
    token = app.tokens().make(Purpose.UNSUBSCRIBE, victim.id, victim.email)
    forged = token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")
    message = mail("prankster@example.org", "unsubscribe@example.org", f"unsubscribe {forged}")
    assert handle(app, message.as_bytes()) == Outcome.UNKNOWN
    assert status(app, victim.email) == SubscriberStatus.ACTIVE


def test_the_envelope_recipient_and_a_plus_tag_are_honoured(app: App) -> None:
    who = subscribed(app, "tagged@example.com")
    token = app.tokens().make(Purpose.UNSUBSCRIBE, who.id, who.email)
    message = mail("someone@example.net", "list@example.org", "no subject token")
    outcome = handle(app, message.as_bytes(), [f"Unsubscribe+{token}@Example.org"])
    assert outcome == Outcome.UNSUBSCRIBED
    assert status(app, who.email) == SubscriberStatus.UNSUBSCRIBED


def test_garbage_and_non_maildirs(app: App, tmp_path: Path) -> None:
    assert handle(app, b"\x00\xff not a message at all") == Outcome.NOT_FOR_US
    with pytest.raises(InputError, match="not a Maildir"):
        process_maildir(app, tmp_path)
