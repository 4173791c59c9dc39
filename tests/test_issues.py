"""The issue use cases end to end on a real store: frozen issues, preview, web copy, CLI."""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from newsletter import issues
from newsletter.app import App
from newsletter.cli import issues as issues_cli
from newsletter.errors import InputError, NotFound
from newsletter.models import Article, Cadence, IssueStatus, Preferences, Subscriber
from newsletter.render import personalise, public_values
from newsletter.store import articles
from newsletter.store import issues as issue_store
from newsletter.store import subscribers as subscriber_store
from newsletter.web import issues as web_issues
from tests.conftest import NOW
from tests.helpers_issues import add, article, days


def run(instance: Path, *argv: str) -> int:
    top = argparse.ArgumentParser()
    issues_cli.register(top.add_subparsers())
    args = top.parse_args(list(argv))
    args.config = str(instance / "newsletter.toml")
    return int(args.run(args))


def release(app: App, issue_id: int) -> None:
    """What a send does first: the issue is out, and its web copy public."""
    with app.engine.begin() as conn:
        assert issue_store.set_status(conn, issue_id, [IssueStatus.DRAFT], IssueStatus.SENDING, NOW)


def get(app: App, path: str) -> httpx.Response:
    web = Starlette(routes=web_issues.routes(app))

    async def fetch() -> httpx.Response:
        transport = httpx.ASGITransport(app=web)
        async with httpx.AsyncClient(transport=transport, base_url="https://test") as client:
            return await client.get(path)

    return asyncio.run(fetch())


def titles(app: App, ids: tuple[int, ...]) -> list[str]:
    with app.engine.connect() as conn:
        return [a.title for a in articles.by_ids(conn, ids)]


def test_an_issue_stays_frozen_when_its_articles_change(app: App) -> None:
    (item,) = add(app, article("edited", NOW - days(1), title="Original Title"))
    issue = issues.compose_next(app, "weekly")
    assert issue is not None
    with app.engine.begin() as conn:
        articles.update_article(conn, item.id or 0, article("edited", NOW, title="Rewritten"))
    release(app, issue.id)
    again = issues.find(app, "weekly/1")
    assert (again.html, again.text) == (issue.html, issue.text)
    page = get(app, "/issues/weekly/1").text
    assert "Original Title" in page and "Rewritten" not in page
    assert "Original Title" in personalise(again, public_values(app.links))[1]


def test_web_copy_is_filled_for_nobody_and_unknown_issues_are_404(app: App) -> None:
    add(app, article("x", NOW - days(1)))
    issue = issues.compose_next(app, "weekly")
    assert issue is not None
    assert get(app, "/issues/weekly/1").status_code == 404  # a draft is not out yet
    release(app, issue.id)
    response = get(app, "/issues/weekly/1")
    assert response.status_code == 200
    assert "@@nl:" not in response.text and "Hello there," in response.text
    assert "style-src 'unsafe-inline'" in response.headers["content-security-policy"]
    for path in (
        "/issues/weekly/2",
        "/issues/nope/1",
        "/issues/weekly/0",
        "/issues/weekly/99999999999999999999",
        "/issues/..%2F..%2Fetc/1",
        "/issues/weekly/1?variant=nope",
    ):
        assert get(app, path).status_code == 404, path
    with app.engine.begin() as conn:
        moved = issue_store.set_status(
            conn, issue.id, [IssueStatus.SENDING], IssueStatus.CANCELLED, NOW
        )
        assert moved
        assert not issue_store.set_status(
            conn, issue.id, [IssueStatus.DRAFT], IssueStatus.SENT, NOW
        )
    assert get(app, "/issues/weekly/1").status_code == 404


def test_issue_references_are_checked(app: App) -> None:
    for ref in ("", "weekly", "weekly/x", "../1", "1; drop table issues"):
        with pytest.raises(InputError):
            issues.find(app, ref)
    with pytest.raises(NotFound):
        issues.find(app, "weekly/3")
    with pytest.raises(NotFound):
        issues.find(app, "41")


def test_compose_and_preview_commands(app: App, instance: Path, capsys, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    add(app, article("cli", NOW - days(2), title="From the Command Line"))
    assert run(instance, "compose", "--list", "weekly") == 0
    assert "weekly/1 (id 1): 1 article(s)" in capsys.readouterr().out
    assert run(instance, "compose", "--list", "weekly") == 0
    assert "no issue made" in capsys.readouterr().out
    assert run(instance, "compose", "--list", "weekly", "--cadence", "daily") == 0
    assert "no issue made" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        run(instance, "compose", "--list", "weekly", "--cadence", "hourly")
    with app.engine.begin() as conn:
        subscriber_store.insert_pending(conn, "Ada@Example.com", "ada@example.com", "Ada <b>", NOW)
    out = tmp_path / "preview.html"
    assert (
        run(instance, "preview", "weekly/1", "--out", str(out), "--subscriber", "ada@example.com")
        == 0
    )
    assert "Hello Ada &lt;b&gt;," in out.read_text(encoding="utf-8")
    assert run(instance, "preview", "1", "--out", str(out), "--text") == 0
    text = out.read_text(encoding="utf-8")
    assert "Hello Preview Reader," in text and "From the Command Line" in text
    with pytest.raises(NotFound):
        run(instance, "preview", "1", "--out", str(out), "--subscriber", "nobody@example.com")


def member(app: App, email: str, preferences: Preferences, list_name: str = "weekly") -> Subscriber:
    """An active subscriber of a list with these preferences, stored the way the web app does."""
    with app.engine.begin() as conn:
        sid = subscriber_store.insert_pending(conn, email, email.lower(), "", NOW)
        subscriber_store.confirm(conn, sid, NOW, "127.0.0.1")
        list_id = issue_store.ensure_list(conn, list_name, list_name, NOW)
        subscriber_store.add_memberships(conn, [(sid, list_id)], NOW)
        subscriber_store.set_preferences(conn, sid, preferences)
        found = subscriber_store.by_id(conn, sid)
    assert found is not None
    return found


def test_each_variant_is_rendered_once_for_everyone_who_chose_it(app: App) -> None:
    ms = Preferences(topics=("multiple-sclerosis",))
    people = [
        member(app, "a@example.com", ms),
        member(app, "b@example.com", Preferences(topics=("Multiple-Sclerosis",))),
        member(app, "c@example.com", Preferences()),
    ]
    add(
        app,
        article("ms", NOW - days(2), categories=["multiple-sclerosis"], title="MS Piece"),
        article("hep", NOW - days(1), categories=["hepatitis-c"], title="Hep C Piece"),
    )
    made = issues.compose_variants(app, "weekly")
    assert [(i.variant, titles(app, i.article_ids)) for i in made] == [
        ("", ["Hep C Piece", "MS Piece"]),
        ("topics=multiple-sclerosis", ["MS Piece"]),
    ]
    keys = [issues.variant_of(app, "weekly", who) for who in people]
    assert keys == ["topics=multiple-sclerosis", "topics=multiple-sclerosis", ""]
    release(app, made[1].id)
    page = get(app, "/issues/weekly/1?variant=topics%3Dmultiple-sclerosis").text
    assert "MS Piece" in page and "Hep C Piece" not in page
    assert "?variant=topics%3Dmultiple-sclerosis" in made[1].html  # its own web copy


def test_a_new_variant_starts_where_the_list_left_off(app: App) -> None:
    add(app, article("old", NOW - days(3), categories=["research"], title="Old"))
    assert issues.compose_variants(app, "weekly")  # the list's own issue 1 holds "Old"
    member(app, "d@example.com", Preferences(topics=("research",)))
    app.clock = lambda: NOW + days(7)
    add(app, article("new", NOW + days(1), categories=["research"], title="New"))
    made = issues.compose_variants(app, "weekly")
    assert [(i.variant, titles(app, i.article_ids)) for i in made] == [
        ("", ["New"]),
        ("topics=research", ["New"]),
    ]


def test_other_cadences_are_composed_on_their_own_schedule(app: App) -> None:
    member(app, "e@example.com", Preferences(cadence=Cadence.DAILY))
    add(app, article("weekly", NOW - days(1), title="Weekly Piece"))
    assert [i.variant for i in issues.compose_variants(app, "weekly")] == [""]
    app.clock = lambda: NOW + days(1)
    add(app, article("daily", NOW + days(0.5), title="Daily Piece"))
    daily = issues.compose_variants(app, "weekly", Cadence.DAILY)
    assert [(i.variant, i.number, i.window_start) for i in daily] == [("daily", 1, NOW)]
    assert titles(app, daily[0].article_ids) == ["Daily Piece"]


def with_notices(app: App) -> None:
    """The weekly list, asking for "updated" notices."""
    lists = tuple(
        item.model_copy(update={"updated_notices": item.name == "weekly"})
        for item in app.settings.lists
    )
    app.settings = app.settings.model_copy(update={"lists": lists})


def edit(app: App, item: Article, title: str) -> None:
    changed = replace(item, title=title, content_hash=item.content_hash + "-edited")
    with app.engine.begin() as conn:
        articles.update_article(conn, item.id or 0, changed)


@pytest.mark.parametrize("notices", [False, True])
def test_an_edited_article_is_sent_again_only_as_an_updated_notice(app: App, notices: bool) -> None:
    if notices:
        with_notices(app)
    (item,) = add(app, article("edited", NOW - days(1), title="First Version"))
    first = issues.compose_next(app, "weekly")
    assert first is not None and first.article_ids == (item.id,)
    edit(app, item, "Second Version")
    app.clock = lambda: NOW + days(7)
    second = issues.compose_next(app, "weekly")
    if not notices:
        assert second is None
        return
    assert second is not None and second.article_ids == ()
    assert "Updated since we sent them" in second.html
    assert "Second Version (November 24, 2026, updated)" in second.text
    app.clock = lambda: NOW + days(14)
    assert issues.compose_next(app, "weekly") is None  # told once
