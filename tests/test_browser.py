"""The public pages in headless Chromium (Debian's), driven by Playwright.

The real app is served by uvicorn on 127.0.0.1 (ephemeral port) after the demo
pipeline ran on the sample content: gather, compose and send through a real SMTP
sink, so the weekly list's issue 1 has a public web copy. Chromium may reach
127.0.0.1 only: every other request is aborted and recorded, and the only ones
allowed are images (the sample's pictures live on the site's real host); no
script, stylesheet, font or frame may be asked for elsewhere. Each page is
checked at a desktop and a phone width for what a reader would notice: it
answers 200, logs no console or page error, scrolls no sideways, the issue's
600 px email table fits, and every image has a text alternative. Screenshots go
to the test's tmp_path.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import uvicorn
from helpers_delivery import NOW, app_for
from smtp_servers import counting

from newsletter import demo
from newsletter.app import App
from newsletter.store import articles as article_store
from newsletter.web.app import create_app

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).is_file():
    pytest.skip(
        "Debian's chromium is not installed (apt-get install chromium; .ci/chromium.sh does)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is not installed (pip install .[test])"
)

LOOPBACK = "127.0.0.1"
# As root, in a sandbox with no network: no sandbox, no GPU, and nothing of Chromium's
# own that calls home (Playwright adds a fresh --user-data-dir of its own to each launch).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WIDTHS = {"desktop": 1280, "phone": 375}
TIMEOUT_MS = 15_000
STARTUP_SECONDS = 10.0
PIPELINE_SECONDS = 60.0


@dataclass
class Site:
    base_url: str
    article_path: str


@dataclass
class Visit:
    """What one page load did: blocked requests, console and page errors."""

    blocked: list[tuple[str, str]] = field(default_factory=list)  # (url, resource type)
    console_errors: list[tuple[str, str]] = field(default_factory=list)  # (text, source url)
    page_errors: list[str] = field(default_factory=list)

    def unexpected_console_errors(self) -> list[tuple[str, str]]:
        """Console errors, less the load failures of the images we aborted ourselves."""
        aborted = {url for url, kind in self.blocked if kind == "image"}
        return [
            (text, url)
            for text, url in self.console_errors
            if not (url in aborted and text.startswith("Failed to load resource"))
        ]


@contextmanager
def serve(app: App) -> Iterator[str]:
    """The real web app on 127.0.0.1 in a thread; gives its base URL, stops it after."""
    listener = socket.create_server((LOOPBACK, 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(app), log_level="warning"))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [listener]}, name=f"web:{port}", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not server.started:
            assert thread.is_alive(), "uvicorn stopped during startup"
            assert time.monotonic() < deadline, f"uvicorn not started in {STARTUP_SECONDS}s"
            time.sleep(0.02)
        yield f"http://{LOOPBACK}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=STARTUP_SECONDS)
        listener.close()


@pytest.fixture
def site(instance: Path, tmp_path: Path) -> Iterator[Site]:
    """The sample instance after `newsletter demo`'s steps, served over HTTP."""
    smtp, received = counting()  # bound already; it serves inside the `with` below
    app = app_for(instance, smtp.port)
    try:
        with smtp, ThreadPoolExecutor(max_workers=1) as worker:
            # its own thread: the send runs an asyncio loop, and Playwright's sync API
            # holds one in this thread already
            pipeline = worker.submit(lambda: list(demo.run(app, tmp_path / "preview")))
            lines = pipeline.result(timeout=PIPELINE_SECONDS)
        assert received.total() > 0, lines  # weekly/1 went out: its web copy is public
        with app.engine.connect() as conn:
            pictured = [a for a in article_store.public_newest_first(conn, NOW) if a.image]
        assert pictured, "the sample content has no public article with an image"
        with serve(app) as base_url:
            yield Site(base_url, f"/articles/{pictured[0].slug}")
    finally:
        app.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[sync_api.Browser]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=TIMEOUT_MS
        )
        yield launched
        launched.close()


@pytest.fixture
def context(browser: sync_api.Browser, device: str) -> Iterator[sync_api.BrowserContext]:
    """A fresh browser context at the device's width, closed whatever the test did."""
    opened = browser.new_context(viewport={"width": WIDTHS[device], "height": 900})
    opened.set_default_timeout(TIMEOUT_MS)
    yield opened
    opened.close()


def visit(
    context: sync_api.BrowserContext, url: str, shot: Path
) -> tuple[sync_api.Page, sync_api.Response, Visit]:
    """Load `url` with every non-loopback request aborted and recorded; screenshot it."""
    seen = Visit()

    def gate(route: sync_api.Route) -> None:
        if urlsplit(route.request.url).hostname == LOOPBACK:
            route.continue_()
        else:
            seen.blocked.append((route.request.url, route.request.resource_type))
            route.abort()

    def console(message: sync_api.ConsoleMessage) -> None:
        if message.type == "error":
            seen.console_errors.append((message.text, message.location["url"]))

    context.route("**/*", gate)
    page = context.new_page()
    page.on("console", console)
    page.on("pageerror", lambda error: seen.page_errors.append(str(error)))
    response = page.goto(url, wait_until="load", timeout=TIMEOUT_MS)
    assert response is not None, url
    # late failures (a fetch after load) show up too, within the bound
    page.wait_for_load_state("networkidle", timeout=TIMEOUT_MS)
    page.screenshot(path=shot, full_page=True, timeout=TIMEOUT_MS)
    return page, response, seen


def assert_reads_well(page: sync_api.Page, response: sync_api.Response, seen: Visit) -> None:
    """What every page owes a reader, whatever it is."""
    assert response.status == 200, response.url
    assert seen.page_errors == []
    assert seen.unexpected_console_errors() == []
    assert [(url, kind) for url, kind in seen.blocked if kind != "image"] == [], (
        "a request off this host that is not an image (script, style, font, frame…)"
    )
    scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll <= inner, f"scrolls sideways: {scroll} px of content in {inner} px"
    alts = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.getAttribute('alt'))")
    assert all(alt and alt.strip() for alt in alts), alts


@pytest.mark.parametrize("device", WIDTHS)
def test_article_page(
    context: sync_api.BrowserContext, site: Site, device: str, tmp_path: Path
) -> None:
    width = WIDTHS[device]
    page, response, seen = visit(
        context, site.base_url + site.article_path, tmp_path / f"article-{device}.png"
    )
    assert_reads_well(page, response, seen)
    assert page.locator("article h1").count() == 1
    assert page.locator("figure.lead img").count() == 1
    # the stylesheet came from our own host and applied: the column is capped at 42rem
    body_width = page.evaluate("document.body.getBoundingClientRect().width")
    assert body_width <= min(width, 42 * 17), body_width


@pytest.mark.parametrize("device", WIDTHS)
def test_archive(context: sync_api.BrowserContext, site: Site, device: str, tmp_path: Path) -> None:
    page, response, seen = visit(
        context, site.base_url + "/archive", tmp_path / f"archive-{device}.png"
    )
    assert_reads_well(page, response, seen)
    assert page.locator("ol.archive > li").count() > 1
    assert seen.blocked == []  # the archive shows no pictures, so it asks nobody else


@pytest.mark.parametrize("device", WIDTHS)
def test_issue_web_copy(
    context: sync_api.BrowserContext, site: Site, device: str, tmp_path: Path
) -> None:
    width = WIDTHS[device]
    page, response, seen = visit(
        context, site.base_url + "/issues/weekly/1", tmp_path / f"issue-{device}.png"
    )
    assert_reads_well(page, response, seen)
    assert page.locator("img").count() > 0
    container = page.locator("table.container")
    assert container.count() == 1
    box = container.bounding_box(timeout=TIMEOUT_MS)
    assert box is not None
    if width >= 600 + 20:  # wider than the style's breakpoint: the fixed 600 px column
        assert box["width"] == 600
    else:  # a phone: the column shrinks to the screen
        assert 0 < box["width"] <= width
        assert box["x"] >= 0
