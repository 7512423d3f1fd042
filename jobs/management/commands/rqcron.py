from __future__ import annotations

from typing import Any

import django_rq
from django.conf import settings
from django.core.management.base import BaseCommand
from rq.cron import CronScheduler

from jobs.tasks import reconcile


class Command(BaseCommand):
    help = "Enqueue the periodic jobs (the reconciler) on RQ's cron scheduler. Run one."

    def handle(self, *args: Any, **options: Any) -> None:
        cron = CronScheduler(connection=django_rq.get_connection("default"))
        cron.register(reconcile, queue_name="default", interval=settings.RECONCILE_INTERVAL)
        self.stdout.write(f"Reconciler every {settings.RECONCILE_INTERVAL} s.")
        cron.start()
