"""Benchmark: gather 200 remote feeds served on 127.0.0.1, against a sequential feedparser loop.

Run by hand: `python bench/gather.py [--feeds 200] [--items 10] [--latency-ms 20]`.

Each feed answers after a simulated network round trip (--latency-ms) and sends
an ETag, answering 304 when it comes back. Two rounds are measured:

- cold: ours fetches concurrently, parses, sanitises and stores every entry in
  SQLite; the baseline (the way rss2email works) fetches and parses one feed
  after another with feedparser and stores nothing;
- warm: both send the ETag they got (ours from the database); every answer is a 304.

Both run in the same process against the same server, so only the ratio means
anything on a shared machine.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import feedparser

from newsletter import app as app_module
from newsletter import config
from newsletter.gather import gather
from newsletter.store import db

ITEM = """<item><title>Feed {feed} note {item}</title>
<link>https://partner{feed}.example.com/{item}</link><guid>p{feed}-{item}</guid>
<pubDate>Tue, {day:02d} Sep 2026 09:00:00 GMT</pubDate>
<description>&lt;p&gt;Body of note {item} with &lt;a href="/x"&gt;a link&lt;/a&gt;
and some words to sanitise &amp;amp; store.&lt;/p&gt;</description></item>"""


def feed_document(feed: int, items: int) -> bytes:
    entries = "".join(ITEM.format(feed=feed, item=i, day=1 + i % 28) for i in range(items))
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Partner {feed}</title><link>https://partner{feed}.example.com/</link>"
        f"<description>d</description>{entries}</channel></rss>"
    ).encode()


def serve(documents: dict[str, bytes], latency: float) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            time.sleep(latency)
            body = documents.get(self.path)
            etag = f'"{self.path}"'
            if body is None:
                self.send_error(404)
                return
            fresh = self.headers.get("If-None-Match") == etag
            self.send_response(304 if fresh else 200)
            self.send_header("ETag", etag)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", "0" if fresh else str(len(body)))
            self.end_headers()
            if not fresh:
                self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server


def timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--feeds", type=int, default=200)
    options.add_argument("--items", type=int, default=10)
    options.add_argument("--latency-ms", type=float, default=20.0)
    args = options.parse_args()
    documents = {f"/feed/{n}": feed_document(n, args.items) for n in range(args.feeds)}
    server = serve(documents, args.latency_ms / 1000)
    urls = [f"http://127.0.0.1:{server.server_address[1]}{path}" for path in documents]

    with tempfile.TemporaryDirectory() as folder:
        instance = Path(folder)
        (instance / "content").mkdir()
        sources = "".join(
            f'[[gather.sources]]\nname = "feed-{n}"\nurl = "{url}"\n' for n, url in enumerate(urls)
        )
        (instance / "newsletter.toml").write_text(
            f'[site]\nbase_url = "https://notes.example.org"\n{sources}', encoding="utf-8"
        )
        app = app_module.build(config.load(instance / "newsletter.toml"))
        db.migrate(app.engine)
        reports = []
        ours_cold = timed(lambda: reports.append(gather(app)))
        ours_warm = timed(lambda: reports.append(gather(app)))
        app.close()

    etags: dict[str, str] = {}

    def sequential(conditional: bool) -> None:
        for url in urls:
            parsed = feedparser.parse(url, etag=etags.get(url) if conditional else None)
            etags[url] = parsed.get("etag", "")

    base_cold = timed(lambda: sequential(False))
    base_warm = timed(lambda: sequential(True))
    server.shutdown()

    stored = reports[0].new
    print(f"feeds: {args.feeds} x {args.items} items, latency {args.latency_ms:.0f} ms")
    print(f"cold  ours {ours_cold:7.3f} s (fetch+parse+sanitise+store {stored} articles)")
    print(f"cold  baseline {base_cold:7.3f} s (sequential feedparser fetch+parse, no store)")
    print(f"cold  ratio baseline/ours = {base_cold / ours_cold:.2f}x")
    print(f"warm  ours {ours_warm:7.3f} s ({reports[1].new} new, all 304)")
    print(f"warm  baseline {base_warm:7.3f} s (sequential conditional GETs)")
    print(f"warm  ratio baseline/ours = {base_warm / ours_warm:.2f}x")


if __name__ == "__main__":
    main()
