"""Showing a running send: a rich progress bar on a terminal, a plain log line otherwise."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

from newsletter.delivery.send import Progress as OnProgress
from newsletter.delivery.send import Summary


def line(summary: Summary) -> str:
    """The one-line account of a run, for logs and the final summary."""
    text = (
        f"issue {summary.issue_id}: sent {summary.sent}, deferred {summary.deferred}, "
        f"failed {summary.failed}, skipped {summary.skipped}"
    )
    if summary.bounced:
        text += f" (bounced {summary.bounced})"
    return text


class _Log:
    """Logs progress at most every `every` seconds, so a cron job's log stays readable."""

    def __init__(self, stream: TextIO, every: float) -> None:
        self.stream = stream
        self.every = every
        self.started = self.last = time.monotonic()

    def __call__(self, summary: Summary) -> None:
        now = time.monotonic()
        if now - self.last < self.every and summary.done < summary.total:
            return
        self.last = now
        rate = summary.done / max(now - self.started, 1e-6)
        print(f"{line(summary)} of {summary.total}, {rate:.0f} msg/s", file=self.stream)


@contextmanager
def reporter(stream: TextIO, every: float = 10.0) -> Iterator[OnProgress]:
    """A progress callback for `send_issue`: a bar with rate and ETA on a TTY, else log lines."""
    if not stream.isatty():
        yield _Log(stream, every)
        return
    columns = (
        TextColumn("sending"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(file=stream), transient=True) as bar:
        task = bar.add_task("send", total=None, rate="")
        started = time.monotonic()
        shown = [0.0]  # when the bar last moved: it redraws ten times a second, not per message

        def update(summary: Summary) -> None:
            now = time.monotonic()
            if now - shown[0] < 0.1 and summary.done < summary.total:
                return
            shown[0] = now
            rate = summary.done / max(now - started, 1e-6)
            bar.update(task, total=summary.total, completed=summary.done, rate=f"{rate:.0f}/s")

        yield update
