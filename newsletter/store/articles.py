"""Queries over sources and articles: one function per question a stage asks."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, func, insert, select, update

from newsletter.models import Article, Enclosure, Image
from newsletter.store.schema import articles, sources

ARTICLE_COLUMNS = (
    articles.c.id,
    sources.c.name.label("source"),
    articles.c.guid,
    articles.c.slug,
    articles.c.title,
    articles.c.url,
    articles.c.author,
    articles.c.published_at,
    articles.c.updated_at,
    articles.c.summary,
    articles.c.excerpt,
    articles.c.content_html,
    articles.c.categories,
    articles.c.refs,
    articles.c.image,
    articles.c.enclosure,
    articles.c.content_hash,
)


def _article(row: Row[Any]) -> Article:
    return Article(
        id=row.id,
        source=row.source,
        guid=row.guid,
        slug=row.slug,
        title=row.title,
        url=row.url,
        author=row.author,
        published=row.published_at,
        updated=row.updated_at,
        summary=row.summary,
        excerpt=row.excerpt,
        content_html=row.content_html,
        categories=tuple(row.categories or ()),
        references=tuple(row.refs or ()),
        image=Image(**row.image) if row.image else None,
        enclosure=Enclosure(**row.enclosure) if row.enclosure else None,
        content_hash=row.content_hash,
    )


def _values(article: Article) -> dict[str, Any]:
    return {
        "slug": article.slug,
        "title": article.title,
        "url": article.url,
        "author": article.author,
        "published_at": article.published,
        "updated_at": article.updated,
        "summary": article.summary,
        "excerpt": article.excerpt,
        "content_html": article.content_html,
        "categories": list(article.categories),
        "refs": list(article.references),
        "image": asdict(article.image) if article.image else None,
        "enclosure": asdict(article.enclosure) if article.enclosure else None,
        "content_hash": article.content_hash,
    }


def _select() -> Any:
    return select(*ARTICLE_COLUMNS).join(sources, sources.c.id == articles.c.source_id)


# Create the source row on first sight, keep its location current; returns its id.
def ensure_source(conn: Connection, name: str, kind: str, location: str) -> int:
    found = conn.execute(select(sources.c.id).where(sources.c.name == name)).scalar()
    if found is not None:
        conn.execute(update(sources).where(sources.c.id == found).values(location=location))
        return int(found)
    result = conn.execute(insert(sources).values(name=name, kind=kind, location=location))
    return int(result.inserted_primary_key[0])


# Remember a remote source's validators for the next conditional GET.
def record_fetch(
    conn: Connection, name: str, etag: str | None, last_modified: str | None, when: datetime
) -> None:
    conn.execute(
        update(sources)
        .where(sources.c.name == name)
        .values(etag=etag, last_modified=last_modified, gathered_at=when)
    )


# The validators stored by the last fetch of a source: (etag, last_modified).
def fetch_validators(conn: Connection, name: str) -> tuple[str | None, str | None]:
    row = conn.execute(
        select(sources.c.etag, sources.c.last_modified).where(sources.c.name == name)
    ).first()
    return (row.etag, row.last_modified) if row else (None, None)


# The stored identity of (source, guid), to tell new from edited from unchanged.
def find_by_guid(conn: Connection, source_id: int, guid: str) -> tuple[int, str, str] | None:
    row = conn.execute(
        select(articles.c.id, articles.c.content_hash, articles.c.slug).where(
            and_(articles.c.source_id == source_id, articles.c.guid == guid)
        )
    ).first()
    return (row.id, row.content_hash, row.slug) if row else None


# Whether another article already owns a slug (slugs are unique across sources).
def slug_owner(conn: Connection, slug: str) -> int | None:
    return conn.execute(select(articles.c.id).where(articles.c.slug == slug)).scalar()


# Store a new article under its source; returns its id.
def insert_article(conn: Connection, source_id: int, article: Article, now: datetime) -> int:
    values = _values(article) | {"source_id": source_id, "guid": article.guid, "first_seen_at": now}
    return int(conn.execute(insert(articles).values(**values)).inserted_primary_key[0])


# Replace an edited article's fields; its guid and id never change.
def update_article(conn: Connection, article_id: int, article: Article) -> None:
    conn.execute(update(articles).where(articles.c.id == article_id).values(**_values(article)))


# One article by its public slug, if it is published by `now`.
def public_by_slug(conn: Connection, slug: str, now: datetime) -> Article | None:
    row = conn.execute(
        _select().where(and_(articles.c.slug == slug, articles.c.published_at <= now))
    ).first()
    return _article(row) if row else None


# Articles by id, in the order asked.
def by_ids(conn: Connection, ids: Iterable[int]) -> list[Article]:
    wanted = list(ids)
    rows = conn.execute(_select().where(articles.c.id.in_(wanted))).all()
    found = {row.id: _article(row) for row in rows}
    return [found[i] for i in wanted if i in found]


def _public_newest_first(now: datetime) -> Any:
    """The public articles in archive order, the one order the feeds and archive pages share."""
    return (
        _select()
        .where(articles.c.published_at <= now)
        .order_by(articles.c.published_at.desc(), articles.c.id.desc())
    )


# Public articles, newest first, streamed: the feeds and the archive read these.
def public_newest_first(conn: Connection, now: datetime) -> Iterator[Article]:
    for row in conn.execution_options(yield_per=500).execute(_public_newest_first(now)):
        yield _article(row)


# How many articles are public at `now`.
def public_count(conn: Connection, now: datetime) -> int:
    query = select(func.count()).select_from(articles).where(articles.c.published_at <= now)
    return int(conn.execute(query).scalar_one())


# Articles published in (start, end], oldest first: an issue's window.
def published_between(conn: Connection, start: datetime | None, end: datetime) -> list[Article]:
    query = _select().where(articles.c.published_at <= end)
    if start is not None:
        query = query.where(articles.c.published_at > start)
    rows = conn.execute(query.order_by(articles.c.published_at, articles.c.id)).all()
    return [_article(row) for row in rows]


# Articles published before `when`, newest first, streamed: previous neighbours.
def published_before(conn: Connection, when: datetime) -> Iterator[Article]:
    query = (
        _select()
        .where(articles.c.published_at < when)
        .order_by(articles.c.published_at.desc(), articles.c.id.desc())
    )
    for row in conn.execution_options(yield_per=50).execute(query):
        yield _article(row)


# Articles dated after `when`, oldest first, streamed: next neighbours and scheduled ones.
def published_after(conn: Connection, when: datetime) -> Iterator[Article]:
    query = (
        _select()
        .where(articles.c.published_at > when)
        .order_by(articles.c.published_at, articles.c.id)
    )
    for row in conn.execution_options(yield_per=50).execute(query):
        yield _article(row)
