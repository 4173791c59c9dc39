"""Serving feeds: content types, validators, 304s, gzip, HEAD, and nothing outside the layout."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import timedelta
from email.utils import formatdate

import httpx
import pytest
import uvicorn
from helpers_feeds import article, store

from newsletter.app import App
from newsletter.feeds import write_feeds
from newsletter.store import articles as article_store
from newsletter.web.app import create_app

pytestmark = pytest.mark.anyio
IDENTITY = {"accept-encoding": "identity"}
TYPES = {
    "rss.xml": "application/rss+xml; charset=utf-8",
    "atom.xml": "application/atom+xml; charset=utf-8",
    "feed.json": "application/feed+json; charset=utf-8",
    "category/ms/rss.xml": "application/rss+xml; charset=utf-8",
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def client(app: App) -> AsyncIterator[httpx.AsyncClient]:
    store(app, article(1), article(2))
    write_feeds(app)
    transport = httpx.ASGITransport(app=create_app(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


def on_disk(app: App, path: str) -> bytes:
    return (app.settings.path(app.settings.paths.feeds) / path).read_bytes()


@pytest.mark.parametrize("path", sorted(TYPES))
async def test_feeds_are_served_with_type_charset_and_validators(
    client: httpx.AsyncClient, app: App, path: str
) -> None:
    response = await client.get(f"/feeds/{path}", headers=IDENTITY)
    assert response.status_code == 200
    assert response.headers["content-type"] == TYPES[path]
    assert response.content == on_disk(app, path)
    assert response.headers["etag"].startswith('"') and not response.headers["etag"].startswith(
        "W/"
    )
    assert response.headers["cache-control"] == "public, max-age=300"
    assert response.headers["vary"] == "Accept-Encoding"
    stamp = (app.settings.path(app.settings.paths.feeds) / path).stat().st_mtime
    assert response.headers["last-modified"] == formatdate(stamp, usegmt=True)
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_if_none_match_and_if_modified_since_answer_304(client: httpx.AsyncClient) -> None:
    full = await client.get("/feeds/rss.xml", headers=IDENTITY)
    tag, modified = full.headers["etag"], full.headers["last-modified"]
    for headers in (
        {"if-none-match": tag},
        {"if-none-match": f'"other", W/{tag}'},
        {"if-none-match": "*"},
        {"if-modified-since": modified},
    ):
        again = await client.get("/feeds/rss.xml", headers=IDENTITY | headers)
        assert again.status_code == 304, headers
        assert again.content == b""
        assert again.headers["etag"] == tag
    for headers in (
        {"if-none-match": '"other"'},
        {"if-modified-since": "Sat, 01 Jan 2000 00:00:00 GMT"},
        {"if-modified-since": "yesterday-ish"},
        {"if-none-match": '"other"', "if-modified-since": modified},  # the tag decides
    ):
        again = await client.get("/feeds/rss.xml", headers=IDENTITY | headers)
        assert again.status_code == 200, headers


async def test_gzip_when_accepted_is_its_own_representation(
    client: httpx.AsyncClient, app: App
) -> None:
    plain = await client.get("/feeds/atom.xml", headers=IDENTITY)
    packed = await client.get("/feeds/atom.xml", headers={"accept-encoding": "gzip"})
    assert packed.headers["content-encoding"] == "gzip"
    assert packed.content == on_disk(app, "atom.xml")  # httpx decodes it
    assert packed.headers["etag"] != plain.headers["etag"]
    refused = await client.get("/feeds/atom.xml", headers={"accept-encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers
    cached = await client.get(
        "/feeds/atom.xml",
        headers={"accept-encoding": "gzip", "if-none-match": packed.headers["etag"]},
    )
    assert cached.status_code == 304


async def test_head_has_the_headers_of_get_and_no_body(client: httpx.AsyncClient, app: App) -> None:
    response = await client.head("/feeds/feed.json", headers=IDENTITY)
    assert response.status_code == 200
    assert response.content == b""
    assert int(response.headers["content-length"]) == len(on_disk(app, "feed.json"))
    assert response.headers["content-type"] == TYPES["feed.json"]


async def test_a_rewritten_feed_gets_a_new_etag(client: httpx.AsyncClient, app: App) -> None:
    before = await client.get("/feeds/rss.xml", headers=IDENTITY)
    with app.engine.connect() as conn:
        first = article_store.public_by_slug(conn, "article-1", app.clock())
    assert first is not None and first.id is not None
    edited = replace(first, title="Edited", updated=first.updated + timedelta(days=1))
    with app.engine.begin() as conn:
        article_store.update_article(conn, first.id, edited)
    path = app.settings.path(app.settings.paths.feeds) / "rss.xml"
    write_feeds(app)
    os.utime(path, (time.time() + 5, time.time() + 5))  # mtime moves even on coarse clocks
    after = await client.get(
        "/feeds/rss.xml", headers=IDENTITY | {"if-none-match": before.headers["etag"]}
    )
    assert after.status_code == 200
    assert b"Edited" in after.content and after.headers["etag"] != before.headers["etag"]


@pytest.mark.parametrize(
    "path",
    [
        "/feeds/%2e%2e/newsletter.toml",
        "/feeds/..%2fnewsletter.toml",
        "/feeds/category/..%2f..%2fnewsletter.toml",
        "/feeds/newsletter.db",
        "/feeds/category/ms/%2e%2e/%2e%2e/rss.xml",
        "/feeds/.rss.xml.tmp",
        "/feeds/category/nothing/rss.xml",
        "/feeds/",
    ],
)
async def test_only_feed_files_are_served(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert b"newsletter.toml" not in response.content


@pytest.fixture
def server(app: App) -> Iterator[str]:
    """The app on a real uvicorn socket on 127.0.0.1, for what only a real server shows."""
    store(app, article(1))
    write_feeds(app)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(create_app(app), log_level="warning", lifespan="on")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(100):
        if running.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    running.should_exit = True
    thread.join(timeout=10)
    sock.close()


def test_over_a_real_socket_gzip_head_and_304_hold(server: str, app: App) -> None:
    with httpx.Client(base_url=server, timeout=5) as http:
        raw = http.get("/feeds/rss.xml", headers={"accept-encoding": "gzip"})
        assert raw.headers["content-encoding"] == "gzip"
        assert raw.content == on_disk(app, "rss.xml")
        head = http.head("/feeds/rss.xml", headers=IDENTITY)
        assert head.content == b"" and head.headers["content-length"] == str(
            len(on_disk(app, "rss.xml"))
        )
        cached = http.get("/feeds/rss.xml", headers={"if-none-match": raw.headers["etag"]})
        assert cached.status_code == 304
