"""compose: which articles make a list's next issue, its teasers, subject and preheader.

Plain functions over articles the caller has read from the store: given a list,
the time, the articles in the window and the neighbours around it, `plan`
returns an IssuePlan (or None for an empty window). Nothing here renders or
writes; `newsletter.issues` wires compose → render → store.

The window of an issue is (previous cut-off, now]. Reading starts *at* the
cut-off and skips articles some issue already holds, so two articles sharing the
cut-off's timestamp are never lost when an issue was cut at `max_articles`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from newsletter.config import ListSettings
from newsletter.errors import ConfigError
from newsletter.links import Links
from newsletter.models import Article, Preferences, Teaser
from newsletter.sanitize import excerpt as shorten
from newsletter.sanitize import html_to_text, one_line

EXCERPT_CHARS = 160
PREHEADER_CHARS = 140
VARIANT_CHARS = 64  # the width of issues.variant
SUBJECT_HARD_LIMIT = 250  # beyond this a template is broken; preflight flags anything over 78


@dataclass(frozen=True, slots=True)
class Neighbours:
    """An article's older and newer neighbours in the list's stream (the seed's page links)."""

    previous: Teaser | None = None
    next: Teaser | None = None


@dataclass(frozen=True, slots=True)
class IssuePlan:
    """Everything an issue shows, before rendering: the contract between compose and render."""

    list_name: str
    list_title: str
    number: int
    window_start: datetime | None
    window_end: datetime
    articles: tuple[Article, ...]  # newest first: the lead comes first
    neighbours: tuple[Neighbours, ...]  # one per article, same order
    previous: Teaser | None
    next: Teaser | None
    subject: str
    preheader: str
    mode: str = "excerpt"
    template: str = "digest"
    variant: str = ""
    updated: tuple[Article, ...] = ()  # sent before, edited since: "updated" notices


def excerpt(article: Article, limit: int = EXCERPT_CHARS) -> str:
    """The teaser text: gather's excerpt or summary, else the body's first words."""
    source = article.excerpt or article.summary or html_to_text(article.content_html)
    return shorten(one_line(source), limit)


def matches(article: Article, topics: Sequence[str]) -> bool:
    """Whether the article belongs to a list with these topics (none means every article)."""
    if not topics:
        return True
    wanted = {topic.lower() for topic in topics}
    return any(category.lower() in wanted for category in article.categories)


def first_matching(articles: Iterable[Article], topics: Sequence[str]) -> Article | None:
    """The first article of a stream in the list's topics; stops reading there."""
    return next((article for article in articles if matches(article, topics)), None)


def teaser(article: Article, links: Links, *, public: bool = True) -> Teaser:
    """A neighbour: title, date, excerpt; linked to its archive page only when it is public."""
    return Teaser(
        title=one_line(article.title),
        published=article.published,
        excerpt=excerpt(article),
        url=links.article(article.slug) if public else "",
    )


def _topics(names: Sequence[str]) -> tuple[str, ...]:
    """Topics compared as the store keeps them: lowercased, once each, in order."""
    return tuple(sorted({t.lower() for t in names}))


def _effective_topics(own: tuple[str, ...], chosen: Sequence[str]) -> tuple[str, ...]:
    """A subscriber's topics narrow a list; a choice outside the list's topics leaves it whole."""
    wanted = _topics(chosen)
    if not wanted:
        return own
    narrowed = tuple(t for t in wanted if t in own) if own else wanted
    return narrowed or own


def variant_key(spec: ListSettings, preferences: Preferences) -> str:
    """Which variant of a list's issues a subscriber gets: "" is the list's own issue.

    Subscribers with the same effective cadence and topics share one variant, so
    each variant is rendered once however many people chose it.
    """
    cadence = preferences.cadence if preferences.cadence not in (None, spec.cadence) else None
    own = _topics(spec.topics)
    topics = _effective_topics(own, preferences.topics)
    parts = [str(cadence)] if cadence else []
    if topics != own:
        parts.append("topics=" + ",".join(topics))
    key = ";".join(parts)
    if len(key) > VARIANT_CHARS:
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        key = f"{key[: VARIANT_CHARS - 17]}#{digest}"
    return key


def variant_spec(spec: ListSettings, preferences: Preferences) -> ListSettings:
    """The list as one variant sees it: the subscriber's cadence and narrowed topics."""
    return spec.model_copy(
        update={
            "cadence": preferences.cadence or spec.cadence,
            "topics": _effective_topics(_topics(spec.topics), preferences.topics),
        }
    )


def subject_line(template: str, context: dict[str, object], where: str) -> str:
    """The list's subject template in a sandbox: config may not reach into Python."""
    env = SandboxedEnvironment(autoescape=False, undefined=StrictUndefined)
    try:
        subject = one_line(env.from_string(template).render(context))
    except TemplateError as exc:
        raise ConfigError(f"subject template fails: {exc}", where=where) from exc
    if not subject:
        raise ConfigError("subject template renders an empty subject", where=where)
    if len(subject) > SUBJECT_HARD_LIMIT:
        raise ConfigError(f"subject is {len(subject)} characters long", where=where)
    return subject


@dataclass(frozen=True, slots=True)
class Window:
    """What the store holds around an issue: read by `newsletter.issues`, judged here."""

    start: datetime | None  # the previous issue's cut-off; None for a list's first issue
    now: datetime
    articles: Sequence[Article]  # public, published in [start, now], oldest first
    issued: set[int]  # ids some issue of this list (variant) already holds
    before: Iterable[Article]  # public, published up to `start`, newest first
    after: Iterable[Article]  # scheduled: published after `now`, oldest first
    edited: Sequence[Article] = ()  # sent by this list before, changed since


@dataclass(frozen=True, slots=True)
class Selection:
    chosen: list[Article]  # oldest first
    overflow: bool  # more matched than max_articles
    left_out: Article | None  # a first issue's newest article that did not fit


def _select(spec: ListSettings, window: Window) -> Selection:
    """The issue's articles, oldest first, at most max_articles.

    A first issue takes the newest ones (the back catalogue is in the archive);
    later issues take the oldest, so an overflow waits for the next issue instead
    of being skipped.
    """
    fresh = [a for a in window.articles if a.id not in window.issued and matches(a, spec.topics)]
    fresh.sort(key=lambda a: (a.published, a.id or 0))
    keep = spec.max_articles
    if len(fresh) <= keep:
        return Selection(fresh, overflow=False, left_out=None)
    if window.start is None:
        return Selection(fresh[-keep:], overflow=True, left_out=fresh[-keep - 1])
    return Selection(fresh[:keep], overflow=True, left_out=None)


def _neighbours(
    chosen: Sequence[Article], previous: Article | None, links: Links
) -> tuple[Neighbours, ...]:
    """Per article (oldest first): the one before it in the stream and the one after it."""
    if not chosen:
        return ()
    older: list[Article | None] = [previous, *chosen[:-1]]
    newer: list[Article | None] = [*chosen[1:], None]
    return tuple(
        Neighbours(
            previous=teaser(before, links) if before else None,
            next=teaser(after, links) if after else None,
        )
        for before, after in zip(older, newer, strict=True)
    )


def plan(
    spec: ListSettings, number: int, window: Window, links: Links, variant: str = ""
) -> IssuePlan | None:
    """The next issue of a list, or None when its window is empty and the list sends none."""
    selection = _select(spec, window)
    chosen = selection.chosen
    updated = tuple(a for a in window.edited if spec.updated_notices and a.published <= window.now)
    if not chosen and not updated and not spec.send_empty:
        return None
    # An overflow cuts the window at the last article taken; the rest waits for the next issue.
    cut = chosen[-1].published if selection.overflow and window.start else window.now
    if window.start is None:
        previous = selection.left_out
        start = previous.published if previous else None
    else:
        in_issue = {a.id for a in chosen}
        before = (a for a in window.before if a.id not in in_issue)
        previous, start = first_matching(before, spec.topics), window.start
    upcoming = first_matching(window.after, spec.topics)
    newest_first = tuple(reversed(chosen))
    lead = one_line(newest_first[0].title) if newest_first else ""
    context = {
        "list": {"name": spec.name, "title": spec.title},
        "number": number,
        "count": len(chosen),
        "lead": {"title": lead},
        "date": cut,
    }
    return IssuePlan(
        list_name=spec.name,
        list_title=spec.title,
        number=number,
        window_start=start,
        window_end=cut,
        articles=newest_first,
        neighbours=tuple(reversed(_neighbours(chosen, previous, links))),
        previous=teaser(previous, links) if previous else None,
        next=teaser(upcoming, links, public=False) if upcoming else None,
        subject=subject_line(spec.subject, context, where=f"lists.{spec.name}.subject"),
        preheader=shorten(" · ".join(one_line(a.title) for a in newest_first), PREHEADER_CHARS),
        mode=spec.mode,
        template=spec.template,
        variant=variant,
        updated=updated,
    )
