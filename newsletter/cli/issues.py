"""Commands over issues: compose the next one, preview it as a subscriber, check it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from newsletter import issues
from newsletter.app import App
from newsletter.cli.common import add, with_app
from newsletter.models import Cadence
from newsletter.preflight import Severity


def compose(app: App, args: argparse.Namespace) -> int:
    made = issues.compose_variants(app, args.list, args.cadence)
    if not made:
        print(f"{args.list}: no new articles since the last issue; no issue made")
    for issue in made:
        variant = f" [{issue.variant}]" if issue.variant else ""
        count = len(issue.article_ids)
        print(
            f"{issue.list_name}/{issue.number}{variant} (id {issue.id}): {count} article(s), "
            f"{issue.subject!r}"
        )
    return 0


def preview(app: App, args: argparse.Namespace) -> int:
    issue = issues.find(app, args.issue)
    html, text = issues.preview(app, issue, args.subscriber)
    out = Path(args.out)
    out.write_text(text if args.text else html, encoding="utf-8")
    print(f"wrote {out} ({issue.list_name}/{issue.number}, {'text' if args.text else 'html'})")
    return 0


def check(app: App, args: argparse.Namespace) -> int:
    issue = issues.find(app, args.issue)
    findings = issues.check(app, issue)
    for finding in findings:
        print(finding, file=sys.stderr if finding.severity == Severity.ERROR else sys.stdout)
    errors = sum(1 for f in findings if f.severity == Severity.ERROR)
    print(
        f"{issue.list_name}/{issue.number}: {errors} error(s), {len(findings) - errors} warning(s)"
    )
    return 1 if errors else 0


def register(commands: Any) -> None:
    sub = add(
        commands,
        "compose",
        with_app(compose),
        "Make the next issue of a list.",
        "newsletter compose --list weekly",
    )
    sub.add_argument("--list", required=True, metavar="NAME", help="list name from the config")
    sub.add_argument(
        "--cadence",
        type=Cadence,
        choices=list(Cadence),
        help="compose the variants subscribers chose at this cadence (default: the list's own)",
    )
    sub = add(
        commands,
        "preview",
        with_app(preview),
        "Write an issue as one subscriber gets it.",
        "newsletter preview weekly/1 --out issue.html --subscriber ada@example.org",
    )
    sub.add_argument("issue", metavar="ISSUE", help="issue id or LIST/NUMBER")
    sub.add_argument("--out", required=True, metavar="FILE", help="file to write")
    sub.add_argument("--subscriber", metavar="EMAIL", help="whose copy (default: a sample reader)")
    sub.add_argument("--text", action="store_true", help="write the plain-text part")
    sub = add(
        commands,
        "check",
        with_app(check),
        "Preflight an issue; exit 1 on errors.",
        "newsletter check weekly/1",
    )
    sub.add_argument("issue", metavar="ISSUE", help="issue id or LIST/NUMBER")
