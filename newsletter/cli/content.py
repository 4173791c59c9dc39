"""Commands over the database and the content: init, gather."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from newsletter import gather as gathering
from newsletter.app import App
from newsletter.cli.common import add, with_app
from newsletter.errors import ConfigError
from newsletter.store import db


def init(app: App, args: argparse.Namespace) -> int:
    before, after = db.migrate(app.engine)
    if before == after:
        print(f"database is up to date (revision {after})")
    else:
        print(f"database upgraded from {before or 'empty'} to revision {after}")
    return 0


def gather(app: App, args: argparse.Namespace) -> int:
    if db.current_revision(app.engine) != db.head_revision(app.engine):
        raise ConfigError(
            "the database is not initialised or not up to date", hint="run: newsletter init"
        )
    report = gathering.gather(app)
    print(
        f"gathered: {report.new} new, {report.updated} updated, "
        f"{report.unchanged} unchanged, {report.failed} failed"
    )
    for line in report.errors:
        print(line, file=sys.stderr)
    return 1 if report.failed else 0


def register(commands: Any) -> None:
    add(commands, "init", with_app(init), "Create or upgrade the database.", "newsletter init")
    add(
        commands,
        "gather",
        with_app(gather),
        "Load the content folder and remote feeds into the database; "
        "exit 1 when a file or feed failed (the others are still stored).",
        "newsletter gather",
    )
