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
from newsletter.links import Links
from newsletter.store import db
from newsletter.tokens import Tokens

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class App:
    """What every entry point needs: settings, the database, the clock, the URL scheme."""

    settings: Settings
    engine: Engine
    links: Links
    clock: Clock = field(default=utc_now)

    def tokens(self) -> Tokens:
        """Token signer; raises ConfigError when no key is configured (outside demo mode)."""
        return Tokens(self.settings.signing_key(), clock=self.clock)

    def close(self) -> None:
        self.engine.dispose()


def build(settings: Settings, *, clock: Clock = utc_now) -> App:
    """Wire an App; the database is opened lazily by SQLAlchemy on first use."""
    return App(
        settings=settings,
        engine=db.connect(settings.database_url),
        links=Links(settings.site.base_url),
        clock=clock,
    )
