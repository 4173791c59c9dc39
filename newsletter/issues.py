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

from sqlalchemy import Connection

from newsletter import compose, preflight
from newsletter.app import App
from newsletter.compose import IssuePlan
from newsletter.config import ListSettings
from newsletter.errors import InputError, NotFound
from newsletter.models import Issue, IssueStatus, Subscriber, SubscriberStatus
from newsletter.render import personalise, public_values, subscriber_values
from newsletter.render.digest import Rendered, context, render_issue
from newsletter.render.env import environment
from newsletter.store import articles as article_store
from newsletter.store import issues as issue_store
from newsletter.store import subscribers as subscriber_store
from newsletter.subscribers.consent import check_address

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
    previous = issue_store.latest(conn, spec.name, variant)
    start = previous.window_end if previous else None
    window_articles = article_store.published_between(conn, start - TICK if start else None, now)
    issued = issue_store.already_issued(
        conn, list_id, variant, (a.id for a in window_articles if a.id)
    )
    with ExitStack() as streams:
        before = (
            streams.enter_context(closing(article_store.published_before(conn, start + TICK)))
            if start
            else iter(())
        )
        after = streams.enter_context(closing(article_store.published_after(conn, now)))
        window = compose.Window(start, now, window_articles, issued, before, after)
        return compose.plan(
            spec, issue_store.next_number(conn, list_id, variant), window, app.links, variant
        )


def compose_next(app: App, list_name: str) -> Issue | None:
    """Make and store the next issue of a list; None when its window is empty."""
    spec = app.settings.list_named(list_name)
    with app.engine.begin() as conn:
        plan = plan_next(conn, app, spec)
        if plan is None:
            return None
        rendered = render_plan(app, plan)
        return issue_store.create(
            conn,
            list_id=issue_store.ensure_list(conn, spec.name, spec.title),
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


def web_copy(app: App, list_name: str, number: int) -> str:
    """The browser copy behind "view in browser": the frozen HTML, filled for nobody."""
    with app.engine.connect() as conn:
        issue = issue_store.by_number(conn, list_name, number)
    if issue.status == IssueStatus.CANCELLED:
        raise NotFound(f"issue {list_name}/{number} was cancelled")
    html, _ = personalise(issue, public_values(app.links))
    return html


def check(app: App, issue: Issue) -> list[preflight.Finding]:
    """What would embarrass the sender of this issue, worst first."""
    now = app.clock()
    with app.engine.connect() as conn:

        def exists(slug: str) -> bool:
            return article_store.public_by_slug(conn, slug, now) is not None

        return preflight.check(issue, app.links, exists)
