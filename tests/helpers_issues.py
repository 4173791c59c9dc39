"""Articles for issue tests, stored through the real store functions (not via gather)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Connection

from newsletter.app import App
from newsletter.models import Article, Image
from newsletter.store import articles

BODY = (
    "<p>Rolling back the clock in multiple sclerosis means winning back some of the "
    "function the disease took: a steadier walk, a sharper memory, the energy for a full "
    "day. In the NIH study, 24 people received high-dose immunosuppression; three years "
    "later <strong>78.4%</strong> were in remission.</p>"
    '<p>Read the <a href="https://notes.example.org/archive">archive</a> for more – '
    "it’s all there.</p>"
)


def article(
    slug: str,
    published: datetime,
    *,
    categories: Sequence[str] = ("research",),
    title: str = "",
    body: str = BODY,
    excerpt: str = "",
    image: Image | None = None,
    author: str = "Dana Whitfield, PharmD",
    references: Sequence[str] = (),
) -> Article:
    return Article(
        source="content",
        guid=f"content:{slug}",
        slug=slug,
        title=title or slug.replace("-", " ").title(),
        url=f"https://notes.example.org/articles/{slug}",
        published=published,
        updated=published,
        content_html=body,
        excerpt=excerpt,
        content_hash=hashlib.sha256((title + body).encode()).hexdigest(),
        author=author,
        categories=tuple(categories),
        references=tuple(references),
        image=image,
    )


def store(conn: Connection, item: Article, now: datetime) -> Article:
    """Insert through the store and hand back the article with its id."""
    source_id = articles.ensure_source(conn, "content", "markdown", "content")
    new_id = articles.insert_article(conn, source_id, item, now)
    return articles.by_ids(conn, [new_id])[0]


def add(app: App, *items: Article) -> list[Article]:
    with app.engine.begin() as conn:
        return [store(conn, item, app.clock()) for item in items]


def days(count: float) -> timedelta:
    return timedelta(days=count)
