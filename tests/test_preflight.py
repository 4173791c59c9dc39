"""preflight: every embarrassment `newsletter check` must catch, and a clean issue passing."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from newsletter import issues
from newsletter.app import App
from newsletter.cli import issues as issues_cli
from newsletter.models import Image, Issue
from newsletter.preflight import Finding, Severity
from tests.conftest import NOW
from tests.helpers_issues import add, article, days

MS = ("multiple-sclerosis",)


def compose_with(app: App, **fields: object) -> Issue:
    """An issue of the full-text list, whose one article carries `fields`."""
    add(
        app,
        article("target", NOW - days(30), categories=MS),
        article("piece", NOW - days(1), categories=MS, **fields),  # type: ignore[arg-type]
    )
    issue = issues.compose_next(app, "ms-monthly")
    assert issue is not None
    return issue


def errors(app: App, issue: Issue) -> list[Finding]:
    return [f for f in issues.check(app, issue) if f.severity == Severity.ERROR]


def messages(app: App, issue: Issue) -> str:
    return "\n".join(str(f) for f in errors(app, issue))


def test_a_clean_issue_has_no_errors(app: App) -> None:
    image = Image("https://notes.example.org/media/a.jpg", "A photo", 800, 600)
    assert errors(app, compose_with(app, image=image)) == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("<p>Dosage TK, check with Dana</p>", "leftover 'TK'"),
        ("<p>TODO: add the trial numbers</p>", "leftover 'TODO'"),
        ("<p>Hello {{ first_name }}</p>", "leftover '{{'"),
        ('<p><a href="/articles/target">relative</a></p>', "not absolute"),
        ('<p><a href="http://notes.example.org/x">plain</a></p>', "plain http"),
        ('<p><a href="https://notes.example.org/articles/gone">dead</a></p>', "archive does not"),
        ('<p><img src="https://notes.example.org/a.jpg" width="10" height="10"></p>', "no alt"),
        ('<p><img src="https://notes.example.org/a.jpg" alt="x"></p>', "no pixel width"),
        ('<p><span style="color:#ff0000">red</span></p>', "#ff0000 on <span"),
    ],
)
def test_embarrassments_are_errors(app: App, body: str, expected: str) -> None:
    found = messages(app, compose_with(app, body=body))
    assert expected in found


def test_links_to_existing_articles_pass(app: App) -> None:
    body = '<p><a href="https://notes.example.org/articles/target">older piece</a></p>'
    assert errors(app, compose_with(app, body=body)) == []


def test_a_clipped_size_and_a_long_subject_are_errors(app: App) -> None:
    title = "A title long enough to push the subject line past seventy-eight characters"
    found = messages(app, compose_with(app, title=title, body="<p>word </p>" * 12000))
    assert "Gmail clips above 102 KB" in found
    assert "subject is" in found and "(max 78)" in found


def run_check(instance: Path, ref: str) -> int:
    top = argparse.ArgumentParser()
    issues_cli.register(top.add_subparsers())
    args = top.parse_args(["check", ref])
    args.config = str(instance / "newsletter.toml")
    return int(args.run(args))


def test_check_command_exits_non_zero_on_errors(app: App, instance: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """The command runs on the real clock, so every article here is in the past."""
    add(app, article("fine", NOW - days(3)))
    good = issues.compose_next(app, "weekly")
    assert good is not None
    assert run_check(instance, str(good.id)) == 0
    assert "0 error(s)" in capsys.readouterr().out
    bad = compose_with(app, body="<p>TODO</p>")
    assert run_check(instance, f"ms-monthly/{bad.number}") == 1
    assert "leftover 'TODO'" in capsys.readouterr().err
