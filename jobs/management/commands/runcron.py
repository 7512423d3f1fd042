"""`manage.py runcron`: django-rq's `rqcron jobs.cron`, plus a heartbeat for /healthz and
a loop that waits for Redis (with backoff) instead of exiting when it goes away."""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django_rq.cron import DjangoCronScheduler
from rq.exceptions import StopRequested

from jobs import heartbeat

logger = logging.getLogger("jobs.cron")
ROLE = "cron"


class Scheduler(DjangoCronScheduler):
    def start(self) -> None:
        """RQ's CronScheduler.start, but a Redis error waits for Redis and carries on."""
        self._install_signal_handlers()
        beater = heartbeat.Beater(self.connection, [ROLE], self.name).start()
        try:
            while True:
                try:
                    self.register_birth()
                    self._loop()
                except heartbeat.REDIS_ERRORS as e:
                    logger.warning("Cron %s: lost Redis: %s", self.name, e)
                    time.sleep(1)
                    heartbeat.wait_for_redis(self.connection, lambda: False, f"Cron {self.name}")
        except (StopRequested, KeyboardInterrupt):
            logger.info("Cron %s: stopping", self.name)
        finally:
            beater.stop()
            with contextlib.suppress(*heartbeat.REDIS_ERRORS):
                self.register_death()

    def _loop(self) -> None:
        while True:
            if self.enqueue_jobs():
                self.save()  # the jobs' next run times, for django-rq's dashboard
            self.heartbeat()
            sleep_time = self.calculate_sleep_interval()
            if sleep_time > 0:
                time.sleep(sleep_time)


class Command(BaseCommand):
    help = "Run the periodic jobs of jobs/cron.py (the reconciler among them); run one."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("config_path", nargs="?", default="jobs.cron")

    def handle(self, *args: Any, **options: Any) -> None:
        scheduler = Scheduler(logging_level=logging.INFO)
        scheduler.load_config_from_file(options["config_path"])
        self.stdout.write(f"Starting cron with {len(scheduler.get_jobs())} jobs...")
        scheduler.start()
