"""The archive and article pages, shaped like the seed page, and what every page carries."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from helpers_feeds import NOW, article, hostile, make_app, run_command, store

from newsletter.app import App
from newsletter.errors import ConfigError
from newsletter.models import Article
from newsletter.web.app import create_app
from newsletter.web.public import PAGE_SIZE

pytestmark = pytest.mark.anyio
AUTODISCOVERY = re.compile(r'<link rel="alternate" type="([^"]+)" title="[^"]*" href="([^"]+)">')


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def client_for(app: App) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(app))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
async def site(app: App) -> AsyncIterator[tuple[httpx.AsyncClient, list[Article]]]:
    stored = store(app, *(article(n) for n in range(1, 4)))
    store(app, article(9, title="Scheduled one", published=NOW + timedelta(hours=1)))
    async with await client_for(app) as http:
        yield http, stored


def assert_page_basics(page: httpx.Response) -> None:
    """What every page carries: feed autodiscovery, the security headers, no inline script."""
    found = AUTODISCOVERY.findall(page.text)
    assert sorted(found) == [
        ("application/atom+xml", "https://notes.example.org/feeds/atom.xml"),
        ("application/feed+json", "https://notes.example.org/feeds/feed.json"),
        ("application/rss+xml", "https://notes.example.org/feeds/rss.xml"),
    ]
    assert "<script" not in page.text.lower()
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "'unsafe-inline'" not in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"


async def test_article_page_has_the_parts_of_the_seed_page(site: tuple) -> None:
    http, stored = site
    page = await http.get("/articles/article-2")
    assert page.status_code == 200
    assert_page_basics(page)
    text = page.text
    # previous (older) then next (newer) teasers with title and date, then "Show all"
    previous = text.index("Article 1: “stem cells” – 78.4 %")
    following = text.index("Article 3: “stem cells” – 78.4 %")
    assert previous < following < text.index(">Show all</a>")
    assert "August 2, 2015" in text and "August 4, 2015" in text  # the neighbours' dates
    assert '<a class="all" href="/archive">' in text
    assert "<h1>Article 2: “stem cells” – 78.4 %</h1>" in text
    assert "August 3, 2015" in text
    assert "<em>emphasis</em>" in text
    assert "Source: BioPlus Specialty Pharmacy" in text
    refs = re.findall(r"<li>([^<]*)</li>", text.split('class="references"')[1])
    assert refs == list(stored[1].references)


async def test_the_ends_of_the_archive_have_one_neighbour_and_scheduled_stays_hidden(
    site: tuple,
) -> None:
    http, _ = site
    oldest = (await http.get("/articles/article-1")).text
    assert 'class="previous"' not in oldest and 'class="next"' in oldest
    newest = (await http.get("/articles/article-3")).text
    assert 'class="next"' not in newest and "Scheduled one" not in newest
    assert (await http.get("/articles/article-9")).status_code == 404


async def test_archive_lists_public_articles_newest_first(site: tuple) -> None:
    http, _ = site
    page = await http.get("/archive")
    assert page.status_code == 200
    assert_page_basics(page)
    titles = re.findall(r'<h2><a href="/articles/([^"]+)">', page.text)
    assert titles == ["article-3", "article-2", "article-1"]
    assert (await http.get("/")).text == page.text


async def test_archive_pages_and_bad_page_numbers(app: App) -> None:
    store(app, *(article(n) for n in range(1, PAGE_SIZE + 6)))
    async with await client_for(app) as http:
        second = await http.get("/archive", params={"page": "2"})
        assert second.status_code == 200
        assert len(re.findall(r"<h2><a ", second.text)) == 5
        assert 'rel="prev" href="/archive"' in second.text
        assert (await http.get("/archive?page=3")).status_code == 404
        for bad in ("0", "-1", "abc", "1.5", "", "99999999999", "1e3"):
            answer = await http.get("/archive", params={"page": bad})
            assert answer.status_code == 400, bad
            assert "whole number" in answer.text
        assert (await http.get("/archive?page=1&page=2")).status_code == 400


async def test_an_empty_archive_is_one_empty_page(app: App) -> None:
    async with await client_for(app) as http:
        page = await http.get("/archive")
        assert page.status_code == 200 and "Nothing published yet." in page.text


@pytest.mark.parametrize(
    "path",
    [
        "/articles/no-such-article",
        "/articles/%2e%2e%2f%2e%2e%2fnewsletter.toml",
        "/articles/..%2fnewsletter.db",
        "/articles/" + "x" * 500,
        "/static/..%2f..%2fnewsletter.toml",
        "/static/missing.css",
        "/nothing-here",
    ],
)
async def test_unknown_and_traversing_paths_are_404_pages(site: tuple, path: str) -> None:
    http, _ = site
    page = await http.get(path)
    assert page.status_code == 404
    assert_page_basics(page)
    assert "Not found" in page.text


async def test_hostile_article_page_is_inert(app: App) -> None:
    store(app, hostile(1))
    async with await client_for(app) as http:
        page = await http.get("/articles/article-1")
    body = page.text.lower()
    for bad in ("<script", "<iframe", "<style", "onerror", "onclick", "javascript:"):
        assert bad not in body, bad
    assert "&lt;script&gt;alert(" in page.text  # the title is shown as text
    assert 'src="https://notes.example.org/img/lead.png"' in page.text
    assert "1 &lt; 2 &amp; 3 🎉 עברית" in page.text


async def test_the_stylesheet_is_served_and_an_instance_template_overrides_the_theme(
    instance: Path,
) -> None:
    custom = instance / "templates" / "web"
    custom.mkdir(parents=True)
    (custom / "404.html").write_text("<p>Our own lost page: {{ detail }}</p>", encoding="utf-8")
    app = make_app(instance)
    async with await client_for(app) as http:
        css = await http.get("/static/site.css")
        assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
        missing = await http.get("/articles/none")
        assert missing.text.startswith("<p>Our own lost page: There is no article")
    app.close()


def test_serve_refuses_to_start_without_a_signing_key(instance: Path) -> None:
    toml = instance / "newsletter.toml"
    toml.write_text(toml.read_text("utf-8").replace("demo = true", "demo = false"), "utf-8")
    with pytest.raises(ConfigError, match="no signing key"):
        run_command(instance, "serve", "--port", "1")


async def test_a_failing_page_answers_500_with_the_security_headers_and_no_detail(
    app: App,
) -> None:
    store(app, article(1))
    with app.engine.begin() as conn:  # the store breaks under the running site
        conn.exec_driver_sql("ALTER TABLE articles RENAME TO articles_gone")
    transport = httpx.ASGITransport(app=create_app(app), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        page = await http.get("/archive")
    assert page.status_code == 500 and page.text == "Internal server error"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
