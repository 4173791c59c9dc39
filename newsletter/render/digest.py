"""An issue plan to its frozen HTML and text: view data → templates → premailer once.

The templates see plain view data built here: dates formatted in the list's time
zone, untrusted text neutralised so it can never carry a placeholder marker,
sanitised article HTML as Markup, images scaled to the 560 px column. The
result still holds the per-subscriber markers; `fill.personalise` fills them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from jinja2 import Environment
from markupsafe import Markup

from newsletter.compose import IssuePlan, Neighbours, excerpt, teaser
from newsletter.config import SenderSettings, SiteSettings
from newsletter.links import Links
from newsletter.models import Article, Image, Teaser
from newsletter.placeholders import neutralise
from newsletter.render.env import render
from newsletter.render.inline import inline
from newsletter.render.text import text_part, wrap

COLUMN_PX = 560
# Keeps a client from filling the inbox preview with body text after the preheader.
PREHEADER_PADDING = "\u034f\u00a0" * 60


@dataclass(frozen=True, slots=True)
class Rendered:
    """An issue's frozen parts, markers still in place."""

    html: str
    text: str


def long_date(when: datetime, zone: ZoneInfo) -> str:
    """'July 29, 2015', in the list's time zone (UTC stays inside)."""
    local = when.astimezone(zone)
    return f"{local:%B} {local.day}, {local.year}"


def _image(image: Image | None) -> dict[str, Any] | None:
    """Width and height in pixels for the column, so layouts hold before images load."""
    if image is None:
        return None
    width, height = image.width, image.height
    if width and width > COLUMN_PX:
        height = round(height * COLUMN_PX / width) if height else None
        width = COLUMN_PX
    return {
        "url": image.url,
        "alt": neutralise(image.alt),
        "width": width or COLUMN_PX,
        "height": height,
    }


def _teaser(teaser: Teaser | None, zone: ZoneInfo) -> dict[str, str] | None:
    if teaser is None:
        return None
    return {
        "title": neutralise(teaser.title),
        "date": long_date(teaser.published, zone),
        "excerpt": neutralise(teaser.excerpt),
        "url": teaser.url,
    }


def _article(
    article: Article, around: Neighbours, links: Links, zone: ZoneInfo, full: bool
) -> dict[str, Any]:
    body = neutralise(article.content_html) if full else ""
    return {
        "title": neutralise(article.title),
        "url": links.article(article.slug),
        "date": long_date(article.published, zone),
        "author": neutralise(article.author),
        "excerpt": neutralise(excerpt(article)),
        "html": Markup(body),  # sanitised by gather (nh3 allow-list)
        "text": text_part(body),
        "image": _image(article.image),
        "references": [neutralise(ref) for ref in article.references],
        "previous": _teaser(around.previous, zone),
        "next": _teaser(around.next, zone),
    }


def context(
    plan: IssuePlan, site: SiteSettings, sender: SenderSettings, links: Links, zone: ZoneInfo
) -> dict[str, Any]:
    """What the digest templates see; the same for the HTML and the text part."""
    full = plan.mode == "full"
    return {
        "site": {"title": site.title, "language": site.language},
        "sender": {"name": sender.name, "postal_address": sender.postal_address},
        "list": {"name": plan.list_name, "title": plan.list_title},
        "number": plan.number,
        "subject": neutralise(plan.subject),
        "preheader": neutralise(plan.preheader),
        "preheader_padding": PREHEADER_PADDING,
        "date": long_date(plan.window_end, zone),
        "mode": plan.mode,
        "view_url": links.issue(plan.list_name, plan.number)
        + (f"?variant={quote(plan.variant)}" if plan.variant else ""),
        "archive_url": links.archive(),
        "home_url": links.home(),
        "previous": _teaser(plan.previous, zone),
        "next": _teaser(plan.next, zone),
        "updated": [_teaser(teaser(article, links), zone) for article in plan.updated],
        "articles": [
            _article(article, around, links, zone, full)
            for article, around in zip(plan.articles, plan.neighbours, strict=True)
        ],
    }


def render_issue(env: Environment, view: dict[str, Any], template: str) -> Rendered:
    """Both parts of one issue; premailer runs here, once, never per subscriber."""
    where = f"issue {view['list']['name']}/{view['number']}"
    page = render(env, f"email/{template}.html", view, where)
    text = render(env, f"email/{template}.txt", view, where)
    return Rendered(html=inline(page), text=wrap(text))
