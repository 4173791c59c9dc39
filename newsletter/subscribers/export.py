"""Subscribers out as CSV: status, lists, dates and preferences, safe to open in a spreadsheet.

A cell that starts with ``=``, ``+``, ``-``, ``@``, tab or CR is a formula to
Excel, LibreOffice and Google Sheets (CSV injection); such cells get a leading
apostrophe, which the import takes off again.
"""

from __future__ import annotations

import csv
from datetime import datetime
from typing import TextIO

from newsletter.app import App
from newsletter.models import Subscriber
from newsletter.store import subscribers as store

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
EXPORT_COLUMNS = (
    "email",
    "name",
    "status",
    "lists",
    "created_at",
    "confirmed_at",
    "confirmed_ip",
    "status_changed_at",
    "cadence",
    "topics",
)


def safe_cell(value: str) -> str:
    """A cell a spreadsheet shows as text, never runs as a formula."""
    return "'" + value if value.startswith(FORMULA_START) else value


def _when(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def export_row(subscriber: Subscriber) -> list[str]:
    """One subscriber as CSV cells in EXPORT_COLUMNS order, safe for spreadsheets."""
    cells = [
        subscriber.email,
        subscriber.name,
        str(subscriber.status),
        ";".join(subscriber.lists),
        _when(subscriber.created_at),
        _when(subscriber.confirmed_at),
        subscriber.confirmed_ip,
        _when(subscriber.status_changed_at),
        str(subscriber.preferences.cadence or ""),
        ";".join(subscriber.preferences.topics),
    ]
    return [safe_cell(cell) for cell in cells]


def export_csv(app: App, out: TextIO, list_name: str | None = None) -> int:
    """Write every subscriber (or one list's) to `out`, streamed; returns the row count."""
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    count = 0
    with app.engine.connect() as conn:
        for subscriber in store.stream(conn, list_name=list_name):
            writer.writerow(export_row(subscriber))
            count += 1
    return count
