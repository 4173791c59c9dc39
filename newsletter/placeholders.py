"""Per-subscriber fields inside an issue's frozen HTML and text.

An issue is rendered (and its CSS inlined) once; what differs per subscriber is
written as markers like ``@@nl:unsubscribe_url@@``. `Filler.parse` splits the
frozen text once, and `fill` joins the pieces with one subscriber's escaped
values, so a subscriber named ``<script>`` or ``{{ 7*7 }}`` shows as text and a
filled value is never scanned for markers again. Untrusted text that enters a
template (article titles, bodies) goes through `neutralise` first, so it can
never smuggle a marker in.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from newsletter.errors import RenderError

FIELDS = frozenset({"name", "email", "unsubscribe_url", "preferences_url"})
OPEN = "@@nl:"
CLOSE = "@@"
MARKER = re.compile(r"@@nl:([a-z_]+)@@")


def marker(field: str) -> str:
    """The marker a template writes where `field` goes."""
    if field not in FIELDS:
        raise RenderError(
            f"unknown placeholder {field!r}", hint=f"known: {', '.join(sorted(FIELDS))}"
        )
    return f"{OPEN}{field}{CLOSE}"


def neutralise(text: str) -> str:
    """Break any marker-like sequence in untrusted text (a no-op for ordinary text)."""
    return text.replace(OPEN, "@@ nl:")


def _identity(value: str) -> str:
    return value


@dataclass(frozen=True, slots=True)
class Filler:
    """A frozen text split at its markers: literals[0] field[0] literals[1] … literals[-1]."""

    literals: tuple[str, ...]
    fields: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Filler:
        parts = MARKER.split(text)
        fields = tuple(parts[1::2])
        unknown = sorted(set(fields) - FIELDS)
        if unknown:
            raise RenderError(f"unknown placeholder(s) {', '.join(unknown)} in rendered issue")
        return cls(literals=tuple(parts[0::2]), fields=fields)

    def fill(self, values: Mapping[str, str], escape: Callable[[str], str] = _identity) -> str:
        """The text for one subscriber; every value passes through `escape` exactly once."""
        pieces = [self.literals[0]]
        for field, literal in zip(self.fields, self.literals[1:], strict=True):
            pieces.append(escape(values[field]))
            pieces.append(literal)
        return "".join(pieces)
