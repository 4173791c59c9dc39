"""Unsubscribe requests that arrive by mail: the mailto half of List-Unsubscribe.

Every email carries ``<mailto:UNSUBSCRIBE_ADDRESS?subject=unsubscribe%20TOKEN>``.
A message to that address unsubscribes the subscriber its signed token names
(found in the subject, or as a ``+tag`` of the recipient), else the subscriber
whose address sent it. Messages come from a Maildir (`process_maildir`, run by
`newsletter unsubscribes process`) or straight from an SMTP server that calls
`handle` with the envelope recipients. A handled message is marked seen, so a
second run does nothing twice; mail for other addresses is left untouched.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from enum import StrEnum
from pathlib import Path

from newsletter.app import App
from newsletter.errors import InputError
from newsletter.maildir import unseen
from newsletter.subscribers import consent

log = logging.getLogger(__name__)

TOKEN_LIKE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
RECIPIENT_HEADERS = ("To", "Cc", "Delivered-To", "X-Original-To", "X-RcptTo", "Envelope-To")


class Outcome(StrEnum):
    UNSUBSCRIBED = "unsubscribed"
    UNKNOWN = "unknown sender"
    NOT_FOR_US = "not for the unsubscribe address"
    UNREADABLE = "unreadable"


def _split(address: str) -> tuple[str, str, str]:
    """(local part without +tag, tag, domain); all but the tag lowercased (tokens have case)."""
    local, _, domain = address.strip().rpartition("@")
    base, _, tag = local.partition("+")
    return base.lower(), tag, domain.lower()


def addressed_to(recipients: Iterable[str], address: str) -> list[str]:
    """The +tags of the recipients that are `address`, whatever their tag ("" for none):
    the unsubscribe address, or the bounce address with its VERP tags."""
    base, _, domain = _split(address)
    tags = []
    for recipient in recipients:
        their_base, tag, their_domain = _split(recipient)
        if (their_base, their_domain) == (base, domain):
            tags.append(tag)
    return tags


def _header_addresses(message: EmailMessage, names: Sequence[str]) -> Iterator[str]:
    for name in names:
        for value in message.get_all(name, []):
            addresses = getattr(value, "addresses", None)
            if addresses is None:
                yield str(value).strip().strip("<>")
            else:
                yield from (a.addr_spec for a in addresses)


def _candidates(subject: str, tags: Iterable[str]) -> list[str]:
    """Token-shaped words of the subject and the recipient tags, in that order."""
    found = TOKEN_LIKE.findall(subject)
    return found + [tag for tag in tags if TOKEN_LIKE.fullmatch(tag)]


def _by_token(app: App, candidates: Iterable[str]) -> bool:
    for candidate in candidates:
        try:
            consent.unsubscribe(app, candidate)
        except InputError:
            continue
        return True
    return False


def handle(app: App, data: bytes, recipients: Sequence[str] = ()) -> Outcome:
    """Act on one message; `recipients` are the SMTP envelope's, when known."""
    try:
        message = BytesParser(policy=default).parsebytes(data)
        listed = list(recipients) or list(_header_addresses(message, RECIPIENT_HEADERS))
        tags = addressed_to(listed, app.settings.sender.unsubscribe_address)
        if not tags:
            return Outcome.NOT_FOR_US
        subject = str(message.get("Subject", ""))
        senders = list(_header_addresses(message, ("From",)))
    except (ValueError, TypeError, IndexError, LookupError):
        return Outcome.UNREADABLE
    if _by_token(app, _candidates(subject, tags)):
        log.info("unsubscribed by mail (token)")
        return Outcome.UNSUBSCRIBED
    for sender in senders[:1]:
        try:
            found = consent.unsubscribe_address(app, sender)
        except InputError:
            return Outcome.UNKNOWN
        if found is not None:
            log.info("unsubscribed by mail (sender address), subscriber %s", found.id)
            return Outcome.UNSUBSCRIBED
    return Outcome.UNKNOWN


def process_maildir(app: App, path: Path) -> Counter[Outcome]:
    """Handle every unseen message of a Maildir; handled ones are marked seen."""
    counts: Counter[Outcome] = Counter()
    for data, mark_seen in unseen(path):
        outcome = handle(app, data)
        counts[outcome] += 1
        if outcome is not Outcome.NOT_FOR_US:
            mark_seen()
    return counts
