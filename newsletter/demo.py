"""The demo: the whole pipeline on the sample instance, into an embedded SMTP sink.

init → import subscribers → gather → feeds → compose → send → preview, each step
one printed line. Running it again is safe: each step says what is already done
(the ledger guarantees nobody gets an issue twice).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

from newsletter import issues, pipeline, resources
from newsletter.app import App
from newsletter.config import CONFIG_FILE
from newsletter.delivery.send import send_issue
from newsletter.models import Issue
from newsletter.store import db
from newsletter.store import issues as issue_store
from newsletter.subscribers import csvfile

SAMPLE_FILES = (CONFIG_FILE, "subscribers.csv", "content")
DEMO_FOLDER = "newsletter-demo"


def instance_config(cwd: Path) -> Path:
    """The config to run: this folder's, or a copy of the packaged sample in ./newsletter-demo."""
    if (cwd / CONFIG_FILE).is_file():
        return cwd / CONFIG_FILE
    target = cwd / DEMO_FOLDER
    sample = resources.sample_instance()
    target.mkdir(exist_ok=True)
    for name in SAMPLE_FILES:
        source, copy = sample / name, target / name
        if copy.exists():
            continue
        if source.is_dir():
            shutil.copytree(source, copy)
        else:
            shutil.copy2(source, copy)
    return target / CONFIG_FILE


def _latest(app: App, list_name: str) -> Issue | None:
    with app.engine.connect() as conn:
        return issue_store.latest(conn, list_name)


def _issue_lines(app: App, list_name: str, preview_dir: Path) -> Iterator[str]:
    made = issues.compose_next(app, list_name)
    issue = made or _latest(app, list_name)
    if issue is None:
        yield f"compose {list_name}: no public articles for this list yet"
        return
    ref = f"{issue.list_name}/{issue.number}"
    yield f"compose {list_name}: " + (
        f"issue {ref} with {len(issue.article_ids)} articles, {issue.subject!r}"
        if made
        else f"no new articles since issue {ref}"
    )
    if pipeline.unsent(issue):
        yield f"send {ref}: {pipeline.describe(send_issue(app, issue.id))}"
    else:
        yield f"send {ref}: already sent, nothing sent twice"
    html, text = issues.preview(app, issue)
    preview_dir.mkdir(parents=True, exist_ok=True)
    page = preview_dir / f"{issue.list_name}-{issue.number}.html"
    page.write_text(html, encoding="utf-8")
    page.with_suffix(".txt").write_text(text, encoding="utf-8")
    yield f"preview {ref}: {page} (and {page.with_suffix('.txt').name})"


def run(app: App, preview_dir: Path) -> Iterator[str]:
    """Every step of the pipeline, yielding one line per step as it finishes."""
    settings = app.settings
    before, after = db.migrate(app.engine)
    yield f"database: {'up to date' if before == after else 'created'} ({settings.database_url})"
    summary = csvfile.import_csv(app, settings.instance_dir / "subscribers.csv")
    yield (
        f"subscribers: {summary.added} new, {summary.merged} already known, "
        f"{summary.rejected} rejected"
    )
    refreshed = pipeline.refresh(app)
    yield f"gather: {refreshed.gathered.new} new, {refreshed.gathered.updated} updated, " + (
        f"{refreshed.gathered.unchanged} unchanged, {refreshed.gathered.failed} failed"
    )
    yield from (f"  {line}" for line in refreshed.gathered.errors)
    yield f"{refreshed.feeds.summary()} in {settings.path(settings.paths.feeds)}"
    for spec in settings.lists:
        yield from _issue_lines(app, spec.name, preview_dir)
