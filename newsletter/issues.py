"""Issues as a use case: compose → render → store, preview, preflight and the web copy.

The CLI, the web app and the jobs call these; each opens one transaction, reads
what compose needs from the store, renders once and stores the frozen result.
The preview goes through `render.personalise` exactly like a send does.
"""

from __future__ import annotations

import re
from contextlib import ExitStack, closing
from datetime import timedelta
from zoneinfo import ZoneInfo

from newsletter import compose, preflight
from newsletter.app import App
from newsletter.compose import IssuePlan
from newsletter.config import ListSettings
from newsletter.errors import InputError, NotFound
from newsletter.models import (
    Cadence,
    Issue,
    IssueStatus,
    Preferences,
    Subscriber,
    SubscriberStatus,
)
from newsletter.render import personalise, public_values, subscriber_values
from newsletter.render.digest import Rendered, context, render_issue
from newsletter.render.env import environment
from newsletter.store import Connection
from newsletter.store import articles as article_store
from newsletter.store import issues as issue_store
from newsletter.store import subscribers as subscriber_store
from newsletter.subscribers.consent import check_address

# A draft or approved issue is not public yet; a cancelled one never will be.
ON_THE_WEB = frozenset({IssueStatus.SENDING, IssueStatus.PAUSED, IssueStatus.SENT})
TICK = timedelta(microseconds=1)  # the store's resolution: makes a strict bound inclusive
REF = re.compile(r"^(?:(?P<id>\d+)|(?P<list>[a-z0-9][a-z0-9-]{0,62})/(?P<number>\d+))$")
# Who a preview shows when no subscriber is named: a realistic name and no real address.
SAMPLE = Subscriber(
    id=0, email="preview@example.org", name="Preview Reader", status=SubscriberStatus.ACTIVE
)


def render_plan(app: App, plan: IssuePlan) -> Rendered:
    """The frozen HTML and text of a plan (premailer once)."""
    settings = app.settings
    zone = ZoneInfo(settings.list_named(plan.list_name).timezone)
    view = context(plan, settings.site, settings.sender, app.links, zone)
    env = environment(settings.path(settings.paths.templates))
    return render_issue(env, view, plan.template)


def plan_next(
    conn: Connection, app: App, spec: ListSettings, variant: str = ""
) -> IssuePlan | None:
    """Read the window and its neighbours from the store and let compose judge them."""
    now = app.clock()
    list_id = issue_store.ensure_list(conn, spec.name, spec.title, now)
    start = issue_store.latest_window_end(conn, spec.name, variant)  # not the whole issue
    if start is None and variant:
        start = issue_store.latest_cut(conn, spec.name)  # a new variant never repeats the list
    window_articles = article_store.published_between(conn, start - TICK if start else None, now)
    ids = [a.id for a in window_articles if a.id]
    issued = issue_store.already_issued(conn, list_id, variant, ids)
    number = issue_store.next_number(conn, list_id, variant)
    with ExitStack() as streams:
        before = (
            streams.enter_context(closing(article_store.published_before(conn, start + TICK)))
            if start
            else iter(())
        )
        after = streams.enter_context(closing(article_store.published_after(conn, now)))
        edited = (
            article_store.by_ids(conn, issue_store.edited_since_sent(conn, list_id, variant))
            if spec.updated_notices
            else []
        )
        window = compose.Window(start, now, window_articles, issued, before, after, edited)
        return compose.plan(spec, number, window, app.links, variant)


def compose_next(app: App, list_name: str, preferences: Preferences | None = None) -> Issue | None:
    """Make and store the next issue of a list (or of the variant these preferences pick).

    None when the window is empty.
    """
    spec = app.settings.list_named(list_name)
    variant = compose.variant_key(spec, preferences) if preferences else ""
    seen_as = compose.variant_spec(spec, preferences) if preferences and variant else spec
    with app.engine.begin() as conn:
        plan = plan_next(conn, app, seen_as, variant)
        if plan is None:
            return None
        rendered = render_plan(app, plan)
        list_id = issue_store.ensure_list(conn, spec.name, spec.title)
        issue_store.mark_noticed(
            conn, list_id, variant, ((a.id or 0, a.content_hash) for a in plan.updated)
        )
        return issue_store.create(
            conn,
            list_id=list_id,
            number=plan.number,
            variant=plan.variant,
            subject=plan.subject,
            preheader=plan.preheader,
            window_start=plan.window_start,
            window_end=plan.window_end,
            html=rendered.html,
            text=rendered.text,
            articles=[(a.id or 0, a.content_hash) for a in plan.articles],
            now=app.clock(),
        )


def compose_variants(app: App, list_name: str, cadence: Cadence | None = None) -> list[Issue]:
    """Every variant of a list due at this cadence (default: the list's own), each rendered once.

    The list's own issue is made on its cadence; other variants are the distinct
    cadence/topic choices of the list's active subscribers.
    """
    spec = app.settings.list_named(list_name)
    due = cadence or spec.cadence
    choices: dict[str, Preferences | None] = {"": None} if due == spec.cadence else {}
    with app.engine.connect() as conn:
        for subscriber in subscriber_store.stream(conn, list_name, SubscriberStatus.ACTIVE):
            key = compose.variant_key(spec, subscriber.preferences)
            if key and (subscriber.preferences.cadence or spec.cadence) == due:
                choices.setdefault(key, subscriber.preferences)
    # The list's own issue last: a variant's first window starts at the list's previous cut-off.
    made = [compose_next(app, list_name, choices[key]) for key in sorted(choices, reverse=True)]
    return [issue for issue in reversed(made) if issue is not None]


def variant_of(app: App, list_name: str, subscriber: Subscriber) -> str:
    """The variant of a list's issues this subscriber gets (the sender matches it to issues)."""
    return compose.variant_key(app.settings.list_named(list_name), subscriber.preferences)


def find(app: App, ref: str) -> Issue:
    """An issue named by its id ("12") or by list and number ("weekly/3")."""
    match = REF.match(ref.strip())
    if match is None:
        raise InputError(f"not an issue: {ref!r}", where="ISSUE", hint="give an id or LIST/NUMBER")
    with app.engine.connect() as conn:
        if match["id"]:
            return issue_store.get(conn, int(match["id"]))
        return issue_store.by_number(conn, match["list"], int(match["number"]))


def _subscriber(app: App, email: str | None) -> Subscriber:
    if email is None:
        return SAMPLE
    _, key = check_address(email, where="--subscriber")
    with app.engine.connect() as conn:
        found = subscriber_store.by_key(conn, key)
    if found is None:
        raise NotFound(f"no subscriber {email!r}", where="--subscriber")
    return found


def preview(app: App, issue: Issue, email: str | None = None) -> tuple[str, str]:
    """(html, text) exactly as `email` (or a sample reader) would get them from a send."""
    values = subscriber_values(app.links, app.tokens(), _subscriber(app, email))
    return personalise(issue, values)


def web_copy(app: App, list_name: str, number: int, variant: str = "") -> str:
    """The browser copy behind "view in browser": the frozen HTML, filled for nobody."""
    with app.engine.connect() as conn:
        issue = issue_store.by_number(conn, list_name, number, variant)
    if issue.status not in ON_THE_WEB:
        raise NotFound(f"issue {list_name}/{number} is not out")
    html, _ = personalise(issue, public_values(app.links))
    return html


def check(app: App, issue: Issue) -> list[preflight.Finding]:
    """What would embarrass the sender of this issue, worst first."""
    now = app.clock()
    with app.engine.connect() as conn:

        def exists(slug: str) -> bool:
            return article_store.public_by_slug(conn, slug, now) is not None

        return preflight.check(issue, app.links, exists)
