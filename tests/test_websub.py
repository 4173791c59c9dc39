"""WebSub publish pings, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from helpers_feeds import BASE, article, make_app, store

from newsletter.feeds import write_feeds
from newsletter.websub import publish


class Hub(ThreadingHTTPServer):
    status = 204
    received: list[dict[str, list[str]]]


class HubHandler(BaseHTTPRequestHandler):
    server: Hub

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", 0))
        self.server.received.append(parse_qs(self.rfile.read(length).decode()))
        self.send_response(self.server.status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def hub() -> Iterator[Hub]:
    server = Hub(("127.0.0.1", 0), HubHandler)
    server.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def hub_url(server: Hub) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/"


def test_changed_feeds_are_announced_and_unchanged_ones_are_not(instance: Path, hub: Hub) -> None:
    app = make_app(instance, {"feeds": {"hub_url": hub_url(hub)}})
    store(app, article(1))
    report = write_feeds(app)
    assert [ping.ok for ping in report.pings] == [True] * len(report.written)
    announced = sorted(form["hub.url"][0] for form in hub.received)
    assert announced == sorted(f"{BASE}/feeds/{path}" for path in report.written)
    assert all(form["hub.mode"] == ["publish"] for form in hub.received)
    hub.received.clear()
    assert write_feeds(app).pings == () and hub.received == []
    app.close()


def test_a_refusing_hub_is_reported_and_does_not_stop_the_build(instance: Path, hub: Hub) -> None:
    hub.status = 500
    app = make_app(instance, {"feeds": {"hub_url": hub_url(hub)}})
    store(app, article(1))
    report = write_feeds(app)
    assert report.written and all(
        not ping.ok and ping.detail == "HTTP 500" for ping in report.pings
    )
    assert "failed" in report.summary()
    app.close()


def test_after_the_hub_is_unreachable_the_rest_is_skipped(hub: Hub) -> None:
    address = hub_url(hub)
    hub.shutdown()
    hub.server_close()
    pings = publish(address, [f"{BASE}/feeds/rss.xml", f"{BASE}/feeds/atom.xml"], timeout=2)
    assert pings[0].detail.startswith("unreachable")
    assert pings[1].detail == "skipped: hub unreachable"
