"""Deleting stored images: expired ones (RETENTION_DAYS) and a deleted account's.

`purge_expired()` is a plain function for a scheduler; `jobs/cron.py` (the module that
`manage.py runcron` loads) registers it hourly:

    cron.register(purge_expired, "default", interval=3600)
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.db.models import Q
from django.utils import timezone

from jobs.models import Job

logger = logging.getLogger(__name__)

FILE_FIELDS = ("source_file", "source_preview", "result_file", "thumbnail", "preview")


def file_names(jobs: Iterable[Job]) -> list[str]:
    return [str(name) for job in jobs for f in FILE_FIELDS if (name := getattr(job, f).name)]


def delete_files(names: Iterable[str]) -> None:
    """Delete stored files that no remaining job refers to (a retry shares its source)."""
    for name in set(names):
        used = Q()
        for field in FILE_FIELDS:
            used |= Q(**{field: name})
        still_used = Job.objects.filter(used).exists()
        if not still_used:
            default_storage.delete(name)


def purge_expired(now: datetime | None = None) -> int:
    """Delete the stored files (FILE_FIELDS) of finished jobs older than RETENTION_DAYS
    (0: keep forever). Return how many jobs lost their files.

    The job rows stay, so galleries, failure rates and the ledger keep their history; a card
    whose files are gone says so. Jobs still in flight are never touched.
    """
    days = settings.RETENTION_DAYS
    if days <= 0:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    expired = (
        Job.objects.filter(created__lt=cutoff)
        .exclude(state__in=Job.IN_FLIGHT)
        .exclude(**dict.fromkeys(FILE_FIELDS, ""))
    )
    count = 0
    for job in expired.iterator(chunk_size=500):
        names = file_names([job])
        # Conditional: a job that moved on meanwhile is left alone.
        cleared = (
            Job.objects.filter(pk=job.pk)
            .exclude(state__in=Job.IN_FLIGHT)
            .update(**dict.fromkeys(FILE_FIELDS, ""))
        )
        if cleared:
            delete_files(names)
            count += 1
    if count:
        logger.info("Retention: removed the files of %s jobs older than %s days", count, days)
    return count
