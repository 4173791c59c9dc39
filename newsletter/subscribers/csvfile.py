"""Subscribers in from CSV: streamed import with a per-row report.

Import reads the file as a text stream (UTF-8 with or without BOM by default,
any other encoding by name), picks the delimiter from the header line, maps the
header's column names, and checks each row on its own: a bad row is reported with
its row number and reason, and every good row is stored in one transaction, in
batches, so a file of a million rows needs no more memory than one batch. Rows are
never trusted to change a decision already made: suppression wins over the file.

Export (`export.py`) writes every cell that a spreadsheet would run as a formula
with a leading apostrophe; import takes that apostrophe off again, so an export
re-imports as is.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any, TextIO

from newsletter.app import App
from newsletter.errors import InputError
from newsletter.models import SubscriberStatus
from newsletter.store import subscribers as store
from newsletter.subscribers.consent import SUPPRESSED, check_address, check_lists, check_name
from newsletter.subscribers.consent import list_ids as configured_list_ids
from newsletter.subscribers.export import FORMULA_START
from newsletter.tokens import address_hash

BATCH = 1000
DELIMITERS = (",", ";", "\t", "|")
LIST_SEPARATOR = re.compile(r"[;|]")
ALIASES = {
    "email": {"email", "emailaddress", "mail", "mailaddress", "address", "subscriberemail"},
    "name": {"name", "fullname", "displayname", "subscribername", "firstname"},
    "lists": {"lists", "list", "listnames", "groups", "newsletters", "segments"},
    "status": {"status", "state", "subscriptionstatus"},
    "created_at": {
        "createdat",
        "created",
        "createdon",
        "subscribedat",
        "subscribed",
        "signupdate",
        "dateadded",
        "optinat",
        "optintime",
    },
}


@dataclass(frozen=True, slots=True)
class RowNote:
    """One row the import did not store as written: rejected, or kept suppressed."""

    row: int
    reason: str
    rejected: bool = True

    def __str__(self) -> str:
        return f"row {self.row}: {self.reason}"


@dataclass(frozen=True, slots=True)
class ImportRow:
    """One checked row of the file."""

    row: int
    email: str
    key: str
    name: str
    status: SubscriberStatus
    lists: tuple[str, ...]
    created_at: datetime | None


@dataclass
class ImportSummary:
    """What an import did (or, on a dry run, would have done)."""

    rows: int = 0
    added: int = 0
    merged: int = 0
    suppressed: int = 0
    rejected: int = 0
    dry_run: bool = False
    ignored_columns: tuple[str, ...] = field(default=())


def _key(header: str) -> str:
    return re.sub(r"[^a-z0-9]", "", header.lower())


def map_header(cells: list[str]) -> dict[str, int]:
    """Our field -> column index, from the file's header names (first match wins)."""
    mapping: dict[str, int] = {}
    for index, cell in enumerate(cells):
        key = _key(cell)
        for name, aliases in ALIASES.items():
            if key in aliases and name not in mapping:
                mapping[name] = index
    return mapping


def sniff_delimiter(header_line: str) -> str:
    """The delimiter that splits the header into the most known column names."""

    def score(delimiter: str) -> tuple[int, int]:
        cells = next(csv.reader([header_line], delimiter=delimiter), [])
        return len(map_header(cells)), len(cells)

    return max(DELIMITERS, key=score)


def unformula(cell: str) -> str:
    """Undo the export's formula guard: a leading apostrophe before a formula character."""
    return cell[1:] if cell[:1] == "'" and cell[1:2] in FORMULA_START and cell[1:2] else cell


def _parse_date(text: str) -> datetime | None:
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InputError(f"created_at is not an ISO 8601 date: {text[:40]!r}") from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _status(text: str) -> SubscriberStatus:
    try:
        return SubscriberStatus(text.strip().lower() or SubscriberStatus.ACTIVE)
    except ValueError as exc:
        known = ", ".join(SubscriberStatus)
        raise InputError(f"unknown status {text[:40]!r} (known: {known})") from exc


class RowReader:
    """Checks the rows of one file against the header and the configured lists."""

    def __init__(self, app: App, columns: dict[str, int], width: int, default_lists: Iterable[str]):
        self.settings = app.settings
        self.columns = columns
        self.width = width
        self.default_lists = check_lists(app.settings, default_lists, where="--list")

    def cell(self, cells: list[str], name: str) -> str:
        index = self.columns.get(name)
        return unformula(cells[index].strip()) if index is not None and index < len(cells) else ""

    def check(self, row: int, cells: list[str]) -> ImportRow:
        if len(cells) > self.width and any(c.strip() for c in cells[self.width :]):
            raise InputError(f"{len(cells)} cells, the header has {self.width}")
        email, key = check_address(self.cell(cells, "email"), where="email")
        lists_cell = self.cell(cells, "lists")
        names = LIST_SEPARATOR.split(lists_cell) if lists_cell else self.default_lists
        return ImportRow(
            row=row,
            email=email,
            key=key,
            name=check_name(self.cell(cells, "name")),
            status=_status(self.cell(cells, "status")),
            lists=check_lists(self.settings, names),
            created_at=_parse_date(self.cell(cells, "created_at")),
        )

    def rows(self, reader: Any) -> Iterator[ImportRow | RowNote]:
        for cells in reader:
            row = reader.line_num + 1  # the header line was read before the reader started
            if not any(cell.strip() for cell in cells):
                continue
            try:
                yield self.check(row, cells)
            except InputError as exc:
                what = f"{exc.where}: " if exc.where else ""
                yield RowNote(row, f"{what}{exc.message}")


def _merged_status(stored: str, incoming: SubscriberStatus) -> str | None:
    """The status a re-imported row leads to, None to keep the stored one. A file may
    confirm a pending address or suppress one, never lift a suppression."""
    if stored in SUPPRESSED:
        return None
    if incoming in SUPPRESSED:
        return incoming
    if stored == SubscriberStatus.PENDING and incoming == SubscriberStatus.ACTIVE:
        return incoming
    return None


class Batcher:
    """Applies batches of checked rows to the database inside the import's transaction."""

    def __init__(
        self, app: App, conn: Any, summary: ImportSummary, report: Callable[[RowNote], None]
    ):
        self.conn = conn
        self.now = app.clock()
        self.summary = summary
        self.report = report
        self.list_ids = configured_list_ids(app, conn)

    def note(self, note: RowNote) -> None:
        if note.rejected:
            self.summary.rejected += 1
        else:
            self.summary.suppressed += 1
        self.report(note)

    def apply(self, batch: Iterable[ImportRow | RowNote]) -> None:
        items = list(batch)
        firsts: dict[str, int] = {}
        for item in items:
            if isinstance(item, ImportRow):
                firsts.setdefault(item.key, item.row)
        earlier = store.claim_keys(self.conn, firsts) if firsts else {}
        keys = list(firsts)
        forgotten = store.suppressed_hashes(self.conn, [address_hash(k) for k in keys])
        existing = store.existing_by_keys(self.conn, keys)
        new: list[ImportRow] = []
        for item in items:
            self.summary.rows += 1
            if isinstance(item, RowNote):
                self.note(item)
            elif item.key in earlier or firsts[item.key] != item.row:
                first = earlier.get(item.key, firsts[item.key])
                self.note(RowNote(item.row, f"duplicate of row {first} ({item.email})"))
            elif address_hash(item.key) in forgotten:
                self.note(RowNote(item.row, "address was erased on request; not re-added", False))
            elif item.key in existing:
                self.merge(item, *existing[item.key])
            else:
                new.append(item)
        self.insert(new)

    def merge(self, item: ImportRow, subscriber_id: int, stored: str) -> None:
        if stored in SUPPRESSED:
            if item.status in SUPPRESSED:
                self.summary.merged += 1  # the file agrees the address gets nothing
            else:
                reason = f"kept {stored}: suppression wins over the file"
                self.note(RowNote(item.row, reason, rejected=False))
            return
        status = _merged_status(stored, item.status)
        store.update_imported(
            self.conn, subscriber_id, name=item.name, status=status, was=stored, now=self.now
        )
        pairs = ((subscriber_id, self.list_ids[name]) for name in item.lists)
        store.add_memberships(self.conn, pairs, self.now)
        self.summary.merged += 1

    def insert(self, new: list[ImportRow]) -> None:
        values = [
            {
                "email": item.email,
                "email_key": item.key,
                "name": item.name,
                "status": item.status,
                "preferences": {},
                "created_at": item.created_at or self.now,
                "status_changed_at": self.now,
            }
            for item in new
        ]
        ids = store.insert_many(self.conn, values)
        pairs = ((ids[item.key], self.list_ids[n]) for item in new for n in item.lists)
        store.add_memberships(self.conn, pairs, self.now)
        self.summary.added += len(new)


def _batches(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive chunks of an iterator (itertools.batched arrives only in Python 3.12)."""
    while chunk := list(islice(items, size)):
        yield chunk


def _open(path: Path, encoding: str) -> TextIO:
    try:
        return path.open(encoding=encoding, newline="")
    except LookupError as exc:
        raise InputError(f"unknown encoding {encoding!r}", where="--encoding") from exc
    except OSError as exc:
        raise InputError(f"cannot read the file: {exc.strerror}", where=str(path)) from exc


def _header(stream: TextIO, path: Path) -> tuple[Any, dict[str, int], int, tuple[str, ...]]:
    """(csv reader positioned after the header, column map, header width, ignored columns)."""
    first = stream.readline()
    delimiter = sniff_delimiter(first)
    cells = next(csv.reader([first], delimiter=delimiter), [])
    columns = map_header(cells)
    if "email" not in columns:
        found = ", ".join(repr(c) for c in cells[:8]) or "nothing"
        raise InputError(
            f"no email column in the header (found {found})",
            where=f"{path}:1",
            hint="name the columns: email, name, lists, status, created_at",
        )
    ignored = tuple(c for i, c in enumerate(cells) if i not in columns.values() and c.strip())
    return csv.reader(stream, delimiter=delimiter), columns, len(cells), ignored


def import_csv(
    app: App,
    path: Path,
    *,
    encoding: str = "utf-8-sig",
    dry_run: bool = False,
    default_lists: Iterable[str] = (),
    report: Callable[[RowNote], None] = lambda note: None,
) -> ImportSummary:
    """Import subscribers from a CSV file; bad rows go to `report`, good ones are stored
    in one transaction (rolled back on a dry run or on a file-level error)."""
    with _open(path, encoding) as stream, app.engine.connect() as conn:
        transaction = conn.begin()
        try:
            reader, columns, width, ignored = _header(stream, path)
            summary = ImportSummary(dry_run=dry_run, ignored_columns=ignored)
            rows = RowReader(app, columns, width, default_lists).rows(reader)
            batcher = Batcher(app, conn, summary, report)
            store.begin_import_claims(conn)
            for batch in _batches(rows, BATCH):
                batcher.apply(batch)
            store.end_import_claims(conn)
        except UnicodeDecodeError as exc:
            transaction.rollback()
            raise InputError(
                f"not {encoding} text ({exc.reason} at byte {exc.start} of a block)",
                where=str(path),
                hint="name the file's encoding, e.g. --encoding cp1252",
            ) from exc
        except csv.Error as exc:
            transaction.rollback()
            raise InputError(f"not readable as CSV: {exc}", where=str(path)) from exc
        except BaseException:
            transaction.rollback()
            raise
        if dry_run:
            transaction.rollback()
        else:
            transaction.commit()
    return summary
