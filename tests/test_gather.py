"""gather on a real SQLite file: sample content, idempotence, edits, bad files, hostile HTML."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import NOW
from helpers_gather import ATOM, RSS, FeedServer, Route, feed_server

from newsletter import app as app_module
from newsletter import config
from newsletter.app import App
from newsletter.cli import main
from newsletter.gather import gather
from newsletter.models import Article
from newsletter.store import articles, db

FAR_FUTURE = datetime(2100, 1, 1, tzinfo=UTC)
HOSTILE = """---
title: "Q&A <3: “quotes”, émoji 😀 and עברית\\a"
date: 2026-11-20 10:00:00
categories: [Research, "Mental Health"]
summary: "Hello @@nl:name@@, this is <b>not</b> markup & fine."
references:
  - "Ref with @@nl:unsubscribe_url@@ and a bell\\x07"
image: {url: "javascript:alert(1)", alt: x}
---
<script>alert("x")</script><style>body{display:none}</style>
<link rel="stylesheet" href="https://evil.example/x.css">
<iframe src="https://evil.example/frame"></iframe>
<object data="x.swf"></object><form action="/steal"><input name="p"></form>

Hi @@nl:name@@ and &#64;&#64;nl:email&#64;&#64; – a < b & c, 😀 שלום.

<a href="javascript:alert(1)">js</a> <a href="/archive" onclick="x()">archive</a>
<img src="/media/x.png" onerror="alert(1)" alt="pic"> <a href="#ref">ref</a>
<img src="media/y.png" alt="relative to the site, not to the article page">
<p style="color:red" class="x">styled</p>\x01\x0b
"""


def stored(app: App) -> dict[str, Article]:
    """Every stored article by guid, public or scheduled."""
    with app.engine.connect() as conn:
        return {a.guid: a for a in articles.public_newest_first(conn, FAR_FUTURE)}


def content(app: App) -> Path:
    return app.settings.path(app.settings.paths.content)


def test_sample_content_is_stored_in_utc(app: App) -> None:
    report = gather(app)
    assert (report.new, report.updated, report.unchanged, report.failed) == (13, 0, 0, 0)
    assert report.errors == [] and len(report.new_ids) == 13
    with app.engine.connect() as conn:
        assert articles.public_count(conn, NOW) >= 8
        scheduled = list(articles.published_after(conn, NOW))
    assert [a.published.year for a in scheduled] == [2028, 2028]
    by_guid = stored(app)
    stem = by_guid["2026-08-04-stem-cells-ms-immune-reset"]
    assert stem.published == datetime(2026, 8, 4, 13, 0, tzinfo=UTC)  # 09:00 in New York (EDT)
    assert stem.slug == "can-a-stem-cell-transplant-reset-the-immune-system-in-ms"
    assert stem.url == app.links.article(stem.slug)
    assert stem.excerpt.startswith("Autologous stem cell") and len(stem.excerpt) <= 161
    assert stem.categories == ("multiple-sclerosis", "research")
    assert len(stem.references) == 3
    winter = by_guid["2028-02-09-pharmacist-office-hours-winter"]
    assert winter.published == datetime(2028, 2, 9, 17, 0, tzinfo=UTC)  # EST in February
    podcast = by_guid["podcast-episode-12"]
    assert podcast.slug == "podcast-12-keeping-injectables-cold"
    assert podcast.enclosure is not None and podcast.enclosure.type == "audio/mpeg"
    vitamin = by_guid["2026-09-15-vitamin-d-and-ms"]
    assert vitamin.image is not None
    assert vitamin.image.url == "https://notes.example.org/media/2026/09/sunlit-window.jpg"
    relapse = by_guid["2026-10-06-know-your-enemy-ms-relapses"]
    assert relapse.updated == datetime(2026, 10, 8, 18, 30, tzinfo=UTC)


def test_second_run_stores_nothing(app: App) -> None:
    gather(app)
    before = stored(app)
    again = gather(app)
    assert (again.new, again.updated, again.unchanged, again.failed) == (0, 0, 13, 0)
    assert again.new_ids == [] and stored(app) == before


def test_edit_keeps_identity_and_moves_updated(app: App) -> None:
    gather(app)
    old = stored(app)["2026-08-13-ms-and-anxiety"]
    path = content(app) / "2026-08-13-ms-and-anxiety.md"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("The Symptom Nobody Schedules For", "A Common Symptom"), "utf-8")
    report = gather(app)
    assert (report.new, report.updated, report.unchanged) == (0, 1, 12)
    new = stored(app)["2026-08-13-ms-and-anxiety"]
    assert new.title == "MS and Anxiety: A Common Symptom"
    assert (new.id, new.guid, new.slug, new.published) == (
        old.id,
        old.guid,
        old.slug,
        old.published,
    )
    assert new.updated == NOW and new.content_hash != old.content_hash
    assert gather(app).updated == 0  # the edit is now the stored state


def test_front_matter_updated_and_slug_win(app: App) -> None:
    gather(app)
    path = content(app) / "2026-10-28-sleep-fatigue-depression.md"
    text = path.read_text(encoding="utf-8")
    edited = text.replace(
        "date: 2026-10-28 07:00:00",
        "date: 2026-10-28 07:00:00\nupdated: 2026-11-01 09:00:00\nslug: sleep-fatigue-mood",
    )
    path.write_text(edited, encoding="utf-8")
    assert gather(app).updated == 1
    article = stored(app)["2026-10-28-sleep-fatigue-depression"]
    assert article.updated == datetime(2026, 11, 1, 14, 0, tzinfo=UTC)  # EST from Nov 1
    assert article.slug == "sleep-fatigue-mood" and article.url.endswith("/sleep-fatigue-mood")


def test_same_title_gets_a_numbered_slug(app: App) -> None:
    folder = content(app)
    text = (folder / "2026-09-24-hepatitis-c-finish-the-course.md").read_text(encoding="utf-8")
    (folder / "zz-copy.md").write_text(text, encoding="utf-8")
    gather(app)
    slugs = {a.guid: a.slug for a in stored(app).values()}
    base = "hepatitis-c-is-curable-if-you-finish-the-course"
    assert slugs["2026-09-24-hepatitis-c-finish-the-course"] == base
    assert slugs["zz-copy"] == base + "-2"


def test_bad_files_are_reported_and_change_nothing(app: App) -> None:
    gather(app)
    before = stored(app)
    folder = content(app)
    victim = folder / "2026-08-26-first-specialty-refill-questions.md"
    victim.write_text(
        victim.read_text(encoding="utf-8").replace("date: 2026-08-26", "date: someday"), "utf-8"
    )
    (folder / "broken.md").write_text("---\ntitle: [unclosed\ndate: 2026-09-01\n---\nx\n", "utf-8")
    (folder / "new-good.md").write_text("---\ntitle: Fine\ndate: 2026-11-21\n---\nBody.\n", "utf-8")
    report = gather(app)
    assert (report.new, report.updated, report.unchanged, report.failed) == (1, 0, 12, 2)
    assert report.errors[0].startswith("content/2026-08-26-first-specialty-refill-questions.md:3:")
    assert report.errors[1].startswith("content/broken.md:")
    after = stored(app)
    assert after.pop("new-good").title == "Fine"
    assert after == before


def test_date_beyond_the_calendar_is_reported(app: App) -> None:
    edge = "---\ntitle: E\ndate: 9999-12-31 23:00\n---\nx\n"
    (content(app) / "edge.md").write_text(edge, encoding="utf-8")
    report = gather(app)
    assert report.failed == 1 and report.errors[0].startswith("content/edge.md: date")


def test_duplicate_id_is_reported(app: App) -> None:
    folder = content(app)
    (folder / "zz-dup.md").write_text(
        "---\ntitle: Dup\ndate: 2026-11-21\nid: podcast-episode-12\n---\nBody.\n", "utf-8"
    )
    report = gather(app)
    assert report.failed == 1 and "duplicate id 'podcast-episode-12'" in report.errors[0]
    assert stored(app)["podcast-episode-12"].title.startswith("Podcast, episode 12")


def test_hostile_html_is_sanitised(app: App) -> None:
    (content(app) / "hostile.md").write_text(HOSTILE, encoding="utf-8")
    assert gather(app).failed == 0
    article = stored(app)["hostile"]
    html = article.content_html
    for banned in ("<script", "<style", "<link", "<iframe", "<object", "<form", "<input"):
        assert banned not in html
    for banned in ("onerror", "onclick", "javascript:", "style=", "display:none", "@@nl:"):
        assert banned not in html
    assert "\x01" not in html and "\x0b" not in html
    assert '<a href="https://notes.example.org/archive" rel="noopener noreferrer">' in html
    assert f'href="{article.url}#ref"' in html
    assert 'src="https://notes.example.org/media/x.png"' in html
    assert 'src="https://notes.example.org/media/y.png"' in html
    assert "a &lt; b &amp; c, 😀 שלום" in html
    assert article.title == "Q&A <3: “quotes”, émoji 😀 and עברית"
    assert article.summary == "Hello @@ nl:name@@, this is <b>not</b> markup & fine."
    assert article.references == ("Ref with @@ nl:unsubscribe_url@@ and a bell",)
    assert article.image is None  # a javascript: image is dropped, not stored
    assert article.categories == ("research", "mental-health")


def test_cli_prints_counts_and_errors(app: App, capsys: pytest.CaptureFixture[str]) -> None:
    toml = str(app.settings.instance_dir / "newsletter.toml")
    assert main(["--config", toml, "gather"]) == 0
    assert capsys.readouterr().out == "gathered: 13 new, 0 updated, 0 unchanged, 0 failed\n"
    (content(app) / "bad.md").write_text("no front matter\n", encoding="utf-8")
    assert main(["--config", toml, "gather"]) == 1
    out, err = capsys.readouterr()
    assert out == "gathered: 0 new, 0 updated, 13 unchanged, 1 failed\n"
    assert err.startswith("content/bad.md:1: no front matter")


def test_cli_refuses_an_uninitialised_database(
    instance: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(instance / "newsletter.toml"), "gather"]) == 2
    assert "newsletter init" in capsys.readouterr().err


@pytest.fixture
def remote(instance: Path) -> Iterator[tuple[App, FeedServer]]:
    """An App whose config lists three remote feeds on a loopback server (one of them broken)."""
    with feed_server() as server:
        server.routes["/rss"] = Route(RSS.encode(), etag='"r1"')
        server.routes["/atom"] = Route(ATOM.encode(), last_modified="Thu, 01 Oct 2026 12:00:00 GMT")
        server.routes["/down"] = Route(b"busy", status=500)
        sources = [{"name": n, "url": server.url(f"/{n}")} for n in ("rss", "atom", "down")]
        settings = config.load(instance / "newsletter.toml", {"gather": {"sources": sources}})
        built = app_module.build(settings, clock=lambda: NOW)
        db.migrate(built.engine)
        yield built, server
        built.close()


def test_remote_feeds_are_gathered_then_not_modified(remote: tuple[App, FeedServer]) -> None:
    app, server = remote
    report = gather(app)
    assert (report.new, report.failed) == (13 + 3, 2)  # the undated RSS entry and the 500
    assert any(line.startswith(server.url("/down") + ": HTTP 500") for line in report.errors)
    heat = stored(app)["partner-heat-1"]
    assert heat.source == "rss" and heat.categories == ("multiple-sclerosis",)
    assert "<script" not in heat.content_html and "onerror" not in heat.content_html
    assert f'href="{server.url("/tips")}"' in heat.content_html  # relative to the feed (RFC 3986)
    assert heat.url == app.links.article(heat.slug)
    again = gather(app)
    assert (again.new, again.updated) == (0, 0)
    conditional = {path: (etag, since) for path, etag, since in server.seen[-3:]}
    assert conditional["/rss"] == ('"r1"', "")
    assert conditional["/atom"] == ("", "Thu, 01 Oct 2026 12:00:00 GMT")
    assert stored(app)["partner-heat-1"] == heat
