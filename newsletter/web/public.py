"""The public pages: the archive ("show all", paginated) and one page per article, shaped
like the seed page (previous / next teasers, show all, title, date, body, source, references).

Handlers are plain functions, so Starlette runs their database reads in its thread pool.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from newsletter.app import App
from newsletter.links import Links
from newsletter.models import Article, Teaser
from newsletter.sanitize import WEB_SCHEMES, absolute_url, clean_html
from newsletter.store import archive
from newsletter.store import articles as article_store

PAGE_SIZE = 20
PAGE_NUMBER = re.compile(r"^[1-9][0-9]{0,6}$")
MAX_SLUG = 200
STATIC = re.compile(r"^[a-z0-9-]{1,40}\.css$")


@dataclass(frozen=True, slots=True)
class ArticlePage:
    """What the article template shows; every URL in it already checked."""

    article: Article
    body_html: str
    image_url: str
    audio_url: str
    previous: Teaser | None
    next: Teaser | None


def teaser(article: Article, links: Links) -> Teaser:
    return Teaser(article.title, article.published, article.excerpt, links.article(article.slug))


def page_number(request: Request) -> int:
    """?page= as a positive whole number; anything else is the client's mistake (400)."""
    values = request.query_params.getlist("page")
    if not values:
        return 1
    if len(values) > 1 or not PAGE_NUMBER.match(values[0]):
        raise HTTPException(400, "The page number must be a whole number from 1.")
    return int(values[0])


def archive_page(app: App, page: int) -> tuple[list[Teaser], int]:
    """One page of teasers and the number of pages; a page past the end does not exist."""
    now = app.clock()
    with app.engine.connect() as conn:
        pages = max(1, math.ceil(article_store.public_count(conn, now) / PAGE_SIZE))
        if page > pages:
            raise HTTPException(404, f"The archive has {pages} page(s).")
        found = archive.public_page(conn, now, (page - 1) * PAGE_SIZE, PAGE_SIZE)
    return [teaser(article, app.links) for article in found], pages


def article_page(app: App, slug: str) -> ArticlePage:
    """A public article with its neighbours; scheduled and unknown slugs are both 404."""
    now = app.clock()
    with app.engine.connect() as conn:
        article = article_store.public_by_slug(conn, slug, now) if len(slug) <= MAX_SLUG else None
        if article is None:
            raise HTTPException(404, "There is no article at this address.")
        previous = archive.previous_public(conn, article)
        following = archive.next_public(conn, article, now)
    url = app.links.article(article.slug)
    audio = article.enclosure if article.enclosure and article.enclosure.is_audio else None
    return ArticlePage(
        article=article,
        body_html=clean_html(article.content_html, url),
        image_url=absolute_url(article.image.url, url, WEB_SCHEMES) if article.image else "",
        audio_url=absolute_url(audio.url, url, WEB_SCHEMES) if audio else "",
        previous=teaser(previous, app.links) if previous else None,
        next=teaser(following, app.links) if following else None,
    )


def routes(app: App, pages: Jinja2Templates) -> list[Route]:
    def show_archive(request: Request) -> Response:
        page = page_number(request)
        teasers, count = archive_page(app, page)
        context = {"teasers": teasers, "page": page, "pages": count}
        return pages.TemplateResponse(request, "web/archive.html", context)

    def show_article(request: Request) -> Response:
        context = {"page": article_page(app, request.path_params["slug"])}
        return pages.TemplateResponse(request, "web/article.html", context)

    def stylesheet(request: Request) -> Response:
        name = request.path_params["name"]
        if not STATIC.match(name):
            raise HTTPException(404, "No such file.")
        try:
            text, _, _ = pages.env.loader.get_source(pages.env, f"web/static/{name}")  # type: ignore[union-attr]
        except LookupError as exc:
            raise HTTPException(404, "No such file.") from exc
        headers = {"cache-control": "public, max-age=3600"}
        return Response(text, media_type="text/css; charset=utf-8", headers=headers)

    return [
        Route("/", show_archive),
        Route("/archive", show_archive),
        Route("/articles/{slug}", show_article),
        Route("/static/{name}", stylesheet),
    ]
