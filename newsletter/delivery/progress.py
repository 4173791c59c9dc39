"""Showing a running send: a rich progress bar on a terminal, a plain log line otherwise."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
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


class _Throttled:
    """Shows progress at most every `every` seconds, and always the end: a send reports
    every message, thousands a second, and a cron job's log must stay readable."""

    def __init__(self, every: float, show: Callable[[Summary, float], None]) -> None:
        self.every = every
        self.show = show
        self.started = self.last = time.monotonic()

    def __call__(self, summary: Summary) -> None:
        now = time.monotonic()
        if now - self.last < self.every and summary.done < summary.total:
            return
        self.last = now
        self.show(summary, summary.done / max(now - self.started, 1e-6))


@contextmanager
def reporter(stream: TextIO, every: float = 10.0) -> Iterator[OnProgress]:
    """A progress callback for `send_issue`: a bar with rate and ETA on a TTY, else log lines."""
    if not stream.isatty():

        def log(summary: Summary, rate: float) -> None:
            print(f"{line(summary)} of {summary.total}, {rate:.0f} msg/s", file=stream)

        yield _Throttled(every, log)
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

        def move(summary: Summary, rate: float) -> None:
            bar.update(task, total=summary.total, completed=summary.done, rate=f"{rate:.0f}/s")

        yield _Throttled(0.1, move)  # the bar redraws ten times a second anyway
