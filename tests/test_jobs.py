"""The scheduler's jobs and triggers: one cron per list and cadence, in the list's zone."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from newsletter import config, jobs
from newsletter.cli import main
from newsletter.devsmtp import SMTPThread
from newsletter.models import Cadence
from tests.smtp_servers import Counting


def test_triggers_fire_at_the_send_time_in_the_lists_zone() -> None:
    settings = config.load(Path(__file__).resolve().parent.parent / "newsletter.toml")
    weekly, monthly = settings.list_named("weekly"), settings.list_named("ms-monthly")
    after = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # a Wednesday
    fire = jobs.digest_trigger(weekly, Cadence.WEEKLY).get_next_fire_time(None, after)
    assert fire.isoformat() == "2026-11-30T08:00:00-05:00"  # Monday, New York time
    fire = jobs.digest_trigger(monthly, Cadence.MONTHLY).get_next_fire_time(None, after)
    assert fire.isoformat() == "2026-12-01T07:30:00-05:00"
    fire = jobs.digest_trigger(weekly, Cadence.DAILY).get_next_fire_time(None, after)
    assert fire.isoformat() == "2026-11-25T08:00:00-05:00"  # 12:00 UTC is 07:00 there


def test_scheduler_has_gather_and_one_job_per_list_and_cadence(settings: config.Settings) -> None:
    runner = jobs.scheduler(settings, settings.instance_dir / "newsletter.toml")
    ids = {job.id for job in runner.get_jobs()}
    assert "gather" in ids
    for name in ("weekly", "ms-monthly"):
        assert {f"digest:{name}:{c}" for c in ("daily", "weekly", "monthly")} <= ids
    own = next(job for job in runner.get_jobs() if job.id == "digest:weekly:weekly")
    assert own.args[1:] == ("weekly", None)


def test_jobs_gather_then_send_a_digest(instance: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    handler = Counting()
    path = str(instance / "newsletter.toml")
    with SMTPThread(handler) as server:
        monkeypatch.setenv("NEWSLETTER_SMTP__PORT", str(server.port))
        assert main(["--config", path, "init"]) == 0
        csv = str(instance / "subscribers.csv")
        assert main(["--config", path, "subscribers", "import", csv]) == 0
        jobs.gather_job(path)
        assert (instance / "feeds" / "rss.xml").is_file()
        jobs.digest_job(path, "weekly")
        assert handler.total() == 8
        jobs.digest_job(path, "weekly")  # nothing new: nobody gets a second copy
        assert handler.total() == 8
