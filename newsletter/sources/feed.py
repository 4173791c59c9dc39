"""Remote RSS / Atom sources: one conditional GET per feed with httpx, parsed by feedparser.

The network is hostile: every fetch has a timeout and a size cap, a 304 means
"nothing new" (the caller keeps the ETag / Last-Modified it sent), and anything
else that is not a feed becomes one SourceError naming the URL. The bytes are
handed to feedparser as a stream, never as a string it might take for a path.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime
from time import struct_time
from typing import Any

import feedparser
import httpx

from newsletter import __version__
from newsletter.errors import SourceError
from newsletter.models import Enclosure, Image, RawEntry
from newsletter.sources import Batch

TIMEOUT_SECONDS = 20.0
MAX_BYTES = 5 * 1024 * 1024
MAX_REDIRECTS = 5
USER_AGENT = f"newsletter/{__version__} (feed gatherer)"


@dataclass(frozen=True, slots=True)
class Fetched:
    """One fetch: the entries read, and the validators to send next time."""

    batch: Batch
    etag: str | None
    last_modified: str | None
    not_modified: bool = False


def client(timeout: float = TIMEOUT_SECONDS) -> httpx.Client:
    """A client for many fetches (connection reuse); safe to share between threads."""
    return httpx.Client(
        timeout=timeout,
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        headers={
            "User-Agent": USER_AGENT,
            "Accept": "application/atom+xml, application/rss+xml, "
            "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1",
        },
    )


def fetch(
    http: httpx.Client,
    name: str,
    url: str,
    etag: str | None = None,
    last_modified: str | None = None,
    *,
    max_bytes: int = MAX_BYTES,
) -> Fetched:
    """GET `url` (conditionally when validators are known) and parse it; SourceError if unusable."""
    headers = {"If-None-Match": etag} if etag else {}
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        with http.stream("GET", url, headers=headers) as response:
            if response.status_code == httpx.codes.NOT_MODIFIED:
                return Fetched(Batch(), etag, last_modified, not_modified=True)
            if response.status_code != httpx.codes.OK:
                raise SourceError(
                    f"HTTP {response.status_code} {response.reason_phrase}".rstrip(),
                    where=url,
                    hint="the feed will be tried again at the next gather",
                )
            data = _read_capped(response, max_bytes, url)
            content_type = response.headers.get("content-type", "")
            final_url = str(response.url)
            validators = response.headers.get("etag"), response.headers.get("last-modified")
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise SourceError(f"could not fetch: {type(exc).__name__}: {exc}", where=url) from None
    return Fetched(parse(name, final_url, data, content_type), *validators)


def _read_capped(response: httpx.Response, max_bytes: int, url: str) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise SourceError(f"feed is too large ({int(declared):,} bytes)", where=url)
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise SourceError(f"feed is larger than {max_bytes:,} bytes", where=url)
        chunks.append(chunk)
    return b"".join(chunks)


def parse(name: str, url: str, data: bytes, content_type: str = "") -> Batch:
    """Entries of a feed document; `url` resolves relative links and names errors."""
    parsed = feedparser.parse(
        io.BytesIO(data),
        response_headers={"content-location": url, "content-type": content_type or "text/xml"},
    )
    if not parsed.get("version") and not parsed.entries:
        problem = parsed.get("bozo_exception")
        detail = f": {problem}" if problem else ""
        return Batch(errors=(SourceError(f"not an RSS or Atom feed{detail}", where=url),))
    entries: list[RawEntry] = []
    errors: list[SourceError] = []
    for index, item in enumerate(parsed.entries, start=1):
        try:
            entries.append(_entry(name, f"{url} entry {index}", item))
        except SourceError as exc:
            errors.append(exc)
    return Batch(entries=tuple(entries), errors=tuple(errors))


def _when(value: struct_time | None) -> datetime | None:
    """feedparser's dates are UTC struct_times."""
    return datetime(*value[:6], tzinfo=UTC) if value else None


def _entry(name: str, where: str, item: Any) -> RawEntry:
    guid = str(item.get("id") or item.get("link") or "").strip()
    title = str(item.get("title") or "").strip()
    published = _when(dict.get(item, "published_parsed")) or _when(dict.get(item, "updated_parsed"))
    missing = [
        what
        for what, value in (("id or link", guid), ("title", title), ("date", published))
        if not value
    ]
    if missing or published is None:
        raise SourceError(f"entry has no {' and no '.join(missing)}", where=where)
    content = item.get("content") or []
    body = content[0].get("value", "") if content else item.get("summary", "")
    # dict.get: feedparser's own get() maps a missing updated_parsed to published_parsed (and warns)
    updated = (
        _when(dict.get(item, "updated_parsed")) if dict.get(item, "published_parsed") else None
    )
    return RawEntry(
        source=name,
        guid=guid,
        title=title,
        published=published,
        updated=updated,
        body_html=str(body),
        where=where,
        link=str(item.get("link") or ""),
        author=str(item.get("author") or ""),
        categories=tuple(str(tag["term"]) for tag in item.get("tags") or () if tag.get("term")),
        image=_image(item),
        enclosure=_enclosure(item),
    )


def _image(item: Any) -> Image | None:
    for thumbnail in item.get("media_thumbnail") or ():
        if thumbnail.get("url"):
            return Image(url=str(thumbnail["url"]), alt=str(item.get("title") or ""))
    return None


def _enclosure(item: Any) -> Enclosure | None:
    for link in item.get("enclosures") or ():
        if link.get("href"):
            length = str(link.get("length") or "")
            return Enclosure(
                url=str(link["href"]),
                length=int(length) if length.isdigit() else 0,
                type=str(link.get("type") or "application/octet-stream"),
                duration=str(item.get("itunes_duration") or ""),
            )
    return None
