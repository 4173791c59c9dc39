"""A send's progress: a bar on a terminal, throttled log lines otherwise, the end shown."""

from __future__ import annotations

import io

from newsletter.delivery.progress import reporter
from newsletter.delivery.send import Summary


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_log_lines_are_throttled_but_the_end_is_always_shown():
    stream = io.StringIO()
    summary = Summary(7, total=1000)
    with reporter(stream, every=3600) as progress:
        for _ in range(1000):
            summary.sent += 1
            progress(summary)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("issue 7: sent 1000, deferred 0")


def test_the_terminal_bar_takes_every_update_and_ends_at_the_total():
    stream = Terminal()
    summary = Summary(7, total=5000)
    with reporter(stream) as progress:
        for _ in range(5000):
            summary.sent += 1
            progress(summary)
    assert "5000/5000" in stream.getvalue()
