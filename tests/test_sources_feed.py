"""The remote feed source against a real HTTP server on 127.0.0.1: feeds, 304s, errors, garbage."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from helpers_gather import ATOM, RSS, FeedServer, Route, feed_server

from newsletter.errors import SourceError
from newsletter.sources import feed


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with feed_server() as running:
        yield running


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with feed.client(timeout=5) as client:
        yield client


def test_rss_entries_and_validators(server: FeedServer, http: httpx.Client) -> None:
    server.routes["/rss"] = Route(RSS.encode(), etag='"v1"', last_modified="Tue, 01 Sep 2026")
    fetched = feed.fetch(http, "partner", server.url("/rss"))
    assert (fetched.etag, fetched.last_modified) == ('"v1"', "Tue, 01 Sep 2026")
    first, second = fetched.batch.entries
    assert first.source == "partner" and first.guid == "partner-heat-1"
    assert first.title == "Heat & MS: keeping cool"
    assert first.published == datetime(2026, 9, 1, 14, 0, tzinfo=UTC)
    assert first.categories == ("Multiple Sclerosis",)
    assert first.enclosure is not None and first.enclosure.length == 1234
    assert first.link == "https://partner.example.com/posts/heat"
    assert second.published == datetime(2026, 9, 2, 7, 0, tzinfo=UTC)
    (undated,) = fetched.batch.errors
    assert undated.where == server.url("/rss") + " entry 3" and "no date" in str(undated)


def test_conditional_get_answers_not_modified(server: FeedServer, http: httpx.Client) -> None:
    server.routes["/rss"] = Route(RSS.encode(), etag='"v1"')
    fetched = feed.fetch(http, "partner", server.url("/rss"), '"v1"', "Mon, 31 Aug 2026")
    assert fetched.not_modified and fetched.batch.entries == ()
    assert fetched.etag == '"v1"' and fetched.last_modified == "Mon, 31 Aug 2026"
    assert server.seen[-1] == ("/rss", '"v1"', "Mon, 31 Aug 2026")


def test_atom_content_and_author(server: FeedServer, http: httpx.Client) -> None:
    server.routes["/atom"] = Route(ATOM.encode(), content_type="application/atom+xml")
    (entry,) = feed.fetch(http, "atom", server.url("/atom")).batch.entries
    assert entry.author == "Ana Ruiz"
    assert entry.published == datetime(2026, 10, 1, 14, 0, tzinfo=UTC)
    assert entry.updated == datetime(2026, 10, 2, 10, 0, tzinfo=UTC)
    assert "<em>content</em>" in entry.body_html
    assert "😀 مرحبا" in " ".join(entry.body_html.split())


@pytest.mark.parametrize(
    ("route", "problem"),
    [
        (Route(b"oops", status=500), "HTTP 500"),
        (Route(b"", status=404), "HTTP 404"),
        (Route(b"\x00\xffnot xml at all {", content_type="text/html"), "not an RSS or Atom feed"),
        (Route(b"/etc/passwd", content_type="text/plain"), "not an RSS or Atom feed"),
    ],
    ids=["500", "404", "garbage", "path-like body"],
)
def test_unusable_answers_name_the_url(
    server: FeedServer, http: httpx.Client, route: Route, problem: str
) -> None:
    server.routes["/bad"] = route
    url = server.url("/bad")
    try:
        fetched = feed.fetch(http, "bad", url)
    except SourceError as exc:
        error = exc
    else:
        assert fetched.batch.entries == ()
        (error,) = fetched.batch.errors
    assert error.where == url and problem in str(error)


def test_size_cap(server: FeedServer, http: httpx.Client) -> None:
    server.routes["/rss"] = Route(RSS.encode())
    with pytest.raises(SourceError, match="too large"):
        feed.fetch(http, "partner", server.url("/rss"), max_bytes=100)


def test_unreachable_host(http: httpx.Client) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/feed"
    with pytest.raises(SourceError) as caught:
        feed.fetch(http, "gone", url)
    assert caught.value.where == url and "could not fetch" in str(caught.value)
