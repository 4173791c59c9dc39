"""Queries over lists, issues and the articles each issue holds.

An issue is stored frozen: its rendered HTML and text are written once, and the
rows in `issue_articles` carry (list, variant) so the schema itself refuses an
article in two issues of the same list variant. Their content hash is the
version the list's readers know: an edit shows as a different hash, and an
"updated" notice moves it forward.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from newsletter.errors import NewsletterError, NotFound
from newsletter.models import Issue, IssueStatus
from newsletter.store.schema import UTC_TIME, articles, issue_articles, issues, lists

ISSUE_COLUMNS = (
    issues.c.id,
    lists.c.name.label("list_name"),
    issues.c.number,
    issues.c.variant,
    issues.c.subject,
    issues.c.preheader,
    issues.c.window_start,
    issues.c.window_end,
    issues.c.status,
    issues.c.html,
    issues.c.text,
)


def _select() -> Any:
    return select(*ISSUE_COLUMNS).join(lists, lists.c.id == issues.c.list_id)


def _issue(conn: Connection, row: Row[Any]) -> Issue:
    ids = conn.execute(
        select(issue_articles.c.article_id)
        .where(issue_articles.c.issue_id == row.id)
        .order_by(issue_articles.c.position)
    ).scalars()
    return Issue(
        id=row.id,
        list_name=row.list_name,
        number=row.number,
        variant=row.variant,
        subject=row.subject,
        preheader=row.preheader,
        window_start=row.window_start,
        window_end=row.window_end,
        status=IssueStatus(row.status),
        html=row.html,
        text=row.text,
        article_ids=tuple(int(i) for i in ids),
    )


# The id of a list, creating its row the first time the config names it.
def ensure_list(conn: Connection, name: str, title: str, now: datetime | None = None) -> int:
    found = conn.execute(select(lists.c.id, lists.c.title).where(lists.c.name == name)).first()
    if found is not None:
        if found.title != title:
            conn.execute(update(lists).where(lists.c.id == found.id).values(title=title))
        return int(found.id)
    created = now or datetime.now(UTC)
    result = conn.execute(insert(lists).values(name=name, title=title, created_at=created))
    return int(result.inserted_primary_key[0])


# One issue by its id; NotFound when there is none.
def get(conn: Connection, issue_id: int) -> Issue:
    row = conn.execute(_select().where(issues.c.id == issue_id)).first()
    if row is None:
        raise NotFound(f"no issue with id {issue_id}", hint="`newsletter compose` makes issues")
    return _issue(conn, row)


# One issue by its public name (list, number, variant); NotFound when there is none.
def by_number(conn: Connection, list_name: str, number: int, variant: str = "") -> Issue:
    row = conn.execute(
        _select().where(
            and_(lists.c.name == list_name, issues.c.number == number, issues.c.variant == variant)
        )
    ).first()
    if row is None:
        raise NotFound(f"no issue {list_name}/{number}" + (f" ({variant})" if variant else ""))
    return _issue(conn, row)


# The newest issue of a list variant, whose window end is the next issue's start.
def latest(conn: Connection, list_name: str, variant: str = "") -> Issue | None:
    row = conn.execute(
        _select()
        .where(and_(lists.c.name == list_name, issues.c.variant == variant))
        .order_by(issues.c.number.desc())
        .limit(1)
    ).first()
    return _issue(conn, row) if row else None


# The cut-off of a list variant's newest issue: where its next window starts (None: no issue).
def latest_window_end(conn: Connection, list_name: str, variant: str = "") -> datetime | None:
    query = (
        select(issues.c.window_end)
        .join(lists, lists.c.id == issues.c.list_id)
        .where(and_(lists.c.name == list_name, issues.c.variant == variant))
        .order_by(issues.c.number.desc())
        .limit(1)
    )
    return conn.execute(query).scalar()


# The newest cut-off of any variant of a list: where a new variant's first window starts.
def latest_cut(conn: Connection, list_name: str) -> datetime | None:
    query = (
        select(func.max(issues.c.window_end))
        .join(lists, lists.c.id == issues.c.list_id)
        .where(lists.c.name == list_name)
    )
    found = conn.execute(query).scalar()
    return UTC_TIME.process_result_value(found, conn.dialect) if found else None


# The number the next issue of a list variant gets (numbers count per list and variant).
def next_number(conn: Connection, list_id: int, variant: str = "") -> int:
    query = select(func.max(issues.c.number)).where(
        and_(issues.c.list_id == list_id, issues.c.variant == variant)
    )
    return int(conn.execute(query).scalar() or 0) + 1


# Which of these articles some issue of the list variant already holds.
def already_issued(
    conn: Connection, list_id: int, variant: str, article_ids: Iterable[int]
) -> set[int]:
    wanted = list(article_ids)
    if not wanted:
        return set()
    query = select(issue_articles.c.article_id).where(
        and_(
            issue_articles.c.list_id == list_id,
            issue_articles.c.variant == variant,
            issue_articles.c.article_id.in_(wanted),
        )
    )
    return {int(i) for i in conn.execute(query).scalars()}


# Articles a list variant has sent whose content changed since its readers last saw them.
def edited_since_sent(conn: Connection, list_id: int, variant: str) -> list[int]:
    query = (
        select(issue_articles.c.article_id)
        .join(articles, articles.c.id == issue_articles.c.article_id)
        .where(
            and_(
                issue_articles.c.list_id == list_id,
                issue_articles.c.variant == variant,
                issue_articles.c.content_hash != articles.c.content_hash,
            )
        )
        .order_by(articles.c.published_at, articles.c.id)
    )
    return [int(i) for i in conn.execute(query).scalars()]


# Record that a list variant told its readers about these (article id, content hash) versions.
def mark_noticed(
    conn: Connection, list_id: int, variant: str, versions: Iterable[tuple[int, str]]
) -> None:
    for article_id, content_hash in versions:
        conn.execute(
            update(issue_articles)
            .where(
                and_(
                    issue_articles.c.list_id == list_id,
                    issue_articles.c.variant == variant,
                    issue_articles.c.article_id == article_id,
                )
            )
            .values(content_hash=content_hash)
        )


# Store a rendered issue with its articles (id, content hash) in order; returns it frozen.
def create(
    conn: Connection,
    *,
    list_id: int,
    number: int,
    subject: str,
    window_start: datetime | None,
    window_end: datetime,
    html: str,
    text: str,
    articles: Sequence[tuple[int, str]],
    now: datetime,
    preheader: str = "",
    variant: str = "",
    status: IssueStatus = IssueStatus.DRAFT,
) -> Issue:
    values = {
        "list_id": list_id,
        "number": number,
        "variant": variant,
        "status": str(status),
        "subject": subject,
        "preheader": preheader,
        "window_start": window_start,
        "window_end": window_end,
        "html": html,
        "text": text,
        "created_at": now,
    }
    try:
        with conn.begin_nested():
            issue_id = int(conn.execute(insert(issues).values(**values)).inserted_primary_key[0])
            rows = [
                {
                    "issue_id": issue_id,
                    "article_id": article_id,
                    "list_id": list_id,
                    "variant": variant,
                    "position": position,
                    "content_hash": content_hash,
                }
                for position, (article_id, content_hash) in enumerate(articles)
            ]
            if rows:
                conn.execute(insert(issue_articles), rows)
    except IntegrityError as exc:
        raise NewsletterError(
            f"issue {number} of list id {list_id} clashes with an existing issue",
            hint="another compose ran at the same time; run compose again",
        ) from exc
    return get(conn, issue_id)


# Move an issue between states only from the states allowed; True when it moved.
def set_status(
    conn: Connection,
    issue_id: int,
    allowed: Iterable[IssueStatus],
    new: IssueStatus,
    now: datetime,
) -> bool:
    stamps = {IssueStatus.APPROVED: "approved_at", IssueStatus.SENT: "sent_at"}
    values: dict[str, Any] = {"status": str(new)}
    if new in stamps:
        values[stamps[new]] = now
    result = conn.execute(
        update(issues)
        .where(and_(issues.c.id == issue_id, issues.c.status.in_([str(s) for s in allowed])))
        .values(**values)
    )
    return result.rowcount == 1
