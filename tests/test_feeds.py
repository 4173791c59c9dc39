"""The feeds stage: every file parses back (feedparser for RSS/Atom, json for JSON Feed)
and says exactly what the store holds, hostile articles included."""

from __future__ import annotations

import html
import json
import re
from calendar import timegm
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser
import pytest
from helpers_feeds import (
    BASE,
    HOSTILE_TITLE,
    NOW,
    article,
    hostile,
    make_app,
    podcast,
    run_command,
    store,
)
from lxml import etree

from newsletter.app import App
from newsletter.feeds import article_id, write_feeds
from newsletter.store import articles as article_store

RFC_822 = re.compile(r"^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}$")
RFC_3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}:\d{2}|Z)$")
XML_FEEDS = ("rss.xml", "atom.xml")


def feeds_folder(app: App) -> Path:
    return app.settings.path(app.settings.paths.feeds)


def parse(path: Path) -> Any:
    parsed = feedparser.parse(path.read_bytes(), sanitize_html=False, resolve_relative_uris=False)
    assert parsed.bozo == 0, f"{path.name}: {parsed.get('bozo_exception')}"
    return parsed


def seconds(value: datetime) -> int:
    return int(value.timestamp())


def test_every_format_says_what_the_store_holds_field_by_field(app: App) -> None:
    stored = store(app, *(article(n) for n in range(1, 5)))
    newest_first = sorted(stored, key=lambda a: a.published, reverse=True)
    write_feeds(app)
    for name in XML_FEEDS:
        entries = parse(feeds_folder(app) / name).entries
        assert len(entries) == len(stored)
        for entry, expected in zip(entries, newest_first, strict=True):
            assert entry.id == article_id(expected.source, expected.guid)
            assert entry.title == expected.title
            assert entry.link == expected.url
            assert timegm(entry.published_parsed) == seconds(expected.published)
            assert entry.author == expected.author
            assert [tag.term for tag in entry.tags] == list(expected.categories)
            assert entry.content[0].value == expected.content_html
            assert html.unescape(entry.summary) == expected.summary
    items = json.loads((feeds_folder(app) / "feed.json").read_text("utf-8"))["items"]
    for item, expected in zip(items, newest_first, strict=True):
        assert item["id"] == article_id(expected.source, expected.guid)
        assert item["title"] == expected.title
        assert item["url"] == expected.url
        assert item["content_html"] == expected.content_html
        assert item["summary"] == expected.summary
        assert item["authors"] == [{"name": expected.author}]
        assert item["tags"] == list(expected.categories)
        assert datetime.fromisoformat(item["date_published"]) == expected.published


def test_dates_are_rfc_822_in_rss_and_rfc_3339_in_atom_and_json(app: App) -> None:
    store(app, article(1), article(2))
    write_feeds(app)
    folder = feeds_folder(app)
    rss = etree.parse(str(folder / "rss.xml"))
    for value in rss.xpath("//pubDate/text() | //lastBuildDate/text()"):
        assert RFC_822.match(value), value
    atom = etree.parse(str(folder / "atom.xml"))
    ns = {"a": "http://www.w3.org/2005/Atom"}
    for value in atom.xpath("//a:updated/text() | //a:published/text()", namespaces=ns):
        assert RFC_3339.match(value), value
    for item in json.loads((folder / "feed.json").read_text("utf-8"))["items"]:
        assert RFC_3339.match(item["date_published"]) and RFC_3339.match(item["date_modified"])


def test_the_channel_links_the_site_itself_and_the_hub(instance: Path) -> None:
    app = make_app(instance, {"feeds": {"hub_url": "http://127.0.0.1:9/hub"}})
    newest = store(app, article(1), article(2, updated=NOW - timedelta(days=3)))[1]
    # the hub is unreachable: the feeds are written all the same and the ping failures reported
    report = write_feeds(app)
    assert report.pings and not any(ping.ok for ping in report.pings)
    rss = parse(feeds_folder(app) / "rss.xml").feed
    assert rss.link == f"{BASE}/"
    links = {link.rel: link.href for link in rss.links}
    assert links["self"] == f"{BASE}/feeds/rss.xml"
    assert links["hub"] == "http://127.0.0.1:9/hub"
    assert timegm(rss.updated_parsed) == seconds(newest.updated)
    assert rss.language == "en"
    atom = parse(feeds_folder(app) / "atom.xml").feed
    links = {link.rel: link.href for link in atom.links}
    assert links == {
        "self": f"{BASE}/feeds/atom.xml",
        "hub": "http://127.0.0.1:9/hub",
        "alternate": f"{BASE}/",
    }
    feed = json.loads((feeds_folder(app) / "feed.json").read_text("utf-8"))
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert (feed["home_page_url"], feed["feed_url"]) == (f"{BASE}/", f"{BASE}/feeds/feed.json")
    assert feed["hubs"] == [{"type": "WebSub", "url": "http://127.0.0.1:9/hub"}]
    app.close()


def test_scheduled_articles_appear_in_no_feed(app: App) -> None:
    scheduled = article(
        9, title="Coming later", categories=("Future",), published=NOW + timedelta(seconds=1)
    )
    store(app, article(1), scheduled)
    write_feeds(app)
    files = sorted(
        p.relative_to(feeds_folder(app)).as_posix() for p in feeds_folder(app).rglob("*.*")
    )
    assert len(files) == 6 and not any("future" in name for name in files)  # site-wide and MS
    for path in feeds_folder(app).rglob("*.*"):
        assert b"Coming later" not in path.read_bytes(), path


def test_ids_survive_edits_and_only_the_updated_date_moves(app: App) -> None:
    first = store(app, article(1))[0]
    write_feeds(app)
    before = parse(feeds_folder(app) / "atom.xml").entries[0]
    edited = replace(
        first,
        title="A new title",
        slug="a-new-slug",
        url=f"{BASE}/articles/a-new-slug",
        content_html="<p>Rewritten.</p>",
        updated=first.updated + timedelta(days=2),
    )
    with app.engine.begin() as conn:
        article_store.update_article(conn, first.id or 0, edited)
    assert "atom.xml" in write_feeds(app).written
    after = parse(feeds_folder(app) / "atom.xml").entries[0]
    assert after.id == before.id
    assert after.published == before.published
    assert timegm(after.updated_parsed) == seconds(edited.updated)
    assert after.title == "A new title"


def test_hostile_articles_lose_every_active_part_and_keep_their_text(app: App) -> None:
    store(app, hostile(1))
    write_feeds(app)
    for path in feeds_folder(app).rglob("*.*"):
        raw = path.read_text("utf-8")
        assert not set(raw) & {"\x00", "\x01", "\x07", "\x0b"}
        # titles are text: in XML a "<" of one is always escaped, never a tag
        assert path.suffix == ".json" or "<script" not in raw.lower()
    bodies = []
    for name in XML_FEEDS:
        for entry in parse(feeds_folder(app) / name).entries:
            bodies += [entry.summary, *(content.value for content in entry.content)]
    item = json.loads((feeds_folder(app) / "feed.json").read_text("utf-8"))["items"][0]
    bodies += [item["content_html"], item["summary"]]
    for body in bodies:
        lowered = html.unescape(body).lower()
        for bad in ("<script", "<iframe", "<style", "onerror", "onclick", "javascript:"):
            assert bad not in lowered, (bad, body)
    atom = parse(feeds_folder(app) / "atom.xml").entries[0]
    assert atom.title == HOSTILE_TITLE.replace("\x07", "")
    assert "1 &lt; 2 &amp; 3 🎉 עברית" in atom.content[0].value
    assert atom.link == f"{BASE}/articles/article-1"  # its javascript: URL was not used
    assert item["title"] == HOSTILE_TITLE.replace("\x07", "")
    assert item["summary"] == "Summary <b>bold</b> &  control"
    assert item["image"] == f"{BASE}/img/lead.png"


def test_every_url_in_every_feed_is_absolute(app: App) -> None:
    store(app, hostile(1), podcast(2), article(3))
    write_feeds(app)
    for path in feeds_folder(app).rglob("*.xml"):
        raw = path.read_text("utf-8")
        urls = re.findall(r'(?:href|src|url)="([^"]*)"', html.unescape(raw))
        urls += re.findall(r"<(?:link|url|guid isPermaLink=\"true\")>([^<]*)<", raw)
        assert urls
        for url in urls:
            assert url.startswith(("https://", "http://")), (path.name, url)
    for path in feeds_folder(app).rglob("*.json"):
        text = json.dumps(json.loads(path.read_text("utf-8")))
        for url in re.findall(r'"(?:url|home_page_url|feed_url|image|icon)": "([^"]*)"', text):
            assert url.startswith("https://"), (path.name, url)


def test_category_feeds_hold_only_their_articles_and_vanish_with_them(app: App) -> None:
    one, _two = store(app, article(1), article(2))  # 1 is MS, 2 is Care
    write_feeds(app)
    folder = feeds_folder(app)
    assert sorted(p.relative_to(folder).as_posix() for p in folder.glob("category/*/*")) == [
        f"category/{slug}/{name}"
        for slug in ("care", "ms")
        for name in ("atom.xml", "feed.json", "rss.xml")
    ]
    ms = parse(folder / "category/ms/rss.xml")
    assert [entry.title for entry in ms.entries] == [one.title]
    assert ms.feed.title == "Test Notes: MS"
    with app.engine.begin() as conn:
        article_store.update_article(conn, one.id or 0, replace(one, categories=("Care",)))
    report = write_feeds(app)
    assert sorted(report.removed) == [
        f"category/ms/{n}" for n in ("atom.xml", "feed.json", "rss.xml")
    ]
    assert not (folder / "category/ms").exists()


def test_unchanged_feeds_are_not_rewritten_and_no_temporary_file_is_left(app: App) -> None:
    store(app, article(1))
    first = write_feeds(app)
    assert first.unchanged == ()
    stamps = {p: p.stat().st_mtime_ns for p in feeds_folder(app).rglob("*.*")}
    second = write_feeds(app)
    assert second.written == () and len(second.unchanged) == len(first.written)
    assert {p: p.stat().st_mtime_ns for p in feeds_folder(app).rglob("*.*")} == stamps
    assert not list(feeds_folder(app).rglob(".*.tmp"))


def test_max_items_and_summary_only(instance: Path) -> None:
    app = make_app(instance, {"feeds": {"max_items": 2, "full_content": False}})
    stored = store(app, *(article(n) for n in range(1, 6)))
    write_feeds(app)
    rss = parse(feeds_folder(app) / "rss.xml")
    assert [entry.title for entry in rss.entries] == [stored[4].title, stored[3].title]
    assert all("content" not in entry for entry in rss.entries)
    assert b"content:encoded" not in (feeds_folder(app) / "rss.xml").read_bytes()
    items = json.loads((feeds_folder(app) / "feed.json").read_text("utf-8"))["items"]
    assert [item["content_text"] for item in items] == [stored[4].summary, stored[3].summary]
    assert all("content_html" not in item for item in items)
    app.close()


def test_audio_enclosures_make_podcast_items(app: App) -> None:
    store(app, podcast(1), article(2))
    write_feeds(app)
    rss = parse(feeds_folder(app) / "rss.xml")
    episode = next(entry for entry in rss.entries if entry.get("itunes_duration"))
    assert episode.itunes_duration == "00:31:05"
    assert episode.enclosures == [
        {"href": f"{BASE}/audio/episode.mp3", "length": "12345678", "type": "audio/mpeg"}
    ]
    assert "itunes" in rss.namespaces
    atom = parse(feeds_folder(app) / "atom.xml")
    enclosure = next(e for e in atom.entries if e.get("enclosures")).enclosures[0]
    assert (enclosure.href, enclosure.type, enclosure.length) == (
        f"{BASE}/audio/episode.mp3",
        "audio/mpeg",
        "12345678",
    )
    items = json.loads((feeds_folder(app) / "feed.json").read_text("utf-8"))["items"]
    attachment = next(item for item in items if "attachments" in item)["attachments"][0]
    assert attachment["duration_in_seconds"] == 31 * 60 + 5


@pytest.mark.parametrize("duration", ["1:2:3:4", "an hour", "-5"])
def test_a_malformed_duration_is_left_out_not_fatal(app: App, duration: str) -> None:
    item = podcast(1)
    assert item.enclosure is not None
    store(app, replace(item, enclosure=replace(item.enclosure, duration=duration)))
    write_feeds(app)
    entry = parse(feeds_folder(app) / "rss.xml").entries[0]
    assert "itunes_duration" not in entry and entry.enclosures


def test_feed_command_reports_what_it_wrote(
    app: App, instance: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store(app, article(1))
    assert run_command(instance, "feed") == 0
    assert "feeds: 6 written, 0 unchanged, 0 removed" in capsys.readouterr().out
