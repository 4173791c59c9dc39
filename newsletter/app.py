"""The composition root: builds the object graph once for the CLI, the web app and the jobs.

Nothing is created at import time; every collaborator is made here from Settings,
so tests build an App against a temporary instance the same way production does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine

from newsletter.config import Settings
from newsletter.store import db

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class App:
    """What every entry point needs: settings, the database engine and a clock."""

    settings: Settings
    engine: Engine
    clock: Clock = field(default=utc_now)

    def close(self) -> None:
        self.engine.dispose()


def build(settings: Settings, *, clock: Clock = utc_now) -> App:
    """Wire an App; the database is opened lazily by SQLAlchemy on first use."""
    return App(settings=settings, engine=db.connect(settings.database_url), clock=clock)
