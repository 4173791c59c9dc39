"""Commands over delivery: send (with its controls), devsmtp, bounces."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from newsletter import bounces, devsmtp, inbound, issues
from newsletter.app import App
from newsletter.cli.common import add, with_app
from newsletter.delivery import control
from newsletter.delivery.progress import line, reporter
from newsletter.delivery.send import send_issue

CONTROLS = {"pause": control.pause, "cancel": control.cancel}


def send(app: App, args: argparse.Namespace) -> int:
    issue_id = issues.find(app, args.issue).id
    if args.action in CONTROLS:
        CONTROLS[args.action](app, issue_id)
        print(f"issue {args.issue}: {args.action} done")
        return 0
    if args.to:
        print(f"test copy to {args.to}: {control.send_test(app, issue_id, args.to)}")
        return 0
    if args.dry_run:
        summary = control.dry_run(app, issue_id)
        print(f"dry run: {summary.total} messages, {summary.bytes} bytes, nothing sent")
        return 0
    run = control.resume if args.action == "resume" else send_issue
    with reporter(sys.stderr) as progress:
        summary = run(app, issue_id, retry_failed=args.retry_failed, progress=progress)
    print(f"{line(summary)}; {summary.state}" + (f": {summary.note}" if summary.note else ""))
    return 0 if summary.state in ("finished", "empty") else 3


def serve_devsmtp(app: App, args: argparse.Namespace) -> int:
    instance = app.settings
    maildir = Path(args.maildir) if args.maildir else instance.path(instance.paths.maildir)
    port = args.port or instance.smtp.port
    print(f"devsmtp: listening on 127.0.0.1:{port}, writing {maildir} (Ctrl-C stops)", flush=True)
    devsmtp.serve(maildir, port, inbound=inbound.handler(app))
    return 0


def process_bounces(app: App, args: argparse.Namespace) -> int:
    report = bounces.process(app, Path(args.maildir))
    print(bounces.describe(report))
    return 0


def register(commands: Any) -> None:
    sub = add(commands, "send", with_app(send), "Send an issue.", "newsletter send weekly/3")
    sub.add_argument("issue", help="issue id or LIST/NUMBER")
    sub.add_argument("--retry-failed", action="store_true", help="resend deferred and failed rows")
    sub.add_argument("--dry-run", action="store_true", help="build every message, send none")
    sub.add_argument("--to", metavar="ADDRESS", help="send one marked test copy, not recorded")
    group = sub.add_mutually_exclusive_group()
    for action in ("pause", "resume", "cancel"):
        group.add_argument(f"--{action}", dest="action", action="store_const", const=action)
    sub = add(
        commands,
        "devsmtp",
        with_app(serve_devsmtp),
        "Run the embedded SMTP sink.",
        "newsletter devsmtp",
    )
    sub.add_argument("--maildir", metavar="DIR", help="Maildir to write (default paths.maildir)")
    sub.add_argument("--port", type=int, help="port on 127.0.0.1 (default smtp.port)")
    sub = add(
        commands,
        "bounces",
        with_app(process_bounces),
        "Read bounce reports (RFC 3464) from a Maildir.",
        "newsletter bounces process maildir",
    )
    sub.add_argument("verb", choices=["process"])
    sub.add_argument("maildir", metavar="MAILDIR")
