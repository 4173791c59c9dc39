"""/feeds/...: the files the feeds stage wrote, served cheaply to pollers.

A strong ETag (a hash of the bytes; gzip is a different representation with its
own tag) and the file's mtime as Last-Modified let readers revalidate; the bytes,
their hash and their gzip are computed once per file version and kept, so a 304
costs a stat and a dict lookup. Only paths of the feeds layout are served, so no
request can reach another file. Each answer is appended to the request log that
`newsletter stats feeds` reads.
"""

from __future__ import annotations

import gzip
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from newsletter.app import App
from newsletter.feeds import FORMATS
from newsletter.feedstats import RequestLog, log_line
from newsletter.web.http import accepts_gzip, http_date, is_fresh

CACHE_CONTROL = "public, max-age=300"
MEDIA_TYPES = {fmt.filename: f"{fmt.media_type}; charset=utf-8" for fmt in FORMATS}
FEED_PATH = re.compile(
    r"^(?:category/[a-z0-9-]{1,80}/)?(?:" + "|".join(map(re.escape, MEDIA_TYPES)) + r")$"
)


@dataclass(frozen=True, slots=True)
class FeedFile:
    """One version of one feed file, in both encodings."""

    version: tuple[int, int, int]
    body: bytes
    gzipped: bytes
    etag: str
    gzip_etag: str
    modified: float
    media_type: str


class FeedFiles:
    """Feed files by relative path, re-read only when their (inode, size, mtime) changes."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._cache: dict[str, FeedFile] = {}

    def get(self, relative: str) -> FeedFile | None:
        if not FEED_PATH.match(relative):
            return None
        path = self.folder / relative
        try:
            stat = path.stat()
        except OSError:
            return None
        version = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        cached = self._cache.get(relative)
        if cached is None or cached.version != version:
            cached = self._load(path, version, stat.st_mtime)
            self._cache[relative] = cached
        return cached

    @staticmethod
    def _load(path: Path, version: tuple[int, int, int], modified: float) -> FeedFile:
        body = path.read_bytes()
        digest = hashlib.sha256(body).hexdigest()[:32]
        return FeedFile(
            version=version,
            body=body,
            gzipped=gzip.compress(body, compresslevel=6, mtime=0),
            etag=f'"{digest}"',
            gzip_etag=f'"{digest}-gz"',
            modified=modified,
            media_type=MEDIA_TYPES[path.name],
        )


def feed_response(request: Request, feed: FeedFile) -> Response:
    """200, or 304 when the client's copy is current; gzip when accepted; HEAD without a body."""
    compressed = accepts_gzip(request)
    headers = {
        "etag": feed.gzip_etag if compressed else feed.etag,
        "last-modified": http_date(feed.modified),
        "cache-control": CACHE_CONTROL,
        "vary": "Accept-Encoding",
    }
    if is_fresh(request, {feed.etag, feed.gzip_etag}, feed.modified):
        return Response(status_code=304, headers=headers)
    body = feed.gzipped if compressed else feed.body
    if compressed:
        headers["content-encoding"] = "gzip"
    headers["content-length"] = str(len(body))
    content = b"" if request.method == "HEAD" else body
    return Response(content, headers=headers, media_type=feed.media_type)


def routes(app: App, requests: RequestLog) -> list[Route]:
    """The feed route; every answer is appended to `requests` for `newsletter stats feeds`."""
    files = FeedFiles(app.settings.path(app.settings.paths.feeds))

    async def serve_feed(request: Request) -> Response:
        feed = files.get(request.path_params["path"])
        if feed is None:
            raise HTTPException(404, "No such feed.")
        response = feed_response(request, feed)
        agent = request.headers.get("user-agent", "")
        size = int(response.headers.get("content-length", 0))
        requests.append(
            log_line(
                datetime.now(UTC),
                method=request.method,
                path=request.url.path,
                status=response.status_code,
                size=size,
                agent=agent,
            )
        )
        return response

    return [Route("/feeds/{path:path}", serve_feed, methods=["GET", "HEAD"])]
