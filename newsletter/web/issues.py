"""The web copy of an issue at /issues/LIST/N: the frozen HTML behind "view in browser".

It is the very HTML that was sent, filled for nobody (no name, no personal
links), so it never changes when articles are edited later. Unknown lists and
numbers, and issues that are not out (draft, approved, cancelled) answer 404.
"""

from __future__ import annotations

import re

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import BaseRoute, Route

from newsletter import issues
from newsletter.app import App
from newsletter.compose import VARIANT_CHARS
from newsletter.config import NAME_PATTERN
from newsletter.errors import NotFound

LIST_NAME = re.compile(NAME_PATTERN)  # as the config names lists
MAX_NUMBER = 2**31 - 1
# An email's own inline styles and <style> block must apply; nothing else may load or run.
HEADERS = {
    "content-security-policy": (
        "default-src 'none'; img-src https: data:; style-src 'unsafe-inline'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
    ),
    "cache-control": "public, max-age=300",
}


def routes(app: App) -> list[BaseRoute]:
    """The issue route, for the web app to mount at its root."""

    async def issue_page(request: Request) -> HTMLResponse:
        list_name = request.path_params["list_name"]
        number = request.path_params["number"]
        variant = request.query_params.get("variant", "")
        if (
            not LIST_NAME.match(list_name)
            or not 0 < number <= MAX_NUMBER
            or len(variant) > VARIANT_CHARS
        ):
            raise HTTPException(404, "No such issue.")
        try:
            html = await run_in_threadpool(issues.web_copy, app, list_name, number, variant)
        except NotFound as exc:
            raise HTTPException(404, "No such issue.") from exc
        return HTMLResponse(html, headers=HEADERS)

    return [Route("/issues/{list_name}/{number:int}", issue_page, methods=["GET", "HEAD"])]
