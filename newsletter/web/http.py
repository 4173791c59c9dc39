"""HTTP plumbing shared by every route: security headers, conditional GETs, templates, error pages.

Routes stay thin by leaning on these: a handler decides what to show, this
module decides how it goes over the wire.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from email.utils import formatdate, parsedate_to_datetime
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from newsletter.config import Settings
from newsletter.render.digest import long_date
from newsletter.render.env import theme_loader

log = logging.getLogger(__name__)

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "img-src 'self' https: data:",
        "media-src 'self' https:",
        "style-src 'self'",
        "script-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}
ERROR_TEMPLATES = {400: "web/400.html", 404: "web/404.html"}


class SecurityHeaders:
    """Adds the security headers to every response, whoever produced it (routes of other modules,
    error handlers, 304s); a route that sets one of them on purpose keeps its own value."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def http_date(timestamp: float) -> str:
    return formatdate(timestamp, usegmt=True)


def _etags(header: str) -> set[str]:
    """The tags of an If-None-Match header, compared weakly as RFC 9110 asks for GET."""
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


def is_fresh(request: Request, etags: set[str], modified: float) -> bool:
    """Whether the client's copy is current: If-None-Match wins over If-Modified-Since."""
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        asked = _etags(if_none_match)
        return "*" in asked or not asked.isdisjoint(etags)
    since = request.headers.get("if-modified-since")
    if since is None:
        return False
    try:
        when = parsedate_to_datetime(since)
    except (TypeError, ValueError, IndexError):
        return False
    return when.tzinfo is not None and int(modified) <= when.timestamp()


def accepts_gzip(request: Request) -> bool:
    """gzip listed in Accept-Encoding with a non-zero quality."""
    for part in request.headers.get("accept-encoding", "").split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() in {"gzip", "*"}:
            quality = params.strip().removeprefix("q=").strip() if "q=" in params else "1"
            try:
                return float(quality) > 0
            except ValueError:
                return False
    return False


def templates(settings: Settings, globals_: Mapping[str, Any]) -> Jinja2Templates:
    """Autoescaping Jinja2: the instance's templates/ first, then the package's default theme."""
    loader = theme_loader(settings.path(settings.paths.templates))
    env = Environment(loader=loader, autoescape=True, trim_blocks=True, lstrip_blocks=True)
    zone = ZoneInfo(settings.site.timezone)
    env.filters["display_date"] = lambda value: long_date(value, zone)
    env.globals.update(globals_)
    return Jinja2Templates(env=env)


async def http_error(request: Request, exc: Exception) -> Response:
    """404 and 400 get the theme's pages; other statuses a plain line."""
    assert isinstance(exc, HTTPException)
    name = ERROR_TEMPLATES.get(exc.status_code)
    pages: Jinja2Templates | None = getattr(request.app.state, "templates", None)
    if name is None or pages is None:
        return PlainTextResponse(exc.detail, exc.status_code, headers=exc.headers)
    context = {"detail": exc.detail}
    return pages.TemplateResponse(request, name, context, status_code=exc.status_code)


async def server_error(request: Request, exc: Exception) -> Response:
    """The boundary: log the failure in one line, tell the client nothing internal."""
    log.error("%s %s failed: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
    # Starlette answers a 500 outside every middleware, so the headers are set here too.
    return PlainTextResponse("Internal server error", 500, headers=SECURITY_HEADERS)
