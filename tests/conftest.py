"""Shared fixtures: a throw-away instance folder with a real SQLite file, and its App."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from helpers_delivery import add_issue, add_subscribers, app_for
from smtp_servers import counting

from newsletter import app as app_module
from newsletter import config
from newsletter.app import App
from newsletter.delivery import send
from newsletter.store import db

REPO = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

INSTANCE_TOML = """
demo = true

[site]
title = "Test Notes"
base_url = "https://notes.example.org"
timezone = "America/New_York"

[sender]
name = "Test Notes"
address = "notes@example.org"
unsubscribe_address = "unsubscribe@example.org"
postal_address = "1 Test Street, Testville"

[[lists]]
name = "weekly"
title = "Notes Weekly"

[[lists]]
name = "ms-monthly"
title = "MS Monthly"
topics = ["multiple-sclerosis"]
cadence = "monthly"
mode = "full"
"""


@pytest.fixture
def instance(tmp_path: Path) -> Path:
    """An instance folder with the sample content and subscribers, and a small config."""
    folder = tmp_path / "instance"
    folder.mkdir()
    (folder / "newsletter.toml").write_text(INSTANCE_TOML, encoding="utf-8")
    shutil.copytree(REPO / "content", folder / "content")
    shutil.copy(REPO / "subscribers.csv", folder / "subscribers.csv")
    return folder


@pytest.fixture
def settings(instance: Path) -> config.Settings:
    return config.load(instance / "newsletter.toml")


@pytest.fixture
def app(settings: config.Settings) -> Iterator[App]:
    """A built App on a migrated SQLite file, with the clock fixed at NOW."""
    built = app_module.build(settings, clock=lambda: NOW)
    db.migrate(built.engine)
    yield built
    built.close()


@pytest.fixture
def sent(instance: Path) -> tuple[App, int, list[int]]:
    """Four subscribers who were each sent one issue through a real SMTP server."""
    server, _ = counting()
    with server:
        built = app_for(instance, server.port)
        ids = add_subscribers(built, 4)
        issue_id = add_issue(built)
        send.send_issue(built, issue_id)
    return built, issue_id, ids
