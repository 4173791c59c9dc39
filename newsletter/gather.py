"""Gather: read every source, normalise and sanitise its entries, store new and edited articles.

Per entry: UTC dates (naive ones are in the site time zone), a unique slug, our
article URL, absolute image/enclosure/body URLs, an excerpt, category slugs, an
allow-listed body (see sanitize.py) and a sha256 content hash over all of that.
Articles are keyed by (source, guid): an unchanged hash writes nothing, a changed
one updates the fields in place (the id and guid never change, the `updated`
date moves), so a second run stores nothing. Each source is written in one
transaction; an entry that fails is reported and leaves stored rows untouched.
"""

from __future__ import annotations

import hashlib
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from newsletter.config import RemoteSource, Settings
from newsletter.errors import SourceError
from newsletter.models import Article, Enclosure, Image, RawEntry
from newsletter.sanitize import (
    WEB_SCHEMES,
    absolute_url,
    clean_html,
    clean_text,
    excerpt,
    html_to_text,
    slugify,
)
from newsletter.sources import LOCAL_SOURCE, Batch, feed, markdown
from newsletter.store import Connection, articles

if TYPE_CHECKING:
    from newsletter.app import App


log = logging.getLogger(__name__)
MAX_PARALLEL_FETCHES = 8
MAX_SLUG_SUFFIX = 1000


@dataclass
class GatherReport:
    """What one gather did; `errors` holds one printable line per failed file, entry or feed."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    new_ids: list[int] = field(default_factory=list)

    def fail(self, error: SourceError) -> None:
        self.failed += 1
        self.errors.append(str(error))

    def add(self, other: GatherReport) -> None:
        self.new += other.new
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.failed += other.failed
        self.errors.extend(other.errors)
        self.new_ids.extend(other.new_ids)


def gather(app: App) -> GatherReport:
    """Pull the content folder and every remote feed into the store; returns the counts."""
    report = GatherReport()
    settings = app.settings
    folder = settings.path(settings.paths.content)
    batch = markdown.read_folder(folder, label=_label(settings, folder))
    report.add(store_batch(app, LOCAL_SOURCE, "markdown", str(folder), batch))
    report.add(_gather_remote(app))
    return report


def _label(settings: Settings, folder: Path) -> str:
    """The folder as the user wrote it (content), not as an absolute path."""
    try:
        return folder.resolve().relative_to(settings.instance_dir.resolve()).as_posix()
    except ValueError:
        return str(folder)


def _gather_remote(app: App) -> GatherReport:
    """Fetch every remote feed at once (conditional GETs), then store them one by one."""
    report = GatherReport()
    remotes = [s for s in app.settings.gather.sources if _usable_name(s, report)]
    if not remotes:
        return report
    with app.engine.connect() as conn:
        known = {remote.name: articles.fetch_validators(conn, remote.name) for remote in remotes}

    def one(remote: RemoteSource) -> feed.Fetched | SourceError:
        try:
            return feed.fetch(http, remote.name, remote.url, *known[remote.name])
        except SourceError as exc:
            return exc

    with feed.client() as http, ThreadPoolExecutor(min(MAX_PARALLEL_FETCHES, len(remotes))) as pool:
        results = list(pool.map(one, remotes))
    not_modified: list[tuple[str, feed.Fetched]] = []
    for remote, result in zip(remotes, results, strict=True):
        if isinstance(result, SourceError):
            log.warning("gather: %s", result)
            report.fail(result)
        elif result.not_modified:
            not_modified.append((remote.name, result))
        else:
            validators = (result.etag, result.last_modified)
            stored = store_batch(
                app, remote.name, "feed", remote.url, result.batch, validators=validators
            )
            report.add(stored)
    _record_not_modified(app, not_modified)
    return report


def _record_not_modified(app: App, fetched: list[tuple[str, feed.Fetched]]) -> None:
    """One transaction for every feed that answered 304: there is nothing else to write,
    and a commit per feed would cost more than the fetches (a disk sync each)."""
    if not fetched:
        return
    now = app.clock()
    with app.engine.begin() as conn:
        for name, result in fetched:
            articles.record_fetch(conn, name, result.etag, result.last_modified, now)
    log.info("gather: %d feeds not modified since the last fetch", len(fetched))


def _usable_name(remote: RemoteSource, report: GatherReport) -> bool:
    if remote.name != LOCAL_SOURCE:
        return True
    report.fail(
        SourceError(
            f"source name {LOCAL_SOURCE!r} is reserved for the content folder",
            where=f"gather.sources ({remote.url})",
            hint="rename this source",
        )
    )
    return False


def store_batch(
    app: App,
    name: str,
    kind: str,
    location: str,
    batch: Batch,
    *,
    validators: tuple[str | None, str | None] | None = None,
) -> GatherReport:
    """Store one source's entries in one transaction; bad entries are counted, not stored."""
    report = GatherReport()
    for error in batch.errors:
        report.fail(error)
    now = app.clock()
    seen: dict[str, str] = {}
    with app.engine.begin() as conn:
        source_id = articles.ensure_source(conn, name, kind, location)
        for raw in batch.entries:
            entry = replace(raw, guid=clean_text(raw.guid).strip())
            if not entry.guid:
                report.fail(SourceError("the id is empty once cleaned", where=entry.where))
                continue
            if entry.guid in seen:
                problem = f"duplicate id {entry.guid!r} (also {seen[entry.guid]})"
                report.fail(SourceError(problem, where=entry.where, hint="give each its own id"))
                continue
            seen[entry.guid] = entry.where
            try:
                _upsert(conn, app, source_id, entry, now=now, report=report)
            except SourceError as exc:
                report.fail(exc)
        if validators is not None:
            articles.record_fetch(conn, name, *validators, now)
    log.info(
        "gather %s: %d new, %d updated, %d unchanged, %d failed",
        name,
        report.new,
        report.updated,
        report.unchanged,
        report.failed,
    )
    return report


def _upsert(
    conn: Connection,
    app: App,
    source_id: int,
    entry: RawEntry,
    *,
    now: datetime,
    report: GatherReport,
) -> None:
    existing = articles.find_by_guid(conn, source_id, entry.guid)
    own_id = existing[0] if existing else None
    if existing and not entry.slug:
        slug = existing[2]
    else:
        slug = _unique_slug(
            conn, entry.slug or slugify(entry.title) or _fallback_slug(entry), own_id
        )
    zone = ZoneInfo(app.settings.site.timezone)
    url = app.links.article(slug)
    article = normalise(entry, slug=slug, url=url, site=app.links.home(), zone=zone)
    if existing is None:
        report.new_ids.append(articles.insert_article(conn, source_id, article, now))
        report.new += 1
    elif existing[1] == article.content_hash:
        report.unchanged += 1
    else:
        if entry.updated is None:
            article = replace(article, updated=max(now, article.published))
        articles.update_article(conn, existing[0], article)
        report.updated += 1


def _fallback_slug(entry: RawEntry) -> str:
    """For a title with nothing sluggable in it (only emoji, say): stable, from the guid."""
    return "article-" + hashlib.sha256(f"{entry.source}:{entry.guid}".encode()).hexdigest()[:10]


def _unique_slug(conn: Connection, wanted: str, own_id: int | None) -> str:
    """`wanted`, or `wanted-2`, `-3`… when a different article already owns it."""
    candidate = wanted
    for number in range(2, MAX_SLUG_SUFFIX):
        owner = articles.slug_owner(conn, candidate)
        if owner is None or owner == own_id:
            return candidate
        candidate = f"{wanted}-{number}"
    raise SourceError(f"slug {wanted!r} is taken {MAX_SLUG_SUFFIX} times", hint="set a slug")


def _utc(moment: datetime, zone: tzinfo, where: str) -> datetime:
    """Aware UTC; a naive time is read in the site's time zone."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)
    try:
        return aware.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 shifted past the calendar's edge
        raise SourceError(f"date {moment.isoformat()} is out of range", where=where) from None


def normalise(entry: RawEntry, *, slug: str, url: str, site: str, zone: tzinfo) -> Article:
    """The stored form of `entry` under `slug`/`url`, with its content hash.

    Relative URLs (body, image, enclosure) resolve against the entry's own link when
    it has one (a remote feed), else against the site's home `site`; a bare
    "#note" in the body points into the article at `url`.
    """
    base = absolute_url(entry.link, site, WEB_SCHEMES) or site
    title = " ".join(clean_text(entry.title).split())
    if not title:
        raise SourceError("title is empty once cleaned", where=entry.where)
    body = clean_html(entry.body_html, base, page=url)
    summary = clean_text(entry.summary).strip()
    published = _utc(entry.published, zone, entry.where)
    updated = _utc(entry.updated, zone, entry.where) if entry.updated else published
    article = Article(
        source=entry.source,
        guid=entry.guid,
        slug=slug,
        title=title,
        url=url,
        published=published,
        updated=max(updated, published),
        content_html=body,
        excerpt=excerpt(summary or html_to_text(body)),
        content_hash="",
        author=clean_text(entry.author).strip(),
        categories=_categories(entry.categories),
        summary=summary,
        references=tuple(text for ref in entry.references if (text := clean_text(ref).strip())),
        image=_image(entry.image, base),
        enclosure=_enclosure(entry.enclosure, base),
    )
    return replace(article, content_hash=content_hash(article))


def _categories(names: tuple[str, ...]) -> tuple[str, ...]:
    slugs = (slugify(clean_text(name)) for name in names)
    return tuple(dict.fromkeys(slug for slug in slugs if slug))


def _image(image: Image | None, base: str) -> Image | None:
    url = absolute_url(image.url, base, WEB_SCHEMES) if image else ""
    if not image or not url:
        return None
    return replace(image, url=url, alt=clean_text(image.alt).strip())


def _enclosure(enclosure: Enclosure | None, base: str) -> Enclosure | None:
    url = absolute_url(enclosure.url, base, WEB_SCHEMES) if enclosure else ""
    if not enclosure or not url:
        return None
    return replace(
        enclosure,
        url=url,
        type=clean_text(enclosure.type).strip(),
        duration=clean_text(enclosure.duration).strip(),
    )


def content_hash(article: Article) -> str:
    """sha256 over every stored field except the id and the hash itself."""
    fields: dict[str, Any] = asdict(article)
    fields.pop("id")
    fields.pop("content_hash")
    payload = json.dumps(fields, sort_keys=True, ensure_ascii=False, default=datetime.isoformat)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()
