"""render: templates, inlining once and offline, the text part, the per-subscriber fill."""

from __future__ import annotations

import html
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from zoneinfo import ZoneInfo

import pytest
from lxml import html as lxml_html

from newsletter import compose, issues
from newsletter.app import App
from newsletter.errors import RenderError
from newsletter.links import Links
from newsletter.models import Image, Issue, Subscriber, SubscriberStatus
from newsletter.render import personalise, subscriber_values
from newsletter.render.digest import context, render_issue
from newsletter.render.env import environment
from newsletter.tokens import Purpose, Tokens
from tests.conftest import NOW
from tests.helpers_issues import add, article, days

GOLDEN = Path(__file__).with_name("golden")
UPDATE_GOLDEN = os.environ.get("NEWSLETTER_UPDATE_GOLDEN") == "1"  # rewrite on purpose only
UNSUPPORTED = re.compile(
    r"display\s*:\s*(?:inline-)?(?:flex|grid)|\bposition\s*:|\bfloat\s*:", re.I
)
PARAGRAPH = (
    "<p>In a late-breaking series, 123 patients with relapsing–remitting disease and 28 with "
    "secondary progressive MS went through a gentler, <em>nonmyeloablative</em> regimen that "
    "spares part of the marrow. Four years on, about 80% were relapse-free – and many scored "
    "better on disability scales. “It is not a cure,” the authors wrote, “but it is a reset.”</p>"
)
LONG_BODY = PARAGRAPH * 6 + (
    '<ul><li>Ask your neurologist about <a href="https://clinicaltrials.example.org/ms">'
    "trials near you</a>.</li><li>Bring your full medication list.</li></ul>"
)


def frozen(app: App, name: str = "weekly") -> Issue:
    issue = issues.compose_next(app, name)
    assert issue is not None
    return issue


def subscriber(sid: int, name: str, email: str) -> Subscriber:
    return Subscriber(id=sid, email=email, name=name, status=SubscriberStatus.ACTIVE)


def values(app: App, who: Subscriber) -> dict[str, str]:
    return subscriber_values(app.links, app.tokens(), who)


@pytest.fixture
def issue(app: App) -> Issue:
    add(
        app,
        article("before", NOW - days(20), title="Before the Window"),
        article(
            "lead",
            NOW - days(1),
            title="Can Stem Cells Roll Back the MS Clock?",
            image=Image("https://notes.example.org/media/lab.jpg", "A lab technician", 1200, 675),
        ),
        article("coming", NOW + days(6), title="Know Your Enemy"),
    )
    return frozen(app)


def test_css_is_inlined_into_style_attributes_and_media_rules_are_kept(issue: Issue) -> None:
    root = lxml_html.document_fromstring(issue.html)
    headline = root.find_class("headline")[0]
    assert "font-size:22px" in headline.get("style", "")
    styles = "".join(s.text or "" for s in root.iter("style"))
    assert "@media screen and (max-width: 620px)" in styles
    assert "prefers-color-scheme: dark" in styles
    assert ".headline {" not in styles.split("@media")[0]  # plain rules left the <style> block
    assert root.find(".//meta[@name='color-scheme']").get("content") == "light dark"


def test_layout_is_600px_tables_with_outlook_conditionals(issue: Issue) -> None:
    root = lxml_html.document_fromstring(issue.html)
    container = root.find_class("container")[0]
    assert container.tag == "table" and container.get("width") == "600"
    assert '<!--[if mso]><table role="presentation" width="600"' in issue.html
    assert "<![endif]-->" in issue.html


def test_images_have_pixel_sizes_scaled_to_the_column_and_alt_text(issue: Issue) -> None:
    (image,) = lxml_html.document_fromstring(issue.html).iter("img")
    assert (image.get("width"), image.get("height")) == ("560", "315")
    assert image.get("alt") == "A lab technician"


def test_preheader_view_online_footer_and_show_all(app: App, issue: Issue) -> None:
    root = lxml_html.document_fromstring(issue.html)
    preheader = root.find_class("preheader")[0]
    assert "display:none" in preheader.get("style", "").replace(" ", "")
    assert preheader.text_content().startswith("Can Stem Cells Roll Back the MS Clock?")
    hrefs = [a.get("href") for a in root.iter("a")]
    assert app.links.issue("weekly", 1) in hrefs
    assert app.links.archive() in hrefs
    assert "@@nl:unsubscribe_url@@" in hrefs and "@@nl:preferences_url@@" in hrefs
    assert "1 Test Street, Testville" in root.text_content()
    for part in (issue.html, issue.text):
        assert "Know Your Enemy" in part  # the next teaser, title and date only
    assert "/articles/coming" not in issue.html + issue.text


def test_text_part_wraps_at_78_and_shows_the_same_articles_and_teasers(app: App) -> None:
    add(app, article("a", NOW - days(9), title="Older One"))
    frozen(app)
    app.clock = lambda: NOW + days(7)
    add(
        app,
        article("long", NOW + days(2), title="A Long One", body=LONG_BODY),
        article("next", NOW + days(20), title="Scheduled One"),
    )
    issue = frozen(app)
    lines = issue.text.splitlines()
    assert all(len(line) <= 78 or " " not in line.strip() for line in lines)
    for title in ("A Long One", "Older One", "Scheduled One"):
        assert title in issue.text and html.escape(title) in issue.html
    assert "https://notes.example.org/articles/long" in issue.text
    assert "<" not in issue.text.replace("<https://", "")


def test_full_mode_text_part_spells_out_links(app: App) -> None:
    add(app, article("ms", NOW - days(1), categories=["multiple-sclerosis"], body=LONG_BODY))
    issue = frozen(app, "ms-monthly")
    words = " ".join(issue.text.split())
    assert "trials near you <https://clinicaltrials.example.org/ms>" in words
    assert "\n- Bring your full medication list.\n" in issue.text


def test_two_subscribers_differ_only_in_their_filled_fields(app: App, issue: Issue) -> None:
    people = [subscriber(1, "Ada Lovelace", "ada@example.com"), subscriber(2, "", "bo@example.org")]
    for who in people:
        filled = values(app, who)
        page, text = personalise(issue, filled)
        for key, value in filled.items():
            page = page.replace(html.escape(value), f"@@nl:{key}@@")
            text = text.replace(value, f"@@nl:{key}@@")
        assert (page, text) == (issue.html, issue.text)
    one, two = (personalise(issue, values(app, who))[0] for who in people)
    assert one != two and "Hello there," in two


@pytest.mark.parametrize(
    "name", ["<script>alert(1)</script>", "{{ 7*7 }}", "@@nl:unsubscribe_url@@", "Ann\r\nBcc: x"]
)
def test_hostile_subscriber_names_appear_as_text(app: App, issue: Issue, name: str) -> None:
    page, text = personalise(issue, values(app, subscriber(3, name, "eve@example.com")))
    greeting = lxml_html.document_fromstring(page).find_class("greeting")[0].text_content()
    shown = " ".join(name.split())
    assert greeting.startswith(f"Hello {shown},")
    assert f"Hello {shown}," in text
    assert "<script>" not in page and "49" not in greeting


def test_article_text_cannot_smuggle_a_marker(app: App) -> None:
    add(app, article("sly", NOW - days(1), title="Hi @@nl:email@@", body="<p>@@nl:name@@</p>"))
    issue = frozen(app)
    page, text = personalise(issue, values(app, subscriber(4, "Zed", "zed@example.com")))
    assert "zed@example.com" not in page.split("<body", 1)[1].split("footer")[0]
    assert page.count("Zed") == 1 and text.count("Zed") == 1


def test_inlined_html_uses_no_unsupported_layout_css(app: App) -> None:
    add(app, *(article(f"a{n}", NOW - days(n + 1), body=LONG_BODY) for n in range(3)))
    issue = frozen(app)
    root = lxml_html.document_fromstring(issue.html)
    declarations = [e.get("style", "") for e in root.iter() if isinstance(e.tag, str)]
    declarations += [s.text or "" for s in root.iter("style")]
    offending = [d for d in declarations if UNSUPPORTED.search(d)]
    assert offending == []


def test_a_ten_article_digest_stays_under_gmail_clipping(app: App) -> None:
    image = Image("https://notes.example.org/media/photo.jpg", "A photo", 1600, 900)
    items = [
        article(
            f"full-{n}",
            NOW - days(n + 1),
            categories=["multiple-sclerosis"],
            body=LONG_BODY,
            image=image,
            references=["Burt RK et al. JAMA 2015;313(3):275-84."] * 3,
        )
        for n in range(10)
    ]
    add(app, *items)
    issue = frozen(app, "ms-monthly")
    assert len(issue.article_ids) == 10
    page, _ = personalise(issue, values(app, subscriber(5, "Ada", "ada@example.com")))
    assert len(page.encode("utf-8")) < 102 * 1024


class Recorder(BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        Recorder.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "text/css")
        self.end_headers()
        self.wfile.write(b".text { color: #ff0000; }")

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def css_server() -> Iterator[str]:
    Recorder.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join(timeout=5)
    server.server_close()


def test_rendering_never_fetches_stylesheets(app: App, instance: Path, css_server: str) -> None:
    theme = instance / "templates" / "email"
    theme.mkdir(parents=True)
    default_css = (Path(__file__).parent.parent / "templates/email/style.css").read_text()
    (theme / "style.css").write_text(f"@import url({css_server}/import.css);\n{default_css}")
    body = (
        f'<link rel="stylesheet" href="{css_server}/link.css"><p>Body</p>'
        "<style>td { position: absolute; float: left; }</style><p>After the style</p>"
    )
    add(app, article("links", NOW - days(1), body=body, categories=["multiple-sclerosis"]))
    issue = frozen(app, "ms-monthly")
    assert Recorder.hits == []
    assert css_server not in issue.html and "@import" not in issue.html
    assert "After the style" in issue.html and not UNSUPPORTED.search(issue.html)


def test_a_list_may_name_its_own_template(app: App, instance: Path) -> None:
    theme = instance / "templates" / "email"
    theme.mkdir(parents=True)
    (theme / "brief.html").write_text(
        '{% extends "email/base.html" %}{% block content %}<tr><td class="text">'
        "{% for a in articles %}{{ a.title }};{% endfor %}</td></tr>{% endblock %}"
    )
    (theme / "brief.txt").write_text("{% for a in articles %}{{ a.title }}\n{% endfor %}")
    lists = tuple(
        item.model_copy(update={"template": "brief"}) if item.name == "weekly" else item
        for item in app.settings.lists
    )
    app.settings = app.settings.model_copy(update={"lists": lists})
    add(app, article("one", NOW - days(1), title="One <&> Two"))
    issue = frozen(app)
    assert issue.text == "One <&> Two\n"
    assert "One &lt;&amp;&gt; Two;" in issue.html and "@@nl:unsubscribe_url@@" in issue.html


def test_instance_templates_override_the_defaults_file_by_file(app: App, instance: Path) -> None:
    theme = instance / "templates" / "email"
    theme.mkdir(parents=True)
    (theme / "digest.txt").write_text("Our own text for {{ list.title }} {{ marker('name') }}\n")
    add(app, article("x", NOW - days(1)))
    issue = frozen(app)
    assert issue.text == "Our own text for Notes Weekly @@nl:name@@\n"
    assert "Show all articles" in issue.html  # the default HTML still applies


def test_a_missing_list_template_is_one_clear_error(app: App) -> None:
    spec = app.settings.list_named("weekly").model_copy(
        update={"template": "nope", "send_empty": True}
    )
    plan = compose.plan(spec, 1, compose.Window(None, NOW, [], set(), [], []), app.links)
    assert plan is not None and plan.articles == plan.neighbours == ()
    with pytest.raises(RenderError, match=r"email/nope\.html"):
        issues.render_plan(app, plan)


def golden_plan(links: Links) -> compose.IssuePlan:
    items = [
        replace(
            article(
                "stem-cells",
                NOW - days(3),
                title="Can Stem Cells Roll Back the MS Clock?",
                image=Image("https://notes.example.org/media/lab.jpg", "A lab", 1200, 675),
                references=["Burt RK et al. JAMA 2015;313(3):275-84."],
            ),
            id=2,
        ),
        replace(
            article("ms-and-anxiety", NOW - days(1), title="MS and Anxiety", body=LONG_BODY), id=3
        ),
    ]
    spec = compose.ListSettings(name="weekly", title="Notes Weekly", mode="full")
    earlier = replace(article("know-your-enemy", NOW - days(12), title="Know Your Enemy"), id=1)
    scheduled = replace(article("btk", NOW + days(30), title="BTK Inhibitors"), id=4)
    window = compose.Window(NOW - days(7), NOW, items, set(), [earlier], [scheduled])
    plan = compose.plan(spec, 7, window, links)
    assert plan is not None
    return plan


def test_rendering_matches_the_golden_files(app: App) -> None:
    """Rewrite with NEWSLETTER_UPDATE_GOLDEN=1 after a deliberate template change."""
    view = context(
        golden_plan(app.links),
        app.settings.site,
        app.settings.sender,
        app.links,
        ZoneInfo("America/New_York"),
    )
    env = environment(app.settings.path(app.settings.paths.templates))
    rendered = render_issue(env, view, "digest")
    assert render_issue(env, view, "digest") == rendered  # deterministic
    for name, got in (("digest.html", rendered.html), ("digest.txt", rendered.text)):
        path = GOLDEN / name
        if UPDATE_GOLDEN:
            path.parent.mkdir(exist_ok=True)
            path.write_text(got, encoding="utf-8")
        assert got == path.read_text(encoding="utf-8"), f"{name} differs from {path}"


def test_preview_is_the_sending_path(app: App, issue: Issue) -> None:
    """The staff preview fills through personalise, with working signed links."""
    page, text = issues.preview(app, issue)
    assert "Hello Preview Reader," in text
    token = re.search(r"/u/([^\s\"]+)", page)
    assert token is not None
    assert Tokens(app.settings.signing_key()).read(Purpose.UNSUBSCRIBE, token.group(1))[0] == 0
