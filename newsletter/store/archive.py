"""Read queries for the public archive pages: a page of articles, and an article's neighbours.

Neighbours are ordered by (published_at, id), the same order as the archive,
so two articles published in the same second still link to each other.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, and_, or_

from newsletter.models import Article
from newsletter.store.articles import _article, _public_newest_first, _select
from newsletter.store.schema import articles


# One page of the archive: public articles, newest first.
def public_page(conn: Connection, now: datetime, offset: int, limit: int) -> list[Article]:
    query = _public_newest_first(now).offset(offset).limit(limit)
    return [_article(row) for row in conn.execute(query)]


# The article just older than `article`: its "previous" teaser.
def previous_public(conn: Connection, article: Article) -> Article | None:
    query = (
        _select()
        .where(
            or_(
                articles.c.published_at < article.published,
                and_(articles.c.published_at == article.published, articles.c.id < article.id),
            )
        )
        .order_by(articles.c.published_at.desc(), articles.c.id.desc())
        .limit(1)
    )
    row = conn.execute(query).first()
    return _article(row) if row else None


# The public article just newer than `article`: its "next" teaser (scheduled ones stay hidden).
def next_public(conn: Connection, article: Article, now: datetime) -> Article | None:
    query = (
        _select()
        .where(
            articles.c.published_at <= now,
            or_(
                articles.c.published_at > article.published,
                and_(articles.c.published_at == article.published, articles.c.id > article.id),
            ),
        )
        .order_by(articles.c.published_at, articles.c.id)
        .limit(1)
    )
    row = conn.execute(query).first()
    return _article(row) if row else None
