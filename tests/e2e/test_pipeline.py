"""End to end on the sample content: gather → feeds → compose → render → SMTP, all real.

Two issues of the weekly list are made at two moments, so the second one has a
previous teaser (the last article of the first window) and a next teaser (the
earliest scheduled article). Messages are read back from a real aiosmtpd server
on 127.0.0.1, feeds from the files on disk with feedparser.
"""

from __future__ import annotations

import email
import html
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import Message
from pathlib import Path

import feedparser
import pytest

from newsletter import app as app_module
from newsletter import config, issues, pipeline
from newsletter.app import App
from newsletter.delivery.send import send_issue
from newsletter.devsmtp import SMTPThread
from newsletter.feeds import article_id
from newsletter.store import articles as article_store
from newsletter.store import db
from newsletter.subscribers import csvfile
from tests.conftest import NOW
from tests.smtp_servers import Counting

FIRST_CUTOFF = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
WEEKLY_ACTIVE = {
    "ada.lovelace@example.com",
    "grace.hopper@example.org",
    "jose.munoz@example.com",
    "mei.tanaka@example.com",
    "sam.rivera@example.org",
    "lars.eriksson@example.org",
    "noor.haddad@example.com",
    "ellen.ripley@example.org",
}


@pytest.fixture
def smtp() -> Iterator[tuple[Counting, int]]:
    handler = Counting()
    with SMTPThread(handler) as server:
        yield handler, server.port


def app_at(instance: Path, port: int, moment: datetime) -> App:
    settings = config.load(instance / "newsletter.toml", {"smtp": {"port": port}})
    return app_module.build(settings, clock=lambda: moment)


def parts(message: Message) -> dict[str, str]:
    found = {}
    for part in message.walk():
        if part.get_content_maintype() == "text":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            found[part.get_content_type()] = payload.decode(part.get_content_charset() or "ascii")
    return found


@pytest.fixture
def delivered(instance: Path, smtp: tuple[Counting, int]) -> dict[str, Message]:
    """Issue 1 of the weekly list at FIRST_CUTOFF, issue 2 at NOW; issue 2's messages."""
    handler, port = smtp
    early, late = app_at(instance, port, FIRST_CUTOFF), app_at(instance, port, NOW)
    db.migrate(late.engine)
    csvfile.import_csv(late, instance / "subscribers.csv")
    assert pipeline.refresh(late).gathered.failed == 0
    first = issues.compose_next(early, "weekly")
    assert first is not None
    send_issue(early, first.id)
    handler.messages.clear()
    second = issues.compose_next(late, "weekly")
    assert second is not None and second.number == 2
    summary = send_issue(late, second.id)
    assert summary.sent == len(WEEKLY_ACTIVE) and summary.failed == 0
    early.close()
    late.close()
    return {rcpt: email.message_from_bytes(data) for _, rcpt, data in handler.messages}


def test_one_message_per_active_subscriber(delivered: dict[str, Message]) -> None:
    assert set(delivered) == WEEKLY_ACTIVE
    ids = {message["Message-ID"] for message in delivered.values()}
    assert len(ids) == len(WEEKLY_ACTIVE)


def test_headers_on_the_wire(delivered: dict[str, Message]) -> None:
    for rcpt, message in delivered.items():
        assert message.get_content_type() == "multipart/alternative"
        assert [p.get_content_type() for p in message.get_payload()] == [
            "text/plain",
            "text/html",
        ]
        assert message["From"] == '"Test Notes" <notes@example.org>'
        assert rcpt in message["To"]
        assert email.utils.parsedate_to_datetime(message["Date"]).tzinfo is not None
        assert re.fullmatch(r"<[^<>@\s]+@[^<>@\s]+>", message["Message-ID"])
        unsubscribe = message["List-Unsubscribe"]
        assert re.search(r"<https://notes\.example\.org/u/[\w.-]+>", unsubscribe)
        assert "<mailto:unsubscribe@example.org" in unsubscribe
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert message["Subject"].startswith("Notes Weekly #2")


def test_teasers_carry_the_right_titles_and_dates(delivered: dict[str, Message]) -> None:
    for message in delivered.values():
        body = parts(message)
        page, text = html.unescape(body["text/html"]), body["text/plain"]
        for part in (page, " ".join(text.split())):
            # previous: the newest article before the window (the last of issue 1)
            assert "Hepatitis C Is Curable – If You Finish the Course" in part
            assert "September 24, 2026" in part
            # next: the earliest scheduled article, title and date only
            assert "What’s Next for BTK Inhibitors in MS" in part
            assert "January 12, 2028" in part
            assert "https://notes.example.org/archive" in part
        # the window's own articles, and none from issue 1's window
        assert "Know Your Enemy: What Counts as an MS Relapse" in page
        assert "Flu Season on Immunosuppressants: Timing Your Vaccines" in page
        assert "Vitamin D and MS" not in page
        # the scheduled article is never linked before it is public
        assert "btk-inhibitors" not in page


def test_css_is_inlined_and_nothing_active_remains(delivered: dict[str, Message]) -> None:
    page = parts(next(iter(delivered.values())))["text/html"]
    assert page.count('style="') > 20
    assert 'class="button-link"' not in page or "style=" in page
    assert "<link" not in page.lower()
    assert "<script" not in page.lower()
    assert "@@nl:" not in page


def test_messages_differ_only_in_the_filled_fields(delivered: dict[str, Message]) -> None:
    ada = parts(delivered["ada.lovelace@example.com"])["text/html"]
    sam = parts(delivered["sam.rivera@example.org"])["text/html"]
    assert "Ada Lovelace" in ada and "Sam Rivera" in sam
    tokens = re.compile(r"/(u|preferences)/[\w.-]+")
    assert tokens.sub("", ada).replace("Ada Lovelace", "X") == tokens.sub("", sam).replace(
        "Sam Rivera", "X"
    )


def test_feeds_parse_back_entry_by_entry(app: App) -> None:
    csvfile.import_csv(app, app.settings.instance_dir / "subscribers.csv")
    pipeline.refresh(app)
    with app.engine.connect() as conn:
        stored = list(article_store.public_newest_first(conn, NOW))
    assert len(stored) == 11
    folder = app.settings.path(app.settings.paths.feeds)
    for name in ("rss.xml", "atom.xml"):
        parsed = feedparser.parse((folder / name).read_bytes())
        assert parsed.bozo == 0, (name, parsed.get("bozo_exception"))
        assert len(parsed.entries) == len(stored)
        for entry, article in zip(parsed.entries, stored, strict=True):
            assert entry.title == article.title
            assert entry.link == article.url
            assert entry.id == article_id(article.source, article.guid)
            published = datetime(*entry.published_parsed[:6], tzinfo=UTC)
            assert published == article.published.replace(microsecond=0)
    assert "btk" not in (folder / "rss.xml").read_text()


def test_an_edit_keeps_the_feed_id_and_moves_only_updated(app: App) -> None:
    pipeline.refresh(app)
    feed = app.settings.path(app.settings.paths.feeds) / "atom.xml"
    before = {e.id: e for e in feedparser.parse(feed.read_bytes()).entries}
    path = (
        app.settings.path(app.settings.paths.content)
        / "2026-08-26-first-specialty-refill-questions.md"
    )
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("Five Questions", "Six Questions", 1), "utf-8")
    refreshed = pipeline.refresh(app)
    assert (refreshed.gathered.new, refreshed.gathered.updated) == (0, 1)
    after = {e.id: e for e in feedparser.parse(feed.read_bytes()).entries}
    assert set(after) == set(before)
    changed = [i for i in after if after[i].title != before[i].title]
    assert len(changed) == 1
    edited = after[changed[0]]
    assert edited.title.startswith("Six Questions")
    assert edited.link == before[changed[0]].link
    assert edited.published == before[changed[0]].published
    assert edited.updated_parsed > before[changed[0]].updated_parsed
