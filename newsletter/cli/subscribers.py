"""Commands over subscribers: import, export, list, show, forget; and mailed unsubscribes."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from newsletter.app import App
from newsletter.cli.common import add, with_app
from newsletter.errors import InputError
from newsletter.models import SubscriberStatus
from newsletter.store import subscribers as store
from newsletter.subscribers import consent, csvfile, export
from newsletter.unsubscribes import process_maildir


def _writable(path: str) -> TextIO:
    try:
        return Path(path).open("w", encoding="utf-8", newline="")
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror}", where=path) from exc


def import_(app: App, args: argparse.Namespace) -> int:
    report = _writable(args.report) if args.report else None

    def note(row: csvfile.RowNote) -> None:
        print(row)
        if report is not None:
            print(row, file=report)

    try:
        summary = csvfile.import_csv(
            app,
            Path(args.file),
            encoding=args.encoding,
            dry_run=args.dry_run,
            default_lists=args.list,
            report=note,
        )
    finally:
        if report is not None:
            report.close()
    verb = "would import (dry run)" if summary.dry_run else "imported"
    print(
        f"{verb}: {summary.rows} rows, {summary.added} new, {summary.merged} already known, "
        f"{summary.suppressed} kept suppressed, {summary.rejected} rejected"
    )
    if summary.ignored_columns:
        print(f"ignored columns: {', '.join(summary.ignored_columns)}")
    return 1 if summary.rejected else 0


def export_(app: App, args: argparse.Namespace) -> int:
    with _writable(args.file) as out:
        count = export.export_csv(app, out, list_name=args.list)
    print(f"exported {count} subscribers to {args.file}")
    return 0


def list_(app: App, args: argparse.Namespace) -> int:
    status = SubscriberStatus(args.status) if args.status else None
    with app.engine.connect() as conn:
        for subscriber in store.stream(conn, list_name=args.list, status=status):
            lists = ",".join(subscriber.lists) or "-"
            print(f"{subscriber.email}\t{subscriber.status}\t{lists}\t{subscriber.name}")
    return 0


def show(app: App, args: argparse.Namespace) -> int:
    json.dump(consent.show(app, args.email), sys.stdout, indent=2, ensure_ascii=False)
    print()
    return 0


def forget(app: App, args: argparse.Namespace) -> int:
    erased = consent.forget(app, args.email)
    what = "erased; only a one-way hash is kept" if erased else "was not stored; its hash is kept"
    print(f"{args.email.strip()}: {what} so no import can add it again")
    return 0


def process(app: App, args: argparse.Namespace) -> int:
    counts = process_maildir(app, Path(args.maildir))
    shown = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items())) or "no new mail"
    print(f"unsubscribe mail: {shown}")
    return 0


def _subscribers(group: Any) -> None:
    sub = add(
        group,
        "import",
        with_app(import_),
        "Import subscribers from a CSV file.",
        "newsletter subscribers import subscribers.csv --dry-run --report bad-rows.txt",
    )
    sub.add_argument("file", metavar="FILE")
    sub.add_argument("--dry-run", action="store_true", help="check and count, store nothing")
    sub.add_argument("--encoding", default="utf-8-sig", help="file encoding (default UTF-8)")
    sub.add_argument("--report", metavar="FILE", help="also write rejected rows here")
    sub.add_argument(
        "--list",
        action="append",
        default=[],
        metavar="NAME",
        help="list for rows with an empty lists cell (repeatable)",
    )
    sub = add(
        group,
        "export",
        with_app(export_),
        "Export subscribers to a CSV file.",
        "newsletter subscribers export everyone.csv",
    )
    sub.add_argument("file", metavar="FILE")
    sub.add_argument("--list", metavar="NAME", help="only this list's subscribers")
    sub = add(
        group,
        "list",
        with_app(list_),
        "List subscribers (email, status, lists, name).",
        "newsletter subscribers list --list weekly --status active",
    )
    sub.add_argument("--list", metavar="NAME")
    sub.add_argument("--status", choices=[str(s) for s in SubscriberStatus])
    sub = add(
        group,
        "show",
        with_app(show),
        "Everything stored about one address, as JSON.",
        "newsletter subscribers show ada.lovelace@example.com",
    )
    sub.add_argument("email")
    sub = add(
        group,
        "forget",
        with_app(forget),
        "Erase one person's data; keep a one-way hash so no import re-adds them.",
        "newsletter subscribers forget ada.lovelace@example.com",
    )
    sub.add_argument("email")


def register(commands: Any) -> None:
    group = commands.add_parser("subscribers", help="Import, export, list, show, forget.")
    _subscribers(group.add_subparsers(dest="action", metavar="ACTION", required=True))
    mail = commands.add_parser("unsubscribes", help="Act on unsubscribe requests sent by mail.")
    actions = mail.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub = add(
        actions,
        "process",
        with_app(process),
        "Unsubscribe the senders of new mail to sender.unsubscribe_address in a Maildir.",
        "newsletter unsubscribes process maildir",
    )
    sub.add_argument("maildir", metavar="MAILDIR")
