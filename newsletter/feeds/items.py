"""Articles made fit for feed readers: one FeedItem per article, shared by every format.

Everything a reader receives passes through here once: text loses the control
characters XML cannot carry, HTML is sanitised again (the store is trusted for
nothing that leaves the site) with every URL made absolute, and the id is
derived from (source, guid) alone so an edit never makes readers see a new item.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime
from hashlib import sha256
from urllib.parse import quote, urljoin, urlsplit

import nh3

from newsletter.links import Links
from newsletter.models import Article, Enclosure, Image

NOT_XML_CHARACTER = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
URL_ATTRIBUTES = frozenset({"href", "src", "cite", "poster"})
WEB_SCHEMES = frozenset({"http", "https"})
LINK_SCHEMES = WEB_SCHEMES | {"mailto"}
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
        return self.enclosure is not None and self.enclosure.type.startswith("audio/")


def clean_text(value: str) -> str:
    """Drop the characters XML 1.0 cannot hold (lxml refuses them, readers choke on them)."""
    return NOT_XML_CHARACTER.sub("", value)


def article_id(source: str, guid: str) -> str:
    """The permanent feed id: a name-based UUID of (source, guid), nothing that can be edited."""
    name = f"newsletter:{quote(source, safe='')}:{guid}"
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, name)}"


def category_slug(name: str) -> str:
    """A path-safe folder name for a category feed ([a-z0-9-] only, never empty)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:60].strip("-")
    return slug or "c-" + sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:10]


def absolute_url(value: str, base: str, schemes: frozenset[str] = WEB_SCHEMES) -> str | None:
    """`value` resolved against `base`, or None when it is not a URL a reader may follow."""
    resolved = urljoin(base, clean_text(value).strip())
    parts = urlsplit(resolved)
    if parts.scheme not in schemes or (parts.scheme in WEB_SCHEMES and not parts.netloc):
        return None
    return resolved


def safe_html(html: str, base: str) -> str:
    """Sanitised HTML with absolute URLs: no script, frame, handler or javascript: link survives."""

    def absolute(_tag: str, attribute: str, value: str) -> str | None:
        if attribute in URL_ATTRIBUTES:
            return absolute_url(value, base, LINK_SCHEMES)
        return value

    return nh3.clean(clean_text(html), attribute_filter=absolute)


def _image(image: Image | None, base: str) -> Image | None:
    url = absolute_url(image.url, base) if image else None
    if image is None or url is None:
        return None
    return Image(url=url, alt=clean_text(image.alt), width=image.width, height=image.height)


def _enclosure(enclosure: Enclosure | None, base: str) -> Enclosure | None:
    url = absolute_url(enclosure.url, base) if enclosure else None
    if enclosure is None or url is None or not re.match(r"^[\w.+-]+/[\w.+-]+$", enclosure.type):
        return None
    duration = enclosure.duration if DURATION.match(enclosure.duration) else ""
    return Enclosure(
        url=url, length=max(enclosure.length, 0), type=enclosure.type, duration=duration
    )


def to_item(article: Article, links: Links, full_content: bool) -> FeedItem:
    """The feed view of an article; its own page is the link when its URL is not a web URL."""
    link = absolute_url(article.url, links.home()) or links.article(article.slug)
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
        content_html=safe_html(article.content_html, link) if full_content else "",
        image=_image(article.image, link),
        enclosure=_enclosure(article.enclosure, link),
    )
