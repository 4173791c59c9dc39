"""Plain data passed between stages: frozen dataclasses and the states as StrEnums.

Stages never hand each other database rows or ORM objects; these are the words
of `CONTEXT.md` in code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class SubscriberStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"


class IssueStatus(StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"
    SENDING = "sending"
    PAUSED = "paused"
    SENT = "sent"
    CANCELLED = "cancelled"


class DeliveryStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DEFERRED = "deferred"
    FAILED = "failed"


class Cadence(StrEnum):
    IMMEDIATELY = "immediately"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


@dataclass(frozen=True, slots=True)
class Image:
    """A picture with what email clients need to lay it out before it loads."""

    url: str
    alt: str = ""
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True, slots=True)
class Enclosure:
    """A media file attached to an article (podcast audio, a PDF)."""

    url: str
    length: int
    type: str
    duration: str = ""

    @property
    def is_audio(self) -> bool:
        """Audio makes the article a podcast episode: feeds mark it, pages give it a player."""
        return self.type.startswith("audio/")


@dataclass(frozen=True, slots=True)
class RawEntry:
    """One entry as a source yields it: trusted for nothing, normalised by gather."""

    source: str
    guid: str
    title: str
    published: datetime
    body_html: str
    where: str = ""
    slug: str = ""
    link: str = ""
    updated: datetime | None = None
    author: str = ""
    categories: tuple[str, ...] = ()
    summary: str = ""
    references: tuple[str, ...] = ()
    image: Image | None = None
    enclosure: Enclosure | None = None


@dataclass(frozen=True, slots=True)
class Article:
    """A normalised, sanitised article as stored: UTC datetimes, safe HTML, a stable guid."""

    source: str
    guid: str
    slug: str
    title: str
    url: str
    published: datetime
    updated: datetime
    content_html: str
    excerpt: str
    content_hash: str
    id: int | None = None
    author: str = ""
    categories: tuple[str, ...] = ()
    summary: str = ""
    references: tuple[str, ...] = ()
    image: Image | None = None
    enclosure: Enclosure | None = None


@dataclass(frozen=True, slots=True)
class Teaser:
    """A neighbour shown around an issue or article: title and date, linked when public."""

    title: str
    published: datetime
    excerpt: str = ""
    url: str = ""


@dataclass(frozen=True, slots=True)
class Preferences:
    """What a subscriber chose: how often, and which topics (empty means all)."""

    cadence: Cadence | None = None
    topics: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Subscriber:
    """A person on one or more lists; the dates are the consent record export and `show` need."""

    id: int
    email: str
    name: str
    status: SubscriberStatus
    lists: tuple[str, ...] = ()
    preferences: Preferences = field(default_factory=Preferences)
    created_at: datetime | None = None
    confirmed_at: datetime | None = None
    confirmed_ip: str = ""
    status_changed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Issue:
    """One numbered edition of a list, frozen once rendered: what was approved is what is sent."""

    id: int
    list_name: str
    number: int
    subject: str
    window_start: datetime | None
    window_end: datetime
    status: IssueStatus
    html: str
    text: str
    preheader: str = ""
    article_ids: tuple[int, ...] = ()
    variant: str = ""  # "" is the list's own issue; others serve subscribers' preferences


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """A message ready for the wire; the messenger knows nothing else about it."""

    sender: str
    recipient: str
    data: bytes
    message_id: str = ""
    # True when no line starts with "." and the data ends in CRLF, as in every message
    # `delivery.mime` builds (see `mime.qp`): sent without scanning it for dot-stuffing.
    dot_free: bool = False
