"""The tables, in SQLAlchemy Core. Changes reach a database only through migrations/."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on SQLite (which forgets zones) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime reached the store; stages work in aware UTC")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UTC_TIME = UTCDateTime()

sources = Table(
    "sources",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("location", Text, nullable=False),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("gathered_at", UTC_TIME),
)

articles = Table(
    "articles",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("source_id", ForeignKey("sources.id"), nullable=False),
    Column("guid", Text, nullable=False),
    Column("slug", String(200), nullable=False, unique=True),
    Column("title", Text, nullable=False),
    Column("url", Text, nullable=False),
    Column("author", Text, nullable=False, default=""),
    Column("published_at", UTC_TIME, nullable=False),
    Column("updated_at", UTC_TIME, nullable=False),
    Column("summary", Text, nullable=False, default=""),
    Column("excerpt", Text, nullable=False, default=""),
    Column("content_html", Text, nullable=False),
    Column("categories", JSON, nullable=False, default=list),
    Column("refs", JSON, nullable=False, default=list),
    Column("image", JSON),
    Column("enclosure", JSON),
    Column("content_hash", String(64), nullable=False),
    Column("first_seen_at", UTC_TIME, nullable=False),
    UniqueConstraint("source_id", "guid"),
    Index(None, "published_at"),
)

lists = Table(
    "lists",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("title", Text, nullable=False),
    Column("created_at", UTC_TIME, nullable=False),
)

subscribers = Table(
    "subscribers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(320), nullable=False),
    Column("email_key", String(320), nullable=False, unique=True),
    Column("name", Text, nullable=False, default=""),
    Column("status", String(16), nullable=False),
    Column("preferences", JSON, nullable=False, default=dict),
    Column("created_at", UTC_TIME, nullable=False),
    Column("confirmed_at", UTC_TIME),
    Column("confirmed_ip", String(64)),
    Column("status_changed_at", UTC_TIME),
    Column("soft_bounces", Integer, nullable=False, default=0),
    Index(None, "status"),
)

memberships = Table(
    "memberships",
    metadata,
    Column("subscriber_id", ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True),
    Column("list_id", ForeignKey("lists.id", ondelete="CASCADE"), primary_key=True),
    Column("created_at", UTC_TIME, nullable=False),
)

suppressions = Table(
    "suppressions",
    metadata,
    Column("email_hash", String(64), primary_key=True),
    Column("reason", String(32), nullable=False),
    Column("created_at", UTC_TIME, nullable=False),
)

issues = Table(
    "issues",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("list_id", ForeignKey("lists.id"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("variant", String(64), nullable=False, default=""),
    Column("status", String(16), nullable=False),
    Column("subject", Text, nullable=False),
    Column("preheader", Text, nullable=False, default=""),
    Column("window_start", UTC_TIME),
    Column("window_end", UTC_TIME, nullable=False),
    Column("html", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("created_at", UTC_TIME, nullable=False),
    Column("approved_at", UTC_TIME),
    Column("sent_at", UTC_TIME),
    UniqueConstraint("list_id", "number", "variant"),
)

issue_articles = Table(
    "issue_articles",
    metadata,
    Column("issue_id", ForeignKey("issues.id", ondelete="CASCADE"), primary_key=True),
    Column("article_id", ForeignKey("articles.id"), primary_key=True),
    Column("list_id", ForeignKey("lists.id"), nullable=False),
    Column("variant", String(64), nullable=False, default=""),
    Column("position", Integer, nullable=False),
    Column("content_hash", String(64), nullable=False),
    UniqueConstraint("list_id", "variant", "article_id"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("issue_id", ForeignKey("issues.id", ondelete="CASCADE"), nullable=False),
    Column("subscriber_id", ForeignKey("subscribers.id", ondelete="CASCADE"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("lease_until", UTC_TIME),
    Column("next_attempt_at", UTC_TIME),
    Column("message_id", Text),
    Column("reply", Text),
    Column("sent_at", UTC_TIME),
    Column("updated_at", UTC_TIME, nullable=False),
    UniqueConstraint("issue_id", "subscriber_id"),
    Index(None, "issue_id", "status"),
)

bounces = Table(
    "bounces",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("subscriber_id", ForeignKey("subscribers.id", ondelete="CASCADE")),
    Column("delivery_id", ForeignKey("deliveries.id", ondelete="SET NULL")),
    Column("kind", String(8), nullable=False),
    Column("status_code", String(16), nullable=False, default=""),
    Column("diagnostic", Text, nullable=False, default=""),
    Column("received_at", UTC_TIME, nullable=False),
)
