"""The scheduler's jobs and triggers: gather every N minutes, one digest cron per list.

Each job rebuilds the App from the config file when it fires, so an edited
config takes effect at the next run and a job never holds a stale connection.
Jobs are module-level functions referenced by name, which is what a persistent
APScheduler job store needs.
"""

from __future__ import annotations

import logging
from pathlib import Path

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from newsletter import app as app_module
from newsletter import config, pipeline
from newsletter.config import ListSettings, Settings
from newsletter.models import Cadence

log = logging.getLogger(__name__)
SCHEDULED = (Cadence.DAILY, Cadence.WEEKLY, Cadence.MONTHLY)


def gather_job(config_file: str) -> None:
    """Gather every source and rewrite the feeds; new articles go out to "immediately" readers."""
    app = app_module.build(config.load(Path(config_file)))
    try:
        refreshed = pipeline.refresh(app)
        log.info("gather: %s", refreshed.summary())
        if refreshed.gathered.new_ids:
            for item in app.settings.lists:
                outcome = pipeline.publish_digest(app, item.name, Cadence.IMMEDIATELY)
                log.info("digest %s (immediately): %s", item.name, outcome)
    finally:
        app.close()


def digest_job(config_file: str, list_name: str, cadence: str | None = None) -> None:
    """Compose the list's issues due at this cadence and send them, if their windows hold any."""
    app = app_module.build(config.load(Path(config_file)))
    due = Cadence(cadence) if cadence else None
    try:
        log.info("digest %s: %s", list_name, pipeline.publish_digest(app, list_name, due))
    finally:
        app.close()


def digest_trigger(item: ListSettings, cadence: Cadence) -> CronTrigger:
    """When a list's issues of one cadence go out, at its send time in its own time zone."""
    when: dict[str, int | str] = {"hour": item.send_time.hour, "minute": item.send_time.minute}
    if cadence == Cadence.WEEKLY:
        when["day_of_week"] = "mon"
    elif cadence == Cadence.MONTHLY:
        when["day"] = 1
    return CronTrigger(timezone=item.timezone, **when)


def scheduler(settings: Settings, config_file: Path) -> BlockingScheduler:
    """A scheduler with every job of the instance; start() blocks until interrupted."""
    scheduler = BlockingScheduler(
        timezone="UTC",
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
    )
    path = str(config_file.resolve())
    scheduler.add_job(
        "newsletter.jobs:gather_job",
        IntervalTrigger(minutes=settings.gather.interval_minutes),
        args=[path],
        id="gather",
        name="gather sources and write feeds",
    )
    for item in settings.lists:
        for cadence in SCHEDULED:
            own = cadence == item.cadence
            scheduler.add_job(
                "newsletter.jobs:digest_job",
                digest_trigger(item, cadence),
                args=[path, item.name, None if own else cadence.value],
                id=f"digest:{item.name}:{cadence}",
                name=f"{cadence} digest of {item.name}" + ("" if own else " (readers' choice)"),
            )
    return scheduler
