"""How many people read the feeds through aggregators, from the User-Agent lines they send.

Aggregators poll once for all their users and say how many they poll for, e.g.
"Feedly/1.0 (+http://www.feedly.com/fetcher.html; 123 subscribers; feed-id=42)".
The web app appends one line per feed request to a log in the Combined Log
Format (client address left out), so the same counter reads our own log or any
nginx / Apache access log. The newest count per reader, feed and feed-id wins;
feed-ids of one reader (e.g. its http and https subscriptions) add up.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from logging.handlers import RotatingFileHandler
from pathlib import Path

LOG_FILE = "feed-requests.log"
LINE = re.compile(
    r'^\S+ \S+ \S+ \[(?P<when>[^\]]+)\] "[A-Z]+ (?P<path>\S+)[^"]*" (?P<status>\d{3}) \S+ '
    r'"(?:[^"\\]|\\.)*" "(?P<agent>(?:[^"\\]|\\.)*)"'
)
COUNT = re.compile(r"(\d{1,9})\s+(?:subscribers?|readers?)\b", re.IGNORECASE)
FEED_ID = re.compile(r"feed-?id[=:]\s*([\w.-]+)", re.IGNORECASE)
ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|.)")
TIME_FORMAT = "%d/%b/%Y:%H:%M:%S %z"
COUNTED_STATUSES = {"200", "304"}


@dataclass(frozen=True, slots=True)
class ReaderCount:
    """Subscribers one aggregator reported for one feed, as of its latest request."""

    reader: str
    feed: str
    subscribers: int
    last_seen: datetime


@dataclass(frozen=True, slots=True)
class FeedStats:
    counts: tuple[ReaderCount, ...]
    lines: int
    not_understood: int

    def total(self) -> int:
        return sum(count.subscribers for count in self.counts)


def _quote(value: str) -> str:
    """A log field that cannot break out of its quotes or its line, whatever a client sent."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return "".join(c if c.isprintable() else f"\\x{ord(c) & 0xFF:02x}" for c in escaped)


def log_line(when: datetime, *, method: str, path: str, status: int, size: int, agent: str) -> str:
    """One Combined Log Format line; the client address is not kept ("-")."""
    request = _quote(f"{method} {path} HTTP/1.1")
    return (
        f'- - - [{when.strftime(TIME_FORMAT)}] "{request}" {status} {size} "-" "{_quote(agent)}"\n'
    )


class RequestLog:
    """Appends feed requests to the instance's log, rolled over at `max_bytes`.

    The stdlib's rotating handler keeps `keep` older files (`feed-requests.log.1` is
    the newest of them), so a busy feed cannot fill the disk; `stats feeds` reads them
    all. `max_bytes` 0 never rolls over.
    """

    def __init__(self, path: Path, max_bytes: int = 0, keep: int = 0) -> None:
        self.path = path
        self._handler: RotatingFileHandler | None = None
        self._limits = (max_bytes, keep)

    def append(self, line: str) -> None:
        if self._handler is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            max_bytes, keep = self._limits
            self._handler = RotatingFileHandler(
                self.path, maxBytes=max_bytes, backupCount=keep, encoding="utf-8"
            )
            self._handler.setFormatter(logging.Formatter("%(message)s"))
        self._handler.handle(logging.makeLogRecord({"msg": line.rstrip("\n")}))

    def close(self) -> None:
        if self._handler is not None:
            self._handler.close()
            self._handler = None


def reader_name(agent: str) -> str:
    """The aggregator's name: its product token, or the site named inside a Mozilla/… agent."""
    token = re.match(r"\s*([^\s/;()]+)", agent)
    name = token.group(1) if token else ""
    if name.lower() == "mozilla" and "(" in agent:
        inside = agent.split("(", 1)[1].split(")", 1)[0]
        parts = [p.strip() for p in inside.split(";")]
        named = [p for p in parts if p and p.lower() != "compatible" and not COUNT.search(p)]
        name = named[0].split("/")[0].split(" ")[0] if named else name
    return name or "unknown"


def _unescape(value: str) -> str:
    return ESCAPE.sub(
        lambda m: chr(int(m.group(1)[1:], 16)) if len(m.group(1)) == 3 else m.group(1), value
    )


def read_lines(path: Path) -> Iterator[str]:
    """The log's lines, oldest first: rolled-over files (`.N` … `.1`), then the log itself."""
    rolled = sorted(
        (p for p in path.parent.glob(f"{path.name}.*") if p.suffix[1:].isdigit()),
        key=lambda p: int(p.suffix[1:]),
        reverse=True,
    )
    for part in [*rolled, path]:
        with part.open(encoding="utf-8", errors="replace") as lines:
            yield from lines


def count_readers(lines: Iterable[str], feeds_prefix: str = "/feeds/") -> FeedStats:
    """The newest subscriber count per (reader, feed), from access-log lines."""
    newest: dict[tuple[str, str, str], ReaderCount] = {}
    total = bad = 0
    for line in lines:
        total += 1
        match = LINE.match(line)
        if not match:
            bad += 1
            continue
        path = match["path"].split("?", 1)[0]
        agent = _unescape(match["agent"])
        found = COUNT.search(agent)
        if (
            not path.startswith(feeds_prefix)
            or match["status"] not in COUNTED_STATUSES
            or not found
        ):
            continue
        try:
            when = datetime.strptime(match["when"], TIME_FORMAT)
        except ValueError:
            bad += 1
            continue
        feed_id = FEED_ID.search(agent)
        key = (reader_name(agent), path, feed_id.group(1) if feed_id else "")
        if key not in newest or newest[key].last_seen <= when:
            newest[key] = ReaderCount(key[0], path, int(found.group(1)), when)
    return FeedStats(_sum_feed_ids(newest.values()), total, bad)


def _sum_feed_ids(counts: Iterable[ReaderCount]) -> tuple[ReaderCount, ...]:
    summed: dict[tuple[str, str], ReaderCount] = {}
    for count in counts:
        key = (count.reader, count.feed)
        before = summed.get(key)
        summed[key] = (
            replace(
                count,
                subscribers=before.subscribers + count.subscribers,
                last_seen=max(before.last_seen, count.last_seen),
            )
            if before
            else count
        )
    return tuple(sorted(summed.values(), key=lambda c: (-c.subscribers, c.reader, c.feed)))
