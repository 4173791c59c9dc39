"""An issue's messages: serialised once, then one cheap splice per subscriber.

Everything a subscriber does not change (From, Subject, List-Id, the encoded
HTML and text) is built when the issue is loaded; per subscriber only the To
line, Date, the deterministic Message-ID, the List-Unsubscribe pair and the
placeholder values are encoded. Values come from `render.subscriber_values`
and are escaped as `render.personalise` escapes them, so a decoded message is
exactly what the staff preview shows.
"""

from __future__ import annotations

from datetime import datetime
from email.utils import make_msgid

from newsletter.app import App
from newsletter.delivery import mime
from newsletter.delivery.dkim import Signer
from newsletter.models import Issue, OutgoingMessage, Subscriber, SubscriberStatus
from newsletter.render import escape_html, subscriber_values

TEST_MARK = "[TEST] "


class IssueMessages:
    """Builds the wire message of one issue for any subscriber."""

    def __init__(self, app: App, issue: Issue, *, test: bool = False) -> None:
        settings = app.settings
        self.issue = issue
        self.links = app.links
        self.tokens = app.tokens()
        sender = mime.Address(settings.sender.address, settings.sender.name)
        self.domain = mime.domain_of(mime.check_address(sender.email, where="sender.address"))
        self.unsubscribe_address = settings.sender.unsubscribe_address
        self.bounce_address = settings.sender.bounce_address or settings.sender.address
        self.verp = settings.sender.verp and bool(settings.sender.bounce_address)
        self.test = test
        title = settings.list_named(issue.list_name).title
        reply_to = settings.sender.reply_to
        self.prepared = mime.prepare(
            sender,
            (TEST_MARK if test else "") + issue.subject,
            [
                mime.Body.parse("plain", issue.text),
                mime.Body.parse("html", issue.html, escape_html),
            ],
            reply_to=mime.Address(reply_to) if reply_to else None,
            headers=[mime.list_id(title, issue.list_name, self.domain), ("Precedence", "bulk")],
        )
        key_file = settings.dkim.key_file
        self.signer = (
            Signer.load(settings.dkim, settings.path(key_file), self.domain) if key_file else None
        )

    def envelope_sender(self, subscriber_id: int) -> str:
        """The bounce address; with VERP it names the issue and subscriber a bounce is for."""
        if not self.verp:
            return self.bounce_address
        local, _, domain = self.bounce_address.rpartition("@")
        return f"{local}+{self.issue.id}-{subscriber_id}@{domain}"

    def build(self, subscriber_id: int, email: str, name: str, now: datetime) -> OutgoingMessage:
        """The message for one subscriber (a test copy gets a fresh Message-ID)."""
        subscriber = Subscriber(subscriber_id, email, name, SubscriberStatus.ACTIVE)
        values = subscriber_values(self.links, self.tokens, subscriber)
        unsubscribe = values["unsubscribe_url"]
        headers = mime.list_unsubscribe(
            unsubscribe, self.unsubscribe_address, unsubscribe.rpartition("/")[2]
        )
        if self.test:
            message_id = make_msgid(domain=self.domain)
        else:
            message_id = mime.message_id(self.issue.id, subscriber_id, self.domain)
        recipient = mime.Address(email, name)
        data = self.prepared.render(recipient, message_id, now, values, headers)
        if self.signer is not None:
            data = self.signer.sign(data)
        return OutgoingMessage(
            sender=self.envelope_sender(subscriber_id),
            recipient=mime.check_address(email, where=f"subscriber {subscriber_id}"),
            data=data,
            message_id=message_id,
            dot_free=True,
        )
