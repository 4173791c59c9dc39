"""Articles made fit for feed readers: one FeedItem per article, shared by every format.

Everything a reader receives passes through here once: text loses the control
characters XML cannot carry, HTML is sanitised again (the store is trusted for
nothing that leaves the site) with every URL made absolute, and the id is
derived from (source, guid) alone so an edit never makes readers see a new item.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from hashlib import sha256
from urllib.parse import quote, urlsplit

from newsletter.links import Links
from newsletter.models import Article, Enclosure, Image
from newsletter.sanitize import WEB_SCHEMES, absolute_url, clean_html, clean_text, slugify

DURATION = re.compile(r"^(?:\d{1,2}:)?(?:\d{1,2}:)?\d{1,6}$")


@dataclass(frozen=True, slots=True)
class FeedItem:
    """What every format writes for one article: clean text, safe HTML, absolute URLs."""

    id: str
    link: str
    title: str
    published: datetime
    updated: datetime
    author: str
    categories: tuple[str, ...]
    summary: str
    content_html: str
    image: Image | None
    enclosure: Enclosure | None

    @property
    def is_podcast(self) -> bool:
        return self.enclosure is not None and self.enclosure.is_audio


def article_id(source: str, guid: str) -> str:
    """The permanent feed id: a name-based UUID of (source, guid), nothing that can be edited."""
    name = f"newsletter:{quote(source, safe='')}:{guid}"
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, name)}"


def category_slug(name: str) -> str:
    """The folder of a category's feeds: word characters and hyphens only, never empty."""
    return slugify(name) or "c-" + sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:10]


def _web_url(value: str, base: str) -> str | None:
    """An absolute http(s) URL with a host, or None: what a feed may point a reader to."""
    url = absolute_url(value, base, WEB_SCHEMES)
    return url if url and urlsplit(url).netloc else None


def _image(image: Image | None, base: str) -> Image | None:
    url = _web_url(image.url, base) if image else None
    if image is None or url is None:
        return None
    return Image(url=url, alt=clean_text(image.alt), width=image.width, height=image.height)


def _enclosure(enclosure: Enclosure | None, base: str) -> Enclosure | None:
    url = _web_url(enclosure.url, base) if enclosure else None
    if enclosure is None or url is None or not re.match(r"^[\w.+-]+/[\w.+-]+$", enclosure.type):
        return None
    duration = enclosure.duration if DURATION.match(enclosure.duration) else ""
    return Enclosure(
        url=url, length=max(enclosure.length, 0), type=enclosure.type, duration=duration
    )


def to_item(article: Article, links: Links, full_content: bool) -> FeedItem:
    """The feed view of an article; its own page is the link when its URL is not a web URL."""
    link = _web_url(article.url, links.home()) or links.article(article.slug)
    summary = clean_text(article.summary or article.excerpt).strip()
    return FeedItem(
        id=article_id(article.source, article.guid),
        link=link,
        title=clean_text(article.title).strip() or link,
        published=article.published,
        updated=max(article.updated, article.published),
        author=clean_text(article.author).strip(),
        categories=tuple(c for c in (clean_text(c).strip() for c in article.categories) if c),
        summary=summary,
        content_html=clean_html(article.content_html, link) if full_content else "",
        image=_image(article.image, link),
        enclosure=_enclosure(article.enclosure, link),
    )
