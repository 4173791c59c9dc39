"""A real HTTP server on 127.0.0.1 serving feeds for the gather tests, and sample feed documents."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/">
<channel>
  <title>Partner Notes</title>
  <link>https://partner.example.com/</link>
  <description>Articles from a partner clinic</description>
  <item>
    <title>Heat &amp; MS: keeping cool</title>
    <link>https://partner.example.com/posts/heat</link>
    <guid isPermaLink="false">partner-heat-1</guid>
    <pubDate>Tue, 01 Sep 2026 14:00:00 GMT</pubDate>
    <category>Multiple Sclerosis</category>
    <description>&lt;p&gt;Cooling vests help &lt;a href="/tips"&gt;tips&lt;/a&gt;.&lt;/p&gt;
      &lt;script&gt;alert(1)&lt;/script&gt;
      &lt;img src="/img/vest.png" onerror="x()"&gt;</description>
    <enclosure url="https://partner.example.com/a.mp3" length="1234" type="audio/mpeg"/>
  </item>
  <item>
    <title>Second post</title>
    <link>https://partner.example.com/posts/second</link>
    <guid>https://partner.example.com/posts/second</guid>
    <pubDate>Wed, 02 Sep 2026 09:00:00 +0200</pubDate>
    <description>Plain words.</description>
  </item>
  <item>
    <title>No date here</title>
    <guid>partner-undated</guid>
    <description>Skipped: an entry without a date is reported.</description>
  </item>
</channel>
</rss>
"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Atom Partner</title>
  <id>urn:uuid:60a76c80-d399-11d9-b93C-0003939e0af6</id>
  <updated>2026-10-01T12:00:00Z</updated>
  <entry>
    <title>Atom entry</title>
    <id>urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a</id>
    <link href="https://atom.example.com/entry"/>
    <published>2026-10-01T10:00:00-04:00</published>
    <updated>2026-10-02T10:00:00Z</updated>
    <author><name>Ana Ruiz</name></author>
    <content type="html">&lt;p&gt;Full &lt;em&gt;content&lt;/em&gt;
      &#x1F600; مرحبا&lt;/p&gt;</content>
  </entry>
</feed>
"""


@dataclass
class Route:
    """What the server answers on one path; with an etag it answers 304 to a matching GET."""

    body: bytes
    status: int = 200
    content_type: str = "application/rss+xml; charset=utf-8"
    etag: str = ""
    last_modified: str = ""


@dataclass
class FeedServer:
    """Routes by path, and the conditional headers each request carried."""

    port: int = 0
    routes: dict[str, Route] = field(default_factory=dict)
    seen: list[tuple[str, str, str]] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def _handler(server: FeedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            since = self.headers.get("If-Modified-Since", "")
            match = self.headers.get("If-None-Match", "")
            server.seen.append((self.path, match, since))
            route = server.routes.get(self.path)
            if route is None:
                self.send_error(404)
                return
            fresh = (route.etag and match == route.etag) or (
                route.last_modified and since == route.last_modified
            )
            self.send_response(304 if fresh else route.status)
            if route.etag:
                self.send_header("ETag", route.etag)
            if route.last_modified:
                self.send_header("Last-Modified", route.last_modified)
            body = b"" if fresh else route.body
            self.send_header("Content-Type", route.content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: pytest shows failures, not access logs."""

    return Handler


@contextmanager
def feed_server() -> Iterator[FeedServer]:
    """A threaded HTTP server on an ephemeral loopback port, shut down on exit."""
    state = FeedServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
