"""Where articles come from: each source reads its input and yields untrusted RawEntry values.

A source never stops at the first bad input: what it could read comes back as
entries, what it could not as SourceErrors naming the file and line (or URL),
so gather can store the good ones and report the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

from newsletter.errors import SourceError
from newsletter.models import RawEntry

LOCAL_SOURCE = "content"  # the source name of the instance's Markdown folder


@dataclass(frozen=True, slots=True)
class Batch:
    """What one read of a source produced: good entries and one error per bad input."""

    entries: tuple[RawEntry, ...] = ()
    errors: tuple[SourceError, ...] = ()
