"""Commands over the database and the content: init, gather, feed."""

from __future__ import annotations

import argparse
from typing import Any

from newsletter.app import App
from newsletter.cli.common import add, with_app
from newsletter.store import db


def init(app: App, args: argparse.Namespace) -> int:
    before, after = db.migrate(app.engine)
    if before == after:
        print(f"database is up to date (revision {after})")
    else:
        print(f"database upgraded from {before or 'empty'} to revision {after}")
    return 0


def register(commands: Any) -> None:
    add(commands, "init", with_app(init), "Create or upgrade the database.", "newsletter init")
