"""Counting feed-reader subscribers from aggregator User-Agents, in our log or a server's."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from helpers_feeds import article, run_command, store

from newsletter.app import App
from newsletter.errors import InputError
from newsletter.feeds import write_feeds
from newsletter.feedstats import (
    LOG_FILE,
    RequestLog,
    count_readers,
    log_line,
    read_lines,
    reader_name,
)
from newsletter.web.app import create_app

pytestmark = pytest.mark.anyio
FEEDLY = "Feedly/1.0 (+http://www.feedly.com/fetcher.html; {n} subscribers; feed-id={id})"
NGINX = '203.0.113.9 - - [{when} +0000] "GET {path} HTTP/1.1" {status} 5120 "-" "{agent}"'


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def nginx(when: str, agent: str, path: str = "/feeds/rss.xml", status: int = 200) -> str:
    return NGINX.format(when=when, agent=agent, path=path, status=status)


@pytest.mark.parametrize(
    ("agent", "name"),
    [
        (FEEDLY.format(n=3, id=1), "Feedly"),
        ("Inoreader/1.0 (+http://www.inoreader.com/feed-fetcher; 45 subscribers; )", "Inoreader"),
        ("NewsBlur Feed Fetcher - 12 subscribers - https://www.newsblur.com/site/1", "NewsBlur"),
        (
            "Mozilla/5.0 (compatible; theoldreader.com; 7 subscribers; feed-id=abc)",
            "theoldreader.com",
        ),
        ("Feedbin feed-id:1234 - 56 subscribers", "Feedbin"),
    ],
)
def test_reader_names(agent: str, name: str) -> None:
    assert reader_name(agent) == name


def test_newest_count_wins_feed_ids_add_up_and_other_lines_do_not_count() -> None:
    lines = [
        nginx("01/Nov/2026:10:00:00", FEEDLY.format(n=100, id="a")),
        nginx("02/Nov/2026:10:00:00", FEEDLY.format(n=120, id="a")),
        nginx("01/Nov/2026:11:00:00", FEEDLY.format(n=5, id="b")),
        nginx(
            "02/Nov/2026:10:00:00", FEEDLY.format(n=9, id="c"), path="/feeds/atom.xml", status=304
        ),
        nginx("03/Nov/2026:10:00:00", "NewsBlur Feed Fetcher - 12 subscribers - https://x"),
        nginx("03/Nov/2026:10:00:00", FEEDLY.format(n=999, id="a"), path="/archive"),
        nginx("03/Nov/2026:10:00:00", FEEDLY.format(n=999, id="a"), status=404),
        nginx("03/Nov/2026:10:00:00", "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0"),
        "garbage that is no log line",
    ]
    stats = count_readers(lines)
    summary = [(c.reader, c.feed, c.subscribers) for c in stats.counts]
    assert summary == [
        ("Feedly", "/feeds/rss.xml", 125),
        ("NewsBlur", "/feeds/rss.xml", 12),
        ("Feedly", "/feeds/atom.xml", 9),
    ]
    assert stats.total() == 146
    assert (stats.lines, stats.not_understood) == (9, 1)
    assert stats.counts[0].last_seen == datetime(2026, 11, 2, 10, tzinfo=UTC)


def test_a_hostile_user_agent_stays_on_its_line_and_reads_back() -> None:
    forged = '- - - [fake] "GET /feeds/rss.xml" 200 1 "-" "Fake; 9999 subscribers"'
    agent = f'Evil "quoted" \\ agent\n{forged}'
    line = log_line(
        datetime(2026, 11, 2, tzinfo=UTC),
        method="GET",
        path="/feeds/rss.xml",
        status=200,
        size=10,
        agent=agent + "; 4 subscribers",
    )
    assert line.count("\n") == 1 and line.endswith("\n")
    counts = count_readers([line]).counts
    assert [(c.reader, c.subscribers) for c in counts] == [("Evil", 9999)]  # one line, one count


async def test_served_feeds_are_logged_and_counted_by_the_command(
    app: App, instance: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store(app, article(1))
    write_feeds(app)
    transport = httpx.ASGITransport(app=create_app(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        for n in (10, 11):
            agent = FEEDLY.format(n=n, id="x")
            assert (await http.get("/feeds/rss.xml", headers={"user-agent": agent})).is_success
    assert len((instance / LOG_FILE).read_text("utf-8").splitlines()) == 2
    assert run_command(instance, "stats", "feeds") == 0
    out = capsys.readouterr().out
    assert "      11  Feedly" in out and "/feeds/rss.xml" in out
    assert "11 subscribers through 1 reader feeds; 2 log lines, 0 not understood" in out
    with pytest.raises(InputError, match="no feed request log"):
        run_command(instance, "stats", "feeds", "--log", str(instance / "none.log"))


def test_the_request_log_rolls_over_and_the_counter_reads_every_part(tmp_path: Path) -> None:
    log = RequestLog(tmp_path / LOG_FILE, max_bytes=400, keep=2)
    when = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    for n in range(1, 11):
        agent = FEEDLY.format(n=n, id="x")
        log.append(
            log_line(when, method="GET", path="/feeds/rss.xml", status=200, size=9, agent=agent)
        )
    log.close()
    parts = sorted(p.name for p in tmp_path.iterdir())
    assert parts == [LOG_FILE, f"{LOG_FILE}.1", f"{LOG_FILE}.2"]  # older ones were dropped
    assert all((tmp_path / name).stat().st_size <= 400 for name in parts)
    stats = count_readers(read_lines(tmp_path / LOG_FILE))
    assert [(c.reader, c.subscribers) for c in stats.counts] == [("Feedly", 10)]  # newest wins
    assert stats.lines == sum(len((tmp_path / n).read_text().splitlines()) for n in parts) < 10
