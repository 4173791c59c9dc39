"""Articles for the feeds and web tests, stored straight into the store (no gather needed),
including hostile ones that skip gather's sanitising, as a compromised store would hold."""

from __future__ import annotations

import argparse
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from newsletter import app as app_module
from newsletter import config
from newsletter.app import App
from newsletter.cli import feeds as feeds_cli
from newsletter.models import Article, Enclosure, Image
from newsletter.store import articles as article_store
from newsletter.store import db

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
BASE = "https://notes.example.org"

HOSTILE_TITLE = '<script>alert("t")</script> 1 < 2 & "q" — عربي עברית 🎉\x07'
HOSTILE_BODY = (
    '<p onclick="steal()">Hi <script>alert(1)</script>'
    '<iframe src="https://evil.example/"></iframe>'
    '<img src="x.png" onerror="alert(2)">'
    '<a href="javascript:alert(3)">bad</a> <a href="JaVaScRiPt:alert(4)">worse</a>'
    '<a href="/relative/page">relative</a> 1 &lt; 2 &amp; 3 🎉 עברית\x00\x0b</p>'
    "<style>body{display:none}</style>"
)


def article(n: int, **changes: Any) -> Article:
    """A clean article dated n days after 2015-08-01 (noon UTC), in category MS or Care."""
    published = datetime(2015, 8, 1, 12, tzinfo=UTC) + timedelta(days=n)
    made = Article(
        source="content",
        guid=f"content/article-{n}.md",
        slug=f"article-{n}",
        title=f"Article {n}: “stem cells” – 78.4 %",
        url=f"{BASE}/articles/article-{n}",
        published=published,
        updated=published,
        content_html=(
            f"<p>Body of article {n}, with <em>emphasis</em> and a "
            f'<a href="https://example.org/ref/{n}" rel="noopener noreferrer">link</a>.</p>'
        ),
        excerpt=f"Body of article {n}, with emphasis and a link.",
        content_hash=f"hash-{n}",
        author="BioPlus Specialty Pharmacy",
        categories=("MS",) if n % 2 else ("Care",),
        summary=f"Summary of article {n} & more <short>.",
        references=(f"Burt RK, et al. JAMA 2015;313(3):{n}.", "Press release, 2014."),
    )
    return replace(made, **changes)


def hostile(n: int) -> Article:
    return article(
        n,
        title=HOSTILE_TITLE,
        content_html=HOSTILE_BODY,
        summary="Summary <b>bold</b> & \x01 control",
        author='Mallory "<admin>"',
        categories=("<MS & Co>", "../../etc"),
        url="javascript:alert(5)",
        image=Image(url="/img/lead.png", alt='alt "quoted"', width=640, height=360),
    )


def podcast(n: int) -> Article:
    return article(
        n,
        enclosure=Enclosure(
            url="/audio/episode.mp3", length=12345678, type="audio/mpeg", duration="00:31:05"
        ),
    )


def store(app: App, *items: Article) -> list[Article]:
    """Insert articles under their sources; returns them with their ids."""
    stored = []
    with app.engine.begin() as conn:
        for item in items:
            source_id = article_store.ensure_source(conn, item.source, "markdown", "content")
            new_id = article_store.insert_article(conn, source_id, item, NOW)
            stored.append(replace(item, id=new_id))
    return stored


def make_app(instance: Path, overrides: dict[str, dict[str, Any]] | None = None) -> App:
    """An App on the test instance with some config tables replaced (feeds, web, …)."""
    settings = config.load(instance / "newsletter.toml", overrides)
    built = app_module.build(settings, clock=lambda: NOW)
    db.migrate(built.engine)
    return built


def run_command(instance: Path, *argv: str) -> int:
    """One of the feed commands (feed, serve, stats feeds) as the CLI would run it."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--config")
    feeds_cli.register(parser.add_subparsers())
    args = parser.parse_args(["--config", str(instance / "newsletter.toml"), *argv])
    return int(args.run(args))
