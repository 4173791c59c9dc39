"""The web application: every route of the public site in one Starlette app.

Feeds (cheap conditional GETs), the archive and article pages, and the routes
other modules own (subscription pages, issue web copies) are mounted here; the security headers,
gzip and the error pages apply to all of them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware

from newsletter.app import App
from newsletter.feeds import FORMATS
from newsletter.feedstats import LOG_FILE, RequestLog
from newsletter.web import feeds, issues, public, subscription
from newsletter.web.http import SecurityHeaders, http_error, server_error, templates


def local(url: str) -> str:
    """A site URL without scheme and host, so pages link within whatever host serves them."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def autodiscovery(app: App) -> list[dict[str, str]]:
    """The site-wide feeds every page advertises with <link rel="alternate">."""
    title = app.settings.site.title
    return [
        {
            "type": fmt.media_type,
            "title": f"{title} ({fmt.label})",
            "label": fmt.label,
            "href": app.links.feed(fmt.filename),
        }
        for fmt in FORMATS
    ]


def create_app(app: App) -> Starlette:
    settings = app.settings
    base_path = urlsplit(settings.site.base_url).path
    page_globals: dict[str, Any] = {
        "site": settings.site,
        "links": app.links,
        "feeds": autodiscovery(app),
        "static_url": lambda name: f"{base_path}/static/{name}",
    }
    pages = templates(settings, page_globals)
    pages.env.filters["local"] = local
    requests = RequestLog(
        settings.path(Path(LOG_FILE)),
        max_bytes=int(settings.web.request_log_max_mb * 1024 * 1024),
        keep=settings.web.request_log_keep,
    )
    # feeds carry their own gzip (cached, with its own ETag); the middleware does pages only
    no_page_gzip = (*DEFAULT_EXCLUDED_CONTENT_TYPES, *(fmt.media_type for fmt in FORMATS))

    @asynccontextmanager
    async def lifespan(_web: Starlette) -> AsyncIterator[None]:
        yield
        requests.close()

    web = Starlette(
        routes=[
            *feeds.routes(app, requests),
            *public.routes(app, pages),
            *subscription.routes(app),
            *issues.routes(app),
        ],
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(GZipMiddleware, minimum_size=500, exclude_content_types=no_page_gzip),
        ],
        exception_handlers={HTTPException: http_error, Exception: server_error},
        lifespan=lifespan,
    )
    web.state.templates = pages
    return web
