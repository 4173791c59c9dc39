"""The three feed formats as one table: RSS 2.0 and Atom 1.0 via feedgen, JSON Feed 1.1 via json.

RSS and Atom are written from the same feedgen tree (built once per feed);
only the self link and the feed id change between them. feedgen takes the
last `link()` as the RSS channel link, so the site link always goes last.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from feedgen.util import xml_elem

from newsletter import __version__
from newsletter.feeds.items import FeedItem
from newsletter.models import Enclosure

ATOM_NS = "http://www.w3.org/2005/Atom"
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"


@dataclass(frozen=True, slots=True)
class Channel:
    """What a feed says about itself; `updated` comes from its items: a rebuild is byte-stable."""

    title: str
    description: str
    site_url: str
    language: str
    icon_url: str
    hub_url: str
    updated: datetime


@dataclass(frozen=True)
class Document:
    """One feed's channel and items; the feedgen tree is built once and shared by RSS and Atom."""

    channel: Channel
    items: Sequence[FeedItem]

    @cached_property
    def generator(self) -> FeedGenerator:
        return _generator(self.channel, self.items)


class _HubLink(BaseExtension):  # type: ignore[misc]
    """feedgen writes `rel="hub"` links only into Atom; RSS readers find the hub in an atom:link."""

    url = ""

    def extend_rss(self, rss_feed: Any) -> Any:
        if self.url:
            xml_elem(f"{{{ATOM_NS}}}link", rss_feed[0], href=self.url, rel="hub")
        return rss_feed


class _Attachment(BaseEntryExtension):  # type: ignore[misc]
    """feedgen 1.0 drops rel, type and length from Atom entry links, losing the enclosure;
    this writes it in both formats: RSS `<enclosure>`, Atom `<link rel="enclosure">`."""

    enclosure: Enclosure | None = None

    def _attributes(self) -> dict[str, str]:
        assert self.enclosure is not None
        return {"type": self.enclosure.type, "length": str(self.enclosure.length)}

    def extend_rss(self, item: Any) -> Any:
        if self.enclosure:
            xml_elem("enclosure", item, url=self.enclosure.url, **self._attributes())
        return item

    def extend_atom(self, entry: Any) -> Any:
        if self.enclosure:
            attributes = {"rel": "enclosure", **self._attributes()}
            # feedgen's Atom tree is un-namespaced (xmlns is set as a plain attribute)
            xml_elem("link", entry, href=self.enclosure.url, **attributes)
        return entry


def _add_entry(fg: FeedGenerator, item: FeedItem) -> None:
    entry = fg.add_entry(order="append")
    entry.id(item.id)
    entry.title(item.title)
    entry.link(href=item.link, rel="alternate", type="text/html")
    entry.published(item.published)
    entry.updated(item.updated)
    if item.author:
        entry.author(name=item.author)
        entry.dc.dc_creator(item.author)
    for category in item.categories:
        entry.category(term=category)
    if item.summary:
        entry.summary(html.escape(item.summary, quote=False), type="html")
    if item.content_html:
        entry.content(item.content_html, type="html")
    if item.image:
        size = {"width": item.image.width, "height": item.image.height}
        extra = {key: str(value) for key, value in size.items() if value}
        entry.media.content(url=item.image.url, medium="image", group=None, **extra)
    if item.enclosure:
        entry.attachment.enclosure = item.enclosure
        if item.is_podcast and item.enclosure.duration:
            entry.podcast.itunes_duration(item.enclosure.duration)


def _generator(channel: Channel, items: Sequence[FeedItem]) -> FeedGenerator:
    fg = FeedGenerator()
    fg.load_extension("dc", atom=False, rss=True)
    fg.load_extension("media")
    if any(item.is_podcast for item in items):
        fg.load_extension("podcast", atom=False, rss=True)
        fg.podcast.itunes_explicit("no")
    fg.register_extension("websub", _HubLink, None, atom=False, rss=True)
    fg.register_extension("attachment", BaseExtension, _Attachment)
    fg.websub.url = channel.hub_url
    fg.title(channel.title)
    fg.description(channel.description or channel.title)
    fg.language(channel.language)
    fg.updated(channel.updated)
    fg.generator("newsletter", version=__version__)
    if channel.icon_url:
        fg.icon(channel.icon_url)
        fg.image(url=channel.icon_url, title=channel.title, link=channel.site_url)
    for item in items:
        _add_entry(fg, item)
    return fg


def _set_links(document: Document, self_url: str, media_type: str) -> FeedGenerator:
    fg = document.generator
    links = [{"href": self_url, "rel": "self", "type": media_type}]
    if document.channel.hub_url:
        links.append({"href": document.channel.hub_url, "rel": "hub"})
    links.append({"href": document.channel.site_url, "rel": "alternate", "type": "text/html"})
    fg.link(links, replace=True)
    fg.id(self_url)
    return fg


def render_rss(document: Document, self_url: str) -> bytes:
    return bytes(_set_links(document, self_url, RSS.media_type).rss_str(pretty=True))


def render_atom(document: Document, self_url: str) -> bytes:
    return bytes(_set_links(document, self_url, ATOM.media_type).atom_str(pretty=True))


def _seconds(duration: str) -> int:
    total = 0
    for part in duration.split(":"):
        total = total * 60 + int(part)
    return total


def _json_item(item: FeedItem) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": item.id, "url": item.link, "title": item.title}
    if item.content_html:
        entry["content_html"] = item.content_html
    else:
        entry["content_text"] = item.summary or item.title
    if item.summary:
        entry["summary"] = item.summary
    entry["date_published"] = item.published.isoformat()
    entry["date_modified"] = item.updated.isoformat()
    if item.author:
        entry["authors"] = [{"name": item.author}]
    if item.categories:
        entry["tags"] = list(item.categories)
    if item.image:
        entry["image"] = item.image.url
    if item.enclosure:
        attachment = {
            "url": item.enclosure.url,
            "mime_type": item.enclosure.type,
            "size_in_bytes": item.enclosure.length,
        }
        if item.enclosure.duration:
            attachment["duration_in_seconds"] = _seconds(item.enclosure.duration)
        entry["attachments"] = [attachment]
    return entry


def render_json(document: Document, self_url: str) -> bytes:
    channel = document.channel
    feed: dict[str, Any] = {
        "version": JSON_FEED_VERSION,
        "title": channel.title,
        "home_page_url": channel.site_url,
        "feed_url": self_url,
        "description": channel.description,
        "language": channel.language,
    }
    if channel.icon_url:
        feed["icon"] = feed["favicon"] = channel.icon_url
    if channel.hub_url:
        feed["hubs"] = [{"type": "WebSub", "url": channel.hub_url}]
    feed["items"] = [_json_item(item) for item in document.items]
    return json.dumps(feed, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


@dataclass(frozen=True, slots=True)
class Format:
    """One output format: its file name in every feed folder, media type, label and writer."""

    filename: str
    media_type: str
    label: str
    render: Callable[[Document, str], bytes]


RSS = Format("rss.xml", "application/rss+xml", "RSS", render_rss)
ATOM = Format("atom.xml", "application/atom+xml", "Atom", render_atom)
JSON_FEED = Format("feed.json", "application/feed+json", "JSON Feed", render_json)
FORMATS = (RSS, ATOM, JSON_FEED)
