"""The scheduler's jobs and triggers: gather every N minutes, one digest cron per list.

Each job rebuilds the App from the config file when it fires, so an edited
config takes effect at the next run and a job never holds a stale connection.
Jobs are module-level functions referenced by name, which is what a persistent
APScheduler job store needs.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from newsletter import app as app_module
from newsletter import config, pipeline
from newsletter.config import ListSettings, Settings
from newsletter.models import Cadence

log = logging.getLogger(__name__)
MISFIRE_GRACE = timedelta(hours=1)


def gather_job(config_file: str) -> None:
    """Gather every source and rewrite the feeds."""
    app = app_module.build(config.load(Path(config_file)))
    try:
        log.info("gather: %s", pipeline.refresh(app).summary())
    finally:
        app.close()


def digest_job(config_file: str, list_name: str) -> None:
    """Compose the list's next issue and send it, if its window holds anything."""
    app = app_module.build(config.load(Path(config_file)))
    try:
        log.info("digest %s: %s", list_name, pipeline.publish_digest(app, list_name))
    finally:
        app.close()


def digest_trigger(item: ListSettings) -> CronTrigger:
    """When a list's issue goes out, in the list's own time zone."""
    when = {"hour": item.send_time.hour, "minute": item.send_time.minute}
    if item.cadence == Cadence.WEEKLY:
        when["day_of_week"] = "mon"
    elif item.cadence == Cadence.MONTHLY:
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
        if item.cadence == Cadence.IMMEDIATELY:
            continue
        scheduler.add_job(
            "newsletter.jobs:digest_job",
            digest_trigger(item),
            args=[path, item.name],
            id=f"digest:{item.name}",
            name=f"digest of {item.name}",
        )
    return scheduler
