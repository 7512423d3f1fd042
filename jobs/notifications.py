"""The "your batch is done" email: opt-in on the form, sent once a long batch finishes.

"Long" is more than BATCH_NOTIFY_MIN_IMAGES images, or more than BATCH_NOTIFY_MIN_MINUTES
from submit to the last job's end. A batch is finished when none of its jobs is in flight
(a job waiting for an admin, `needs_attention`, counts as finished here: nothing more will
happen by itself). The worker calls `batch_finished` when a job finishes; the cron sweep
`notify_finished_batches` catches the rest (cancels, failures before APIXO, lost workers).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Max, Q
from django.urls import reverse
from django.utils import timezone

from jobs.models import Batch, Job
from lib import emails

logger = logging.getLogger(__name__)


def is_long(total: int, started: datetime, ended: datetime | None) -> bool:
    took = (ended or timezone.now()) - started
    return total > settings.BATCH_NOTIFY_MIN_IMAGES or took > timedelta(
        minutes=settings.BATCH_NOTIFY_MIN_MINUTES
    )


def batch_finished(batch_id: int) -> bool:
    """Email the batch's submitter if it asked to be told, is finished and was long.
    Return True if this call sent it.

    The conditional UPDATE on notified_at claims the email first, so of two workers
    finishing the last two jobs at once, one sends it.
    """
    batch = Batch.objects.filter(pk=batch_id, notify=True, notified_at__isnull=True).first()
    if batch is None or batch.user is None or not batch.user.email:
        return False
    counts = batch.jobs.aggregate(
        total=Count("id"),
        in_flight=Count("id", filter=Q(state__in=Job.IN_FLIGHT)),
        done=Count("id", filter=Q(state=Job.State.SUCCESS)),
        failed=Count("id", filter=Q(state=Job.State.FAILED)),
        ended=Max("finished_at"),
    )
    if counts["in_flight"] or not counts["total"]:
        return False
    if not is_long(counts["total"], batch.created, counts["ended"]):
        return False
    if (
        Batch.objects.filter(pk=batch.pk, notified_at__isnull=True).update(
            notified_at=timezone.now()
        )
        != 1
    ):
        return False
    team = batch.jobs.select_related("team").first()
    context = {
        "batch": batch,
        "user": batch.user,
        "team": team.team if team else None,
        "site_name": settings.SITE_NAME,
        "url": f"{settings.SITE_URL}{reverse('gallery')}?batch={batch.code}",
        **counts,
    }
    n = counts["total"]
    emails.send(
        f"{settings.SITE_NAME}: your batch of {n} image{'s' if n != 1 else ''} is done",
        "jobs/batch_done_email.txt",
        context,
        [batch.user.email],
    )
    logger.info("Batch %s finished; told %s", batch.code, batch.user.email)
    return True


def notify_finished_batches() -> int:
    """Send every due "batch done" email (for the cron scheduler). Return how many."""
    since = timezone.now() - timedelta(days=2)
    waiting = Batch.objects.filter(notify=True, notified_at__isnull=True, created__gte=since)
    waiting = waiting.exclude(jobs__state__in=Job.IN_FLIGHT)
    return sum(batch_finished(pk) for pk in waiting.values_list("pk", flat=True)[:500])
