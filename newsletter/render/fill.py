"""Per-subscriber fill of a frozen issue: the only per-message work of a send.

The issue's HTML and text were rendered and inlined once; here only markers are
replaced. Values are escaped for HTML exactly once (a subscriber named
``<script>`` or ``{{ 7*7 }}`` shows as text), and the parsed Filler is cached
per issue so a send of 100 000 messages splits the frozen text once.
"""

from __future__ import annotations

import html
from functools import lru_cache

from newsletter.errors import RenderError
from newsletter.links import Links
from newsletter.models import Issue, Subscriber
from newsletter.placeholders import FIELDS, Filler
from newsletter.sanitize import one_line
from newsletter.tokens import Purpose, Tokens

# A greeting still reads well for a subscriber without a name, and on the web copy.
NAMELESS = "there"


def subscriber_values(links: Links, tokens: Tokens, subscriber: Subscriber) -> dict[str, str]:
    """What one subscriber's copy needs: their name and their signed personal links."""
    unsubscribe, preferences = tokens.make_each(
        (Purpose.UNSUBSCRIBE, Purpose.PREFERENCES), subscriber.id, subscriber.email
    )
    return {
        "name": one_line(subscriber.name) or NAMELESS,
        "email": one_line(subscriber.email),
        "unsubscribe_url": links.unsubscribe(unsubscribe),
        "preferences_url": links.preferences(preferences),
    }


def public_values(links: Links) -> dict[str, str]:
    """Values for the web copy: nobody's name, and no personal link to leak."""
    return {
        "name": NAMELESS,
        "email": "",
        "unsubscribe_url": links.home(),
        "preferences_url": links.home(),
    }


@lru_cache(maxsize=16)
def _fillers(frozen_html: str, frozen_text: str) -> tuple[Filler, Filler]:
    """Parsed once per issue; strings cache their hash, so a lookup costs next to nothing."""
    return Filler.parse(frozen_html), Filler.parse(frozen_text)


def escape_html(value: str) -> str:
    """How a value enters the HTML part; the sender's byte-level splice must use this too."""
    return html.escape(value, quote=True)


def personalise(issue: Issue, values: dict[str, str]) -> tuple[str, str]:
    """(html, text) of `issue` for one subscriber; the same function serves preview and send."""
    missing = FIELDS - values.keys()
    if missing:
        raise RenderError(
            f"no value for placeholder(s) {', '.join(sorted(missing))}",
            where=f"issue {issue.list_name}/{issue.number}",
        )
    html_filler, text_filler = _fillers(issue.html, issue.text)
    return html_filler.fill(values, escape_html), text_filler.fill(values)
