"""Schema changes reach databases only through migrations, and init is idempotent."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from newsletter.cli import main
from newsletter.store import db
from newsletter.store.schema import metadata


def test_migrations_build_exactly_the_declared_schema(tmp_path: Path) -> None:
    engine = db.connect(f"sqlite:///{tmp_path / 'n.db'}")
    db.migrate(engine)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), metadata)
    assert diff == []
    engine.dispose()


def test_init_creates_then_reports_up_to_date(instance: Path, capsys) -> None:
    config = str(instance / "newsletter.toml")
    assert main(["--config", config, "init"]) == 0
    assert "upgraded from empty" in capsys.readouterr().out
    engine = db.connect(f"sqlite:///{instance / 'newsletter.db'}")
    tables = set(inspect(engine).get_table_names())
    assert {"articles", "subscribers", "issues", "deliveries", "issue_articles"} <= tables
    assert main(["--config", config, "init"]) == 0
    assert "up to date" in capsys.readouterr().out
    assert db.current_revision(engine) == db.head_revision(engine)
    engine.dispose()
