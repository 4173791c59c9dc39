"""The use cases the scheduler and the demo run: stages wired together, nothing more.

`refresh` is the gather job (sources → store → feeds); `publish_digest` is a
list's cron job (compose → render → send). Each stage owns its work; this
module only decides the order.
"""

from __future__ import annotations

from dataclasses import dataclass

from newsletter import issues
from newsletter.app import App
from newsletter.delivery.send import Summary, send_issue
from newsletter.feeds import FeedReport, write_feeds
from newsletter.gather import GatherReport, gather
from newsletter.models import Cadence, Issue, IssueStatus


@dataclass(frozen=True)
class Refresh:
    """What a gather job did: the articles it stored and the feeds it wrote."""

    gathered: GatherReport
    feeds: FeedReport

    def summary(self) -> str:
        g = self.gathered
        return (
            f"{g.new} new, {g.updated} updated, {g.unchanged} unchanged, {g.failed} failed; "
            f"{self.feeds.summary()}"
        )


def refresh(app: App) -> Refresh:
    """Gather every source, then rewrite the feeds (only files whose bytes changed)."""
    gathered = gather(app)
    return Refresh(gathered=gathered, feeds=write_feeds(app))


def describe(summary: Summary) -> str:
    return (
        f"{summary.sent} sent, {summary.deferred} deferred, {summary.failed} failed, "
        f"{summary.skipped} skipped ({summary.state})"
    )


def publish_digest(app: App, list_name: str, cadence: Cadence | None = None) -> str:
    """Compose every variant of the list due at `cadence` and send each; one line of outcome.

    `cadence` None means the list's own cadence (its cron); other cadences serve the
    subscribers who chose them in their preferences.
    """
    made = issues.compose_variants(app, list_name, cadence)
    if not made:
        return "no new articles since the last issue; nothing sent"
    return "; ".join(
        f"issue {issue.list_name}/{issue.number}{'/' + issue.variant if issue.variant else ''}: "
        f"{describe(send_issue(app, issue.id))}"
        for issue in made
    )


def unsent(issue: Issue | None) -> bool:
    """Whether an issue still has sending to do (a re-run of the demo skips sent ones)."""
    return issue is not None and issue.status not in (IssueStatus.SENT, IssueStatus.CANCELLED)
