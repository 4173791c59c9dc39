"""compose: windows, teasers, topic filters, numbering and subjects, on a real SQLite store."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from newsletter import compose, issues
from newsletter.app import App
from newsletter.config import ListSettings
from newsletter.errors import ConfigError, NewsletterError
from newsletter.links import Links
from newsletter.store import articles
from newsletter.store import issues as issue_store
from tests.conftest import NOW
from tests.helpers_issues import add, article, days

LINKS = Links("https://notes.example.org")
MS = ("multiple-sclerosis",)


def later(app: App, delta: timedelta) -> None:
    """Move the App's clock forward (the fixture's clock is fixed at NOW)."""
    moved = app.clock() + delta
    app.clock = lambda: moved


def titles(app: App, ids: tuple[int, ...]) -> list[str]:
    with app.engine.connect() as conn:
        return [a.title for a in articles.by_ids(conn, ids)]


def plan_of(app: App, name: str) -> compose.IssuePlan | None:
    with app.engine.begin() as conn:
        return issues.plan_next(conn, app, app.settings.list_named(name))


def test_first_issue_has_no_previous_and_teases_the_earliest_scheduled(app: App) -> None:
    add(
        app,
        article("older", NOW - days(9), title="Older"),
        article("newer", NOW - days(2), title="Newer"),
        article("soon", NOW + days(5), title="Soon"),
        article("much-later", NOW + days(40), title="Much Later"),
    )
    plan = plan_of(app, "weekly")
    assert plan is not None
    assert [a.title for a in plan.articles] == ["Newer", "Older"]  # newest (the lead) first
    assert plan.previous is None
    assert plan.next is not None
    assert (plan.next.title, plan.next.published, plan.next.url) == ("Soon", NOW + days(5), "")
    assert plan.window_start is None and plan.window_end == NOW
    assert plan.subject == "Notes Weekly #1: Newer"


def test_nothing_scheduled_means_no_next_teaser(app: App) -> None:
    add(app, article("only", NOW - days(1)))
    plan = plan_of(app, "weekly")
    assert plan is not None and plan.next is None


def test_second_issue_holds_only_the_new_articles_and_teases_the_last_one(app: App) -> None:
    add(app, article("first", NOW - days(3), title="First"))
    one = issues.compose_next(app, "weekly")
    later(app, days(7))
    add(app, article("second", NOW + days(2), title="Second"))
    two = issues.compose_next(app, "weekly")
    assert one is not None and two is not None
    assert (one.number, two.number) == (1, 2)
    assert two.window_start == one.window_end == NOW
    assert titles(app, two.article_ids) == ["Second"]
    assert not set(one.article_ids) & set(two.article_ids)
    plan = plan_of(app, "weekly")
    assert plan is None  # nothing new since issue 2


def test_previous_teaser_is_the_newest_article_before_the_window(app: App) -> None:
    add(app, article("a", NOW - days(8), title="A"), article("b", NOW - days(6), title="B"))
    issues.compose_next(app, "weekly")
    later(app, days(7))
    add(app, article("c", NOW + days(3), title="C"))
    plan = plan_of(app, "weekly")
    assert plan is not None and plan.previous is not None
    assert plan.previous.title == "B"
    assert plan.previous.url == "https://notes.example.org/articles/b"
    assert plan.previous.published == NOW - days(6)
    assert plan.neighbours[0].previous == plan.previous


def test_topic_filter_skips_neighbours_of_other_topics(app: App) -> None:
    add(
        app,
        article("ms-old", NOW - days(30), categories=MS, title="MS Old"),
        article("hep-c-old", NOW - days(20), categories=["hepatitis-c"], title="Hep C Old"),
    )
    issues.compose_next(app, "ms-monthly")
    later(app, days(30))
    add(
        app,
        article("hep-c-new", NOW + days(10), categories=["hepatitis-c"], title="Hep C New"),
        article("ms-new", NOW + days(12), categories=["Multiple-Sclerosis"], title="MS New"),
        article("hep-c-soon", NOW + days(31), categories=["hepatitis-c"], title="Hep C Soon"),
        article("ms-soon", NOW + days(45), categories=MS, title="MS Soon"),
    )
    plan = plan_of(app, "ms-monthly")
    assert plan is not None
    assert [a.title for a in plan.articles] == ["MS New"]
    assert plan.previous is not None and plan.previous.title == "MS Old"
    assert plan.next is not None and plan.next.title == "MS Soon"


def test_an_empty_window_makes_no_issue(app: App) -> None:
    add(app, article("other-topic", NOW - days(1), categories=["hepatitis-c"]))
    assert issues.compose_next(app, "ms-monthly") is None
    with app.engine.connect() as conn:
        assert issue_store.latest(conn, "ms-monthly") is None


def spec(**changes: object) -> ListSettings:
    return ListSettings(name="weekly", title="Notes Weekly", **changes)  # type: ignore[arg-type]


def window(*items: object, start: object = None, issued: set[int] | None = None) -> compose.Window:
    return compose.Window(start, NOW, list(items), issued or set(), [], [])  # type: ignore[arg-type]


def test_send_empty_lists_make_an_empty_issue() -> None:
    plan = compose.plan(
        spec(send_empty=True, subject="{{ list.title }} #{{ number }}"), 4, window(), LINKS
    )
    assert plan is not None and plan.articles == () and plan.subject == "Notes Weekly #4"


def test_overflow_waits_for_the_next_issue_instead_of_being_skipped() -> None:
    items = [replace(article(f"a{n}", NOW - days(10 - n)), id=n) for n in range(5)]
    plan = compose.plan(spec(max_articles=3), 2, window(*items, start=NOW - days(11)), LINKS)
    assert plan is not None
    assert [a.slug for a in plan.articles] == ["a2", "a1", "a0"]
    assert plan.window_end == items[2].published
    rest = compose.plan(
        spec(max_articles=3), 3, window(*items, start=plan.window_end, issued={0, 1, 2}), LINKS
    )
    assert rest is not None and [a.slug for a in rest.articles] == ["a4", "a3"]


def test_a_first_issue_takes_the_newest_and_teases_the_one_left_out() -> None:
    items = [replace(article(f"a{n}", NOW - days(10 - n)), id=n) for n in range(5)]
    plan = compose.plan(spec(max_articles=2), 1, window(*items), LINKS)
    assert plan is not None
    assert [a.slug for a in plan.articles] == ["a4", "a3"]
    assert plan.previous is not None and plan.previous.title == items[2].title
    assert plan.window_start == items[2].published


def test_articles_already_in_an_issue_are_never_taken_again() -> None:
    items = [replace(article(f"a{n}", NOW - days(1)), id=n) for n in range(3)]
    plan = compose.plan(spec(), 2, window(*items, start=NOW - days(1), issued={0, 2}), LINKS)
    assert plan is not None and [a.id for a in plan.articles] == [1]


def test_the_store_refuses_an_article_in_two_issues_of_a_list(app: App) -> None:
    (item,) = add(app, article("twice", NOW - days(1)))
    with app.engine.begin() as conn:
        list_id = issue_store.ensure_list(conn, "weekly", "Notes Weekly", NOW)
        fields = {"subject": "s", "window_start": None, "window_end": NOW, "html": "", "text": ""}
        pair = [(item.id or 0, item.content_hash)]
        issue_store.create(conn, list_id=list_id, number=1, articles=pair, now=NOW, **fields)
        with pytest.raises(NewsletterError, match="clashes"):
            issue_store.create(conn, list_id=list_id, number=2, articles=pair, now=NOW, **fields)
        assert issue_store.next_number(conn, list_id) == 2


def test_excerpts_are_about_160_characters_cut_at_a_word() -> None:
    words = "Stem cells can be harvested from a patient’s own bone marrow or blood " * 5
    cut = compose.excerpt(article("x", NOW, excerpt=words))
    assert cut.endswith("…") and len(cut) <= 161
    assert words.startswith(cut[:-1]) and words[len(cut) - 1] == " "
    assert compose.excerpt(article("x", NOW, excerpt="Short and sweet.")) == "Short and sweet."
    from_body = compose.excerpt(article("x", NOW, body="<p>Body <b>words</b>\r\nhere.</p>"))
    assert from_body == "Body words here."


def test_subject_template_is_sandboxed_and_one_line() -> None:
    hostile = replace(article("x", NOW - days(1), title="Line one\r\nBcc: evil@example.com"), id=1)
    plan = compose.plan(spec(), 1, window(hostile), LINKS)
    assert plan is not None and plan.subject == "Notes Weekly #1: Line one Bcc: evil@example.com"
    for template in ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "{{ nope }}", "{% if %}"):
        with pytest.raises(ConfigError, match=r"lists\.weekly\.subject"):
            compose.plan(spec(subject=template), 1, window(hostile), LINKS)


def test_articles_sharing_the_cut_off_time_are_not_lost(app: App) -> None:
    lists = tuple(item.model_copy(update={"max_articles": 2}) for item in app.settings.lists)
    app.settings = app.settings.model_copy(update={"lists": lists})
    add(app, article("seed", NOW - days(9)))
    issues.compose_next(app, "weekly")
    later(app, days(7))
    same_time = NOW + days(1)
    add(app, *(article(f"tie-{n}", same_time, title=f"Tie {n}") for n in range(3)))
    two = issues.compose_next(app, "weekly")
    assert two is not None and two.window_end == same_time
    later(app, days(7))
    three = issues.compose_next(app, "weekly")
    assert three is not None
    assert sorted(titles(app, two.article_ids + three.article_ids)) == ["Tie 0", "Tie 1", "Tie 2"]
