"""Which feeds exist and how they reach disk: a table of specs (site-wide, one per category)
crossed with the table of formats, in one loop.

Layout under the feeds folder (also the URL layout under /feeds/):
    rss.xml  atom.xml  feed.json                      every public article
    category/<slug>/{rss.xml,atom.xml,feed.json}      articles in that category
Files are written to a temporary file in the same folder and renamed into place,
and only when their bytes changed, so a file's mtime is an honest Last-Modified.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from newsletter.app import App
from newsletter.config import Settings
from newsletter.feeds.formats import FORMATS, Channel, Document
from newsletter.feeds.items import FeedItem, category_slug, to_item
from newsletter.links import Links
from newsletter.models import Article
from newsletter.sanitize import clean_text
from newsletter.store import articles as article_store
from newsletter.websub import Ping, publish

CATEGORY_FOLDER = "category"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """One feed: where its files live (relative to the feeds folder) and what it is called."""

    folder: str
    title: str

    def path(self, filename: str) -> str:
        return f"{self.folder}/{filename}" if self.folder else filename


@dataclass(frozen=True, slots=True)
class FeedReport:
    """What a build did to the feeds folder, by relative path."""

    written: tuple[str, ...]
    unchanged: tuple[str, ...]
    removed: tuple[str, ...] = ()
    pings: tuple[Ping, ...] = ()

    def summary(self) -> str:
        line = (
            f"feeds: {len(self.written)} written, {len(self.unchanged)} unchanged, "
            f"{len(self.removed)} removed"
        )
        failed = [ping for ping in self.pings if not ping.ok]
        if self.pings:
            line += f"; hub pinged for {len(self.pings)} feeds, {len(failed)} failed"
        return line


def collect(
    articles: Iterable[Article], links: Links, max_items: int, full_content: bool, site_title: str
) -> list[tuple[FeedSpec, list[FeedItem]]]:
    """Fill every feed with its newest `max_items` articles from a newest-first stream.

    Each article becomes a FeedItem once, however many feeds it lands in.
    """
    site = FeedSpec("", site_title)
    buckets: dict[FeedSpec, list[FeedItem]] = {site: []}
    specs: dict[str, FeedSpec] = {}
    for article in articles:
        targets = [site]
        for name in (clean_text(name).strip() for name in article.categories):
            slug = category_slug(name) if name else ""
            if slug and slug not in specs:
                specs[slug] = FeedSpec(f"{CATEGORY_FOLDER}/{slug}", f"{site_title}: {name}")
            if slug and specs[slug] not in targets:
                targets.append(specs[slug])
        item: FeedItem | None = None
        for spec in targets:
            bucket = buckets.setdefault(spec, [])
            if len(bucket) < max_items:
                item = item or to_item(article, links, full_content)
                bucket.append(item)
    return sorted(buckets.items(), key=lambda pair: pair[0].folder)


def _channel(settings: Settings, links: Links, items: list[FeedItem], title: str) -> Channel:
    return Channel(
        title=clean_text(title),
        description=clean_text(settings.site.description),
        site_url=links.home(),
        language=settings.site.language,
        icon_url=settings.site.icon_url,
        hub_url=settings.feeds.hub_url,
        updated=max((item.updated for item in items), default=EPOCH),
    )


def build_feeds(
    articles: Iterable[Article], settings: Settings, links: Links
) -> Iterator[tuple[str, bytes]]:
    """Every feed file as (relative path, bytes): the specs × formats loop."""
    feeds = settings.feeds
    filled = collect(articles, links, feeds.max_items, feeds.full_content, settings.site.title)
    for spec, items in filled:
        document = Document(_channel(settings, links, items, spec.title), items)
        for fmt in FORMATS:
            path = spec.path(fmt.filename)
            yield path, fmt.render(document, links.feed(path))


def write_if_changed(path: Path, data: bytes) -> bool:
    """Atomically replace `path` with `data` unless it already holds exactly these bytes."""
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return True


def _remove_stale(folder: Path, keep: set[str]) -> tuple[str, ...]:
    """Delete category feeds whose category no longer has public articles."""
    removed = []
    names = {fmt.filename for fmt in FORMATS}
    for path in sorted(folder.glob(f"{CATEGORY_FOLDER}/*/*")):
        relative = path.relative_to(folder).as_posix()
        if path.name in names and relative not in keep:
            path.unlink()
            removed.append(relative)
            if not any(path.parent.iterdir()):
                path.parent.rmdir()
    return tuple(removed)


def write_feeds(app: App) -> FeedReport:
    """Rebuild every feed from the store, write what changed, ping the hub about it."""
    settings = app.settings
    folder = settings.path(settings.paths.feeds)
    written, unchanged = [], []
    with app.engine.connect() as conn:
        public = article_store.public_newest_first(conn, app.clock())
        for relative, data in build_feeds(public, settings, app.links):
            changed = write_if_changed(folder / relative, data)
            (written if changed else unchanged).append(relative)
    removed = _remove_stale(folder, set(written) | set(unchanged))
    pings: tuple[Ping, ...] = ()
    if settings.feeds.hub_url and written:
        pings = publish(settings.feeds.hub_url, [app.links.feed(path) for path in written])
    return FeedReport(tuple(written), tuple(unchanged), removed, pings)
