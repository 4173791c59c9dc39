"""Benchmark: personalised digests per second, inline-once + fill against premailer per message.

Run by hand: `python bench/render.py [--subscribers 10000] [--sample 50] [--articles 8]`.

One issue is composed on a temporary instance (SQLite file, full-text list, a
digest of about 30 KB). Then, in the same process:

- ours: the issue's HTML was inlined once by compose; every subscriber costs
  `render.personalise` (escaped placeholder fill of the frozen HTML and text),
  for all --subscribers;
- baseline: the naive way, premailer per message: fill the subscriber's values
  into the page *before* inlining, then run premailer on it. Premailer is too
  slow to run 10 000 times here, so --sample messages are timed and the per-
  message time is extrapolated (the output says so). The baseline skips the
  Jinja render a naive sender would also repeat, so the ratio is conservative.

The sampled subscribers' baseline and ours outputs are compared byte for byte.
"""

from __future__ import annotations

import argparse
import html
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from newsletter import app as app_module
from newsletter import config, issues
from newsletter.models import Article, Image, Issue, Subscriber, SubscriberStatus
from newsletter.placeholders import Filler
from newsletter.render import personalise, subscriber_values
from newsletter.render.digest import context
from newsletter.render.env import environment, render
from newsletter.render.inline import inline
from newsletter.store import articles, db

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
CONFIG = """demo = true
[site]
title = "Riverbend Health Notes"
base_url = "https://notes.example.org"
[sender]
postal_address = "120 Mill Street, Riverbend, NY 12000, USA"
[[lists]]
name = "bench"
title = "Health Notes Weekly"
mode = "full"
"""
PARAGRAPH = (
    "<p>Of 151 patients – 123 with relapsing–remitting disease and 28 with secondary "
    "progressive MS – about <strong>80%</strong> had no relapse over four years, and many "
    "improved on standard disability scales. “It is not a cure,” one investigator said, "
    '“but it is a reset.” See the <a href="https://notes.example.org/archive">archive</a>.</p>'
)


def instance(folder: Path, count: int) -> app_module.App:
    """A migrated instance holding `count` full-length articles published this week."""
    (folder / "newsletter.toml").write_text(CONFIG, encoding="utf-8")
    built = app_module.build(config.load(folder / "newsletter.toml"), clock=lambda: NOW)
    db.migrate(built.engine)
    with built.engine.begin() as conn:
        source = articles.ensure_source(conn, "content", "markdown", "content")
        for n in range(count):
            slug = f"article-{n}"
            when = NOW - timedelta(hours=6 * (n + 1))
            item = Article(
                source="content",
                guid=slug,
                slug=slug,
                title=f"Stem cell transplants in MS, part {n + 1}",
                url=f"https://notes.example.org/articles/{slug}",
                published=when,
                updated=when,
                content_html=PARAGRAPH * 4,
                excerpt="",
                content_hash=str(n),
                author="Dana Whitfield, PharmD",
                categories=("multiple-sclerosis",),
                image=Image(f"https://notes.example.org/media/{n}.jpg", "A lab", 1200, 675),
            )
            articles.insert_article(conn, source, item, NOW)
    return built


def subscribers(count: int) -> list[Subscriber]:
    # Plain names: the baseline re-serialises filled text through lxml, which would write
    # an escaped quote (&quot;) back as a bare one and make the comparison unfair.
    return [
        Subscriber(n, f"reader{n}@example.org", f"Reader {n}", SubscriberStatus.ACTIVE)
        for n in range(1, count + 1)
    ]


def uninlined_page(built: app_module.App) -> str:
    """The issue's page as the template renders it, before premailer, markers in place."""
    with built.engine.begin() as conn:
        plan = issues.plan_next(conn, built, built.settings.list_named("bench"))
    assert plan is not None
    settings = built.settings
    view = context(plan, settings.site, settings.sender, built.links, ZoneInfo("UTC"))
    return render(
        environment(settings.path(settings.paths.templates)), "email/digest.html", view, "bench"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--sample", type=int, default=50)
    parser.add_argument("--articles", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        built = instance(Path(folder), args.articles)
        page = uninlined_page(built)
        issue: Issue | None = issues.compose_next(built, "bench")
        assert issue is not None and issue.html == inline(page), "compose path differs"
        people = subscribers(args.subscribers)
        tokens = built.tokens()
        started = time.perf_counter()
        all_values = [subscriber_values(built.links, tokens, who) for who in people]
        values_seconds = time.perf_counter() - started

        # Keep only what the check needs: 10 000 kept copies would time the allocator instead.
        kept: list[str] = []
        size = 0
        started = time.perf_counter()
        for values in all_values:
            html_part, text_part = personalise(issue, values)
            size += len(html_part) + len(text_part)
            if len(kept) < args.sample:
                kept.append(html_part)
        ours_seconds = time.perf_counter() - started

        template = Filler.parse(page)
        sample = all_values[: args.sample]
        timings = []
        baseline = []
        for values in sample:
            started = time.perf_counter()
            baseline.append(inline(template.fill(values, html.escape)))
            timings.append(time.perf_counter() - started)
        built.close()

    identical = kept == baseline
    per_premailer = statistics.mean(timings)
    per_fill = ours_seconds / len(people)
    print(
        f"digest: {len(issue.html.encode()) / 1024:.1f} KB inlined HTML, {args.articles} articles"
    )
    print(
        f"ours (inline once + fill): {len(people)} messages in {ours_seconds:.3f} s "
        f"= {len(people) / ours_seconds:,.0f} msg/s ({per_fill * 1e3:.4f} ms/msg, "
        f"{size / 2**20:,.0f} MB of text produced)"
    )
    print(
        f"baseline (premailer per message): measured {len(sample)} messages, "
        f"mean {per_premailer * 1e3:.1f} ms (min {min(timings) * 1e3:.1f}, "
        f"max {max(timings) * 1e3:.1f}) = {1 / per_premailer:,.1f} msg/s; "
        f"{len(people)} extrapolated: {per_premailer * len(people):,.0f} s"
    )
    print(
        f"not in either figure, needed by both: subscriber_values (two signed tokens) "
        f"{values_seconds / len(people) * 1e3:.4f} ms/msg"
    )
    print(f"byte-identical HTML for the {len(sample)} sampled subscribers: {identical}")
    print(f"ratio (ours / baseline, messages per second): {per_premailer / per_fill:,.0f}x")


if __name__ == "__main__":
    main()
