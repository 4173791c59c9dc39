"""Run the scheduler for the instance in this folder: `python scheduler.py`.

Gathers every `gather.interval_minutes` and sends each list's digest on its own
cron, in its own time zone (see newsletter.toml). Stop it with Ctrl-C.
"""

from __future__ import annotations

import logging
import sys

from newsletter import config, jobs
from newsletter.errors import ConfigError


def main() -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    path = config.config_path(sys.argv[1] if len(sys.argv) > 1 else None)
    try:
        settings = config.load(path)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    runner = jobs.scheduler(settings, path)
    for job in runner.get_jobs():
        logging.info("scheduled %s: %s", job.id, job.trigger)
    try:
        runner.start()
    except (KeyboardInterrupt, SystemExit):
        logging.info("scheduler stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
