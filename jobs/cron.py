"""Periodic jobs, for django-rq's cron scheduler: `python manage.py runcron` (jobs/management/commands/runcron.py).

Run exactly one such process per deployment (compose's `cron` service).
"""

from __future__ import annotations

from django.conf import settings
from rq import cron

from jobs.notifications import notify_finished_batches
from jobs.recovery import reconcile_from_cron
from jobs.retention import purge_expired
from jobs.sweep import sweep_temp_files

# A late copy of a run (the worker was behind) returns at once: reconcile_from_cron.
cron.register(reconcile_from_cron, "default", interval=settings.RECONCILE_INTERVAL)

# Does nothing while RETENTION_DAYS is 0 (keep until deleted).
cron.register(purge_expired, "default", interval=3600)

# Temp files a killed web process or worker left behind (jobs/sweep.py).
cron.register(sweep_temp_files, "default", interval=3600)

# "Your batch is done" emails the worker didn't send (batches ended by a cancel, say).
cron.register(notify_finished_batches, "default", interval=60)
