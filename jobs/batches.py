"""Working on many images at once: batch progress, ZIP downloads, deleting a selection and
retrying every failed image of a batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone

from jobs import submit, versions
from jobs.models import Job
from jobs.retention import delete_files, file_names
from jobs.submit import QuotaExceeded
from lib import zipstream

CHUNK = zipstream.CHUNK
RECENT_BATCHES = 3


# --- progress -----------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchProgress:
    code: UUID
    total: int
    done: int
    failed: int
    success: int
    retryable: int  # failed and not retried yet

    @property
    def retry_cents(self) -> int:
        return self.retryable * settings.PRICE_CENTS


def recent_batches(jobs: QuerySet[Job], limit: int = RECENT_BATCHES) -> list[BatchProgress]:
    """The newest batches of more than one image among jobs, with their progress (one
    aggregate query)."""
    rows = (
        jobs.order_by()
        .values("batch__code")
        .annotate(
            total=Count("id"),
            busy=Count("id", filter=Q(state__in=Job.IN_FLIGHT)),
            failed=Count("id", filter=Q(state=Job.State.FAILED)),
            unretried=Count("id", filter=Q(state=Job.State.FAILED, retried_as__isnull=True)),
            success=Count("id", filter=Q(state=Job.State.SUCCESS)),
            newest=Max("created"),
        )
        .filter(total__gt=1)
        .order_by("-newest")[:limit]
    )
    return [
        BatchProgress(
            code=r["batch__code"],
            total=r["total"],
            done=r["total"] - r["busy"],
            failed=r["failed"],
            success=r["success"],
            retryable=r["unretried"],
        )
        for r in rows
    ]


# --- ZIP, streamed ------------------------------------------------------------------------


def zip_names(jobs: Iterable[Job]) -> list[tuple[Job, str]]:
    """Each job with a result, and the name it gets in the archive: its download name
    (`beach_4k.webp`), with " (2)", " (3)" added to repeats (compared without case, for
    Windows and macOS)."""
    used: set[str] = set()
    out = []
    for job in jobs:
        if not job.result_file:
            continue
        name = job.download_name.replace("/", "_").replace("\\", "_").lstrip(".") or "image"
        stem, dot, ext = name.rpartition(".")
        if not dot:
            stem, ext = name, ""
        candidate, n = name, 1
        while candidate.lower() in used:
            n += 1
            candidate = f"{stem} ({n}){dot}{ext}"
        used.add(candidate.lower())
        out.append((job, candidate))
    return out


def stream_zip(entries: list[tuple[Job, str]]) -> Iterator[bytes]:
    """The archive of the jobs' results, under the names zip_names gave them, streamed
    (lib.zipstream); a result removed meanwhile (retention, a delete in another tab) is
    left out."""
    return zipstream.stream(
        zipstream.Entry(
            name,
            timezone.localtime(job.finished_at or job.created),
            partial(job.result_file.open, "rb"),
        )
        for job, name in entries
    )


# --- deleting and retrying ----------------------------------------------------------------


def delete_jobs(jobs: QuerySet[Job]) -> tuple[int, int]:
    """Delete the jobs that are not in flight, and their files unless another job still
    uses them (a reused copy, a retry). Return (deleted, kept because in flight).

    The ledger stays: a charge keeps the job's code when its job is gone.
    """
    busy = jobs.filter(state__in=Job.IN_FLIGHT).count()
    done = list(jobs.exclude(state__in=Job.IN_FLIGHT).select_related("team"))
    names = file_names(done)
    # Conditional: a job that went back in flight meanwhile is left alone.
    _, per_model = (
        Job.objects.filter(pk__in=[j.pk for j in done]).exclude(state__in=Job.IN_FLIGHT).delete()
    )
    versions.removed(done)  # teammates' open galleries drop the cards
    delete_files(names)
    return per_model.get(Job._meta.label, 0), busy


def retry_failed(jobs: QuerySet[Job], by: Any) -> list[Job]:
    """Retry every failed job not retried yet, each as a new job with a new charge; return
    the new jobs. All or nothing: if the budget can't cover them all, QuotaExceeded is
    raised and none is queued."""
    failed = list(
        jobs.filter(state=Job.State.FAILED, retried_as__isnull=True).select_related(
            "budget", "team"
        )
    )
    if not failed:
        return []
    try:
        with transaction.atomic():
            retries = [submit.retry(job, by=by) for job in failed]
            return [new for new, created in retries if created]
    except QuotaExceeded:
        budget = failed[0].budget
        budget.refresh_from_db()
        raise QuotaExceeded(len(failed) * settings.PRICE_CENTS, budget.left_cents) from None
