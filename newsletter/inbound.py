"""Mail that comes back to the instance: unsubscribe requests and bounce reports.

The embedded SMTP server hands every message to `handler(app)`; mail for
`sender.unsubscribe_address` unsubscribes its sender (or the token it carries),
delivery reports for `sender.bounce_address` mark bounces. Anything else is
only stored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from newsletter import bounces, unsubscribes
from newsletter.app import App

log = logging.getLogger(__name__)


def handler(app: App) -> Callable[[bytes, Sequence[str]], bool]:
    """A callback for devsmtp.MaildirSink that acts on mail for the instance's own addresses."""
    sender = app.settings.sender
    bounce_to = sender.bounce_address or sender.address

    def act(data: bytes, recipients: Sequence[str]) -> bool:
        if unsubscribes.handle(app, data, recipients) is not unsubscribes.Outcome.NOT_FOR_US:
            return True
        if unsubscribes.addressed_to(recipients, bounce_to):  # VERP +tags match too
            report = bounces.Report()
            if bounces.handle(app, data, report):
                log.info("%s", bounces.describe(report))
                return True
        return False

    return act
