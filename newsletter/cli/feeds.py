"""Commands for the feeds and the public site: feed, serve, stats feeds."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import uvicorn

from newsletter.app import App
from newsletter.cli.common import add, settings, with_app
from newsletter.errors import InputError
from newsletter.feeds import write_feeds
from newsletter.feedstats import LOG_FILE, count_readers, read_lines
from newsletter.web.app import create_app


def feed(app: App, args: argparse.Namespace) -> int:
    report = write_feeds(app)
    print(report.summary())
    print(f"feeds folder: {app.settings.path(app.settings.paths.feeds)}")
    for ping in report.pings:
        if not ping.ok:
            print(f"hub not told about {ping.url}: {ping.detail}")
    return 0


def serve(app: App, args: argparse.Namespace) -> int:
    app.settings.signing_key()  # links in pages and emails need it: refuse to start without
    host = args.host or app.settings.web.host
    port = args.port or app.settings.web.port
    print(f"serving {app.settings.site.title} on http://{host}:{port}/ (Ctrl-C stops)")
    uvicorn.run(create_app(app), host=host, port=port, server_header=False, log_level="warning")
    return 0


def stats_feeds(args: argparse.Namespace) -> int:
    path = Path(args.log) if args.log else settings(args).path(Path(LOG_FILE))
    if not path.is_file():
        raise InputError(
            "no feed request log", where=str(path), hint="serve feeds with `newsletter serve`"
        )
    stats = count_readers(read_lines(path))
    for count in stats.counts:
        seen = count.last_seen.strftime("%Y-%m-%d %H:%M")
        print(f"{count.subscribers:>8}  {count.reader:<24} {count.feed}  (last seen {seen})")
    print(
        f"{stats.total()} subscribers through {len(stats.counts)} reader feeds; "
        f"{stats.lines} log lines, {stats.not_understood} not understood"
    )
    return 0


def register(commands: Any) -> None:
    add(commands, "feed", with_app(feed), "Write the RSS, Atom and JSON feeds.", "newsletter feed")
    web = add(
        commands, "serve", with_app(serve), "Serve feeds and pages over HTTP.", "newsletter serve"
    )
    web.add_argument("--host", help="address to listen on (default: web.host)")
    web.add_argument("--port", type=int, help="port to listen on (default: web.port)")
    stats = commands.add_parser("stats", help="Show statistics.")
    kinds = stats.add_subparsers(dest="stats", metavar="WHAT", required=True)
    readers = add(
        kinds,
        "feeds",
        stats_feeds,
        "Count feed-reader subscribers from aggregator User-Agents.",
        "newsletter stats feeds --log /var/log/nginx/access.log",
    )
    readers.add_argument("--log", metavar="FILE", help=f"access log (default: {LOG_FILE})")
