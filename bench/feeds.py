"""Benchmark: building the feeds, and answering pollers, each against a baseline in the same run.

Run by hand: `python bench/feeds.py [--articles 10000] [--rounds 3] [--requests 300]`.

1. Build. --articles seed-sized articles (about 3.5 KB of HTML each) in memory.
   - ours: `build_feeds` for the site-wide feed with max_items = --articles, i.e. the
     same entries written three times (RSS 2.0, Atom 1.0, JSON Feed 1.1), every body
     sanitised again on the way out;
   - baseline: a bare feedgen RSS build of the same entries (id, title, link, dates,
     author, content), no sanitising, no other format.
   Each build runs in a fresh child process, alternating ours / baseline for --rounds
   rounds; the medians are printed with the peak memory of the build (growth of the
   child's ru_maxrss during the build, and tracemalloc's peak of a second build, which
   sees Python objects only, not lxml's C allocations). Goal: ours <= 4x the baseline.
   A last line times the full build with five category feeds (no baseline).
2. Serve. A temporary instance with 50 articles is served by `newsletter serve`'s code
   path (uvicorn on 127.0.0.1, a child process); one keep-alive client alternates
   batches of --requests full GETs (200, identity) and conditional GETs (304) for
   --rounds rounds; medians per request and the ratio are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from feedgen.feed import FeedGenerator

from newsletter import app as app_module
from newsletter import config
from newsletter.cli import feeds as feeds_cli
from newsletter.config import FeedSettings, Settings
from newsletter.feeds import build_feeds, write_feeds
from newsletter.links import Links
from newsletter.models import Article
from newsletter.store import articles as article_store
from newsletter.store import db

BASE = "https://notes.example.org"
PARAGRAPH = (
    "<p>In the NIH study, 24 people with MS received high-dose immunosuppressive therapy "
    "and were then transplanted with their own hematopoietic stem cells. During the next "
    "three years most of them (78.4&nbsp;%) achieved remission, with <em>no new brain "
    "lesions</em> in those who responded; see the "
    '<a href="https://example.org/jama/{n}" rel="noopener noreferrer">trial report</a>.</p>'
)
CATEGORIES = ("MS", "Research", "Care", "Podcast", "News")


def make_articles(count: int, categories: bool) -> list[Article]:
    start = datetime(2015, 8, 1, tzinfo=UTC)
    return [
        Article(
            source="content",
            guid=f"content/article-{n}.md",
            slug=f"article-{n}",
            title=f"Can stem cells roll back the MS clock? Part {n}",
            url=f"{BASE}/articles/article-{n}",
            published=start + timedelta(hours=count - n),
            updated=start + timedelta(hours=count - n),
            content_html="".join(PARAGRAPH.format(n=n) for _ in range(7)),
            excerpt="In the NIH study, 24 people with MS received high-dose therapy…",
            summary="Stem cell transplants after immunosuppression: 78.4 % in remission.",
            content_hash=str(n),
            author="BioPlus Specialty Pharmacy",
            categories=(CATEGORIES[n % 5],) if categories else (),
        )
        for n in range(count)
    ]


def ours(articles: list[Article], settings: Settings) -> int:
    return sum(len(data) for _path, data in build_feeds(articles, settings, Links(BASE)))


def baseline(articles: list[Article], settings: Settings) -> int:
    fg = FeedGenerator()
    fg.title(settings.site.title)
    fg.link(href=f"{BASE}/")
    fg.description(settings.site.title)
    for item in articles:
        entry = fg.add_entry(order="append")
        entry.id(item.guid)
        entry.title(item.title)
        entry.link(href=item.url)
        entry.published(item.published)
        entry.updated(item.updated)
        entry.author(name=item.author)
        entry.content(item.content_html, type="html")
    return len(fg.rss_str(pretty=True))


def child(kind: str, count: int) -> None:
    """One measured build in this fresh process; prints its figures as JSON."""
    settings = Settings(feeds=FeedSettings(max_items=count))
    articles = make_articles(count, categories=kind == "all")
    build: Callable[[list[Article], Settings], int] = baseline if kind == "baseline" else ours
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    size = build(articles, settings)
    seconds = time.perf_counter() - start
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    tracemalloc.start()
    build(articles, settings)
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    figures = {"seconds": seconds, "rss_mb": grown / 1024, "traced_mb": traced / 2**20}
    print(json.dumps(figures | {"bytes": size}))


def run_child(kind: str, count: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", kind, "--articles", str(count)]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=1800)
    return dict(json.loads(done.stdout.splitlines()[-1]))


def bench_build(count: int, rounds: int) -> None:
    runs: dict[str, list[dict[str, Any]]] = {"ours": [], "baseline": []}
    for _ in range(rounds):
        for kind, results in runs.items():
            results.append(run_child(kind, count))
    median = {
        kind: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for kind, rs in runs.items()
    }
    for kind, label in (("ours", "ours (RSS+Atom+JSON)"), ("baseline", "bare feedgen RSS")):
        m = median[kind]
        print(
            f"build {count} articles, {label}: {m['seconds']:.2f} s, "
            f"{m['bytes'] / 2**20:.1f} MB written, peak +{m['rss_mb']:.0f} MB RSS, "
            f"{m['traced_mb']:.0f} MB traced (median of {rounds})"
        )
    ratio = median["ours"]["seconds"] / median["baseline"]["seconds"]
    memory = median["ours"]["rss_mb"] / max(median["baseline"]["rss_mb"], 1)
    print(f"build ratio ours/baseline: time {ratio:.2f}x (goal <= 4x), peak RSS {memory:.2f}x")
    every = run_child("all", count)
    print(
        f"build {count} articles, all feeds (site-wide + 5 categories) x 3 formats: "
        f"{every['seconds']:.2f} s, peak +{every['rss_mb']:.0f} MB RSS (no baseline)"
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def make_instance(folder: Path, port: int) -> Path:
    toml = folder / "newsletter.toml"
    toml.write_text(
        f'demo = true\n[site]\ntitle = "Bench"\nbase_url = "{BASE}"\n'
        f'[web]\nhost = "127.0.0.1"\nport = {port}\n',
        encoding="utf-8",
    )
    app = app_module.build(config.load(toml))
    db.migrate(app.engine)
    with app.engine.begin() as conn:
        source = article_store.ensure_source(conn, "content", "markdown", "content")
        for item in make_articles(50, categories=True):
            article_store.insert_article(conn, source, item, datetime.now(UTC))
    write_feeds(app)
    app.close()
    return toml


def serve(toml: str) -> None:
    """The child that serves: the same function `newsletter serve` runs."""
    app = app_module.build(config.load(Path(toml)))
    feeds_cli.serve(app, argparse.Namespace(host=None, port=None))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc), 0 where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_batch(
    client: httpx.Client, server: int, headers: dict[str, str], count: int, status: int
) -> tuple[float, float]:
    """Wall time and server CPU time per request, over `count` requests."""
    cpu, start = cpu_seconds(server), time.perf_counter()
    for _ in range(count):
        response = client.get("/feeds/rss.xml", headers=headers)
        assert response.status_code == status, response.status_code
    wall = (time.perf_counter() - start) / count
    return wall, (cpu_seconds(server) - cpu) / count


def wait_for(port: int, limit: float = 20.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"server on 127.0.0.1:{port} did not start within {limit:.0f} s")


def bench_serve(requests: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        port = free_port()
        toml = make_instance(Path(folder), port)
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(toml)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for(port)
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
                identity = {"accept-encoding": "identity"}
                first = client.get("/feeds/rss.xml", headers=identity)
                conditional = identity | {"if-none-match": first.headers["etag"]}
                timed_batch(client, server.pid, identity, 50, 200)  # warm-up
                full, fresh = [], []
                for _ in range(rounds):
                    full.append(timed_batch(client, server.pid, identity, requests, 200))
                    fresh.append(timed_batch(client, server.pid, conditional, requests, 304))
        finally:
            server.terminate()
            server.wait(timeout=10)
    f, c = (statistics.median(w for w, _ in runs) for runs in (full, fresh))
    fc, cc = (statistics.median(cpu for _, cpu in runs) for runs in (full, fresh))
    print(
        f"serve /feeds/rss.xml ({len(first.content) / 1024:.0f} KB, 50 items) via uvicorn, "
        f"{rounds} x {requests} requests each, medians: full 200 {f * 1e6:.0f} us/request "
        f"wall, {fc * 1e6:.0f} us server CPU; 304 {c * 1e6:.0f} us wall, {cc * 1e6:.0f} us CPU"
    )
    print(
        f"serve ratio 200/304: wall {f / c:.2f}x, server CPU {fc / max(cc, 1e-9):.2f}x "
        "(wall includes the Python client on the same machine)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--child", choices=["ours", "baseline", "all"], help=argparse.SUPPRESS)
    parser.add_argument("--serve", metavar="TOML", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.articles)
    elif args.serve:
        serve(args.serve)
    else:
        bench_build(args.articles, args.rounds)
        bench_serve(args.requests, args.rounds)


if __name__ == "__main__":
    main()
