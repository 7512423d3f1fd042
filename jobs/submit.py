"""Submitting work: a batch of sources, a retry, and an admin's answer for a job whose
submit outcome was unknown. Each reserves (or releases) money and queues the worker's task
on commit; the models only move states and count money.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone

# tasks as a module: tests replace tasks.enqueue_start.
from jobs import dedupe, tasks, versions
from jobs.models import Batch, Budget, Job, Team, job_finished
from lib.money import cents


@dataclass
class Source:
    """One checked source of a batch: a URL, or an uploaded file with what we read of it."""

    name: str
    url: str = ""
    upload: UploadedFile[bytes] | None = None
    width: int | None = None
    height: int | None = None
    size: int | None = None
    ext: str = ""
    sha256: str = ""  # of an upload's bytes (a URL's are hashed by the worker)


class QuotaExceeded(Exception):
    def __init__(self, needed: int, left: int | None) -> None:
        super().__init__(f"needs {needed}, {left} left")
        self.needed = needed
        self.left = left


def quota_message(n: int, e: QuotaExceeded, team: Team | None = None) -> str:
    """What a user is told when n images would go over the quota or budget (every way of
    submitting says the same: the form, a retry, a selection, the API). Only the paid ones
    count: an image already upscaled the same way is a free reuse, and the budget never
    sees it."""
    left = "unlimited" if e.left is None else cents(e.left)
    paid = e.needed // settings.PRICE_CENTS if settings.PRICE_CENTS else n
    images = f"{paid} image{'s' if paid != 1 else ''} = {cents(e.needed)}"
    if n > paid:
        free = n - paid
        images += f" ({free} more {'is a free reuse' if free == 1 else 'are free reuses'})"
    if team is None:
        return (
            f"{images}, but only {left} is left of your quota. Nothing was submitted. "
            "Remove some images, or ask an admin to raise your quota."
        )
    period = " this month" if team.budget.monthly else ""
    return (
        f"{images}, but only {left} is left of {team.name}'s budget{period}. Nothing was "
        "submitted. Remove some images, or ask a team owner or admin to raise the budget."
    )


def submit_batch(
    user: Any,
    budget: Budget,
    key: uuid.UUID,
    sources: list[Source],
    resolution: str,
    fmt: str,
    team: Team | None = None,
    strip_gps: bool = False,
    force_new: bool = False,
    notify: bool = False,
    skip_small: bool = False,
) -> tuple[Batch, bool]:
    """Create one queued job per source, reserving their cost first. Return (batch, created).

    All or nothing: if the budget cannot cover the whole batch, QuotaExceeded is raised and
    nothing is kept. A repeated key returns the first post's batch with created=False.
    With a team, the jobs belong to the team (budget is then the team's).
    An upload already upscaled the same way in this gallery becomes a finished copy of that
    result at once, reserving nothing (jobs.dedupe), unless force_new.
    """
    with transaction.atomic():
        try:
            with transaction.atomic():
                batch = Batch.objects.create(code=key, user=user, notify=notify)
        except IntegrityError:
            return Batch.objects.get(code=key, user=user), False
        found = {
            s.sha256: dedupe.find_result(user, team, s.sha256, resolution, fmt, strip_gps)
            for s in sources
            if s.sha256 and not force_new
        }
        needed = settings.PRICE_CENTS * sum(1 for s in sources if not found.get(s.sha256))
        if needed and not budget.reserve(needed):
            budget.refresh_from_db()
            raise QuotaExceeded(needed, budget.left_cents)
        for source in sources:
            job = Job(
                user=user,
                team=team,
                budget=budget,
                batch=batch,
                source_url=source.url,
                source_name=source.name[:255],
                source_width=source.width,
                source_height=source.height,
                source_bytes=source.size,
                resolution=resolution,
                output_format=fmt,
                next_check_at=timezone.now(),
                source_sha256=source.sha256,
                strip_gps=strip_gps,
                force_new=force_new,
                skip_small=skip_small,
            )
            if original := found.get(source.sha256):
                dedupe.new_copy(job, original)
            elif source.upload is not None:
                source.upload.seek(0)
                job.source_file.save(f"x.{source.ext}", source.upload, save=False)
            job.save()
            if not original:
                transaction.on_commit(partial(tasks.enqueue_start, job.pk))
            else:  # finished already: the submitter's webhook hears of it as of any other
                job_finished.send(sender=Job, job_id=job.pk)
    return batch, True


def resolve_attention(job: Job, resubmit: bool) -> bool:
    """An admin's answer for a job whose submit outcome was unknown (needs_attention).

    resubmit=False: APIXO never got it; fail the job and release its reservation.
    resubmit=True: send it again (the admin checked APIXO has no task for it). The
    reservation it still holds pays for the new try. Return True if this call moved it.
    """
    with transaction.atomic():
        if resubmit:
            moved = job.move(
                (Job.State.NEEDS_ATTENTION,), Job.State.QUEUED, next_check_at=timezone.now()
            )
            if moved:
                transaction.on_commit(partial(tasks.enqueue_start, job.pk))
            return moved
        moved = job.move(
            (Job.State.NEEDS_ATTENTION,),
            Job.State.FAILED,
            fail_code="Unavailable",
            fail_msg="An admin found that APIXO never received this image. Nothing was charged.",
        )
        if moved:
            job.budget.release(settings.PRICE_CENTS)
    return moved


class _AlreadyRetried(Exception):
    """Another request retried the job first: undo this one's reservation and job."""


def retry(job: Job, by: Any = None) -> tuple[Job, bool]:
    """Queue a new job for the same source, linked to this one: a new task, a new charge.
    Return (the retry, created).

    Once only: a job already retried (a double click, a second tab, a teammate) returns
    its retry with created=False, and nothing is reserved or queued again. The link on
    the old job is set by a conditional UPDATE, so of two concurrent retries exactly one
    keeps its new job; the other's is rolled back with its reservation.
    `by` submits it (a team member retrying a teammate's job); the submitter by default.
    Raise QuotaExceeded if the budget cannot cover it.
    """
    user = by or job.user
    try:
        with transaction.atomic():
            if Job.objects.filter(pk=job.pk, retried_as__isnull=False).exists():
                raise _AlreadyRetried
            if not job.budget.reserve(settings.PRICE_CENTS):
                job.budget.refresh_from_db()
                raise QuotaExceeded(settings.PRICE_CENTS, job.budget.left_cents)
            new = _retry_job(job, user)
            # The old card changes too (a link instead of its Retry button), live.
            linked = Job.objects.filter(pk=job.pk, retried_as__isnull=True).update(
                retried_as=new, updated=timezone.now()
            )
            if linked != 1:
                raise _AlreadyRetried
            job.retried_as = new
            versions.bump(job)
            transaction.on_commit(partial(tasks.enqueue_start, new.pk))
    except _AlreadyRetried:
        job.refresh_from_db(fields=["retried_as", "updated"])
        if job.retried_as is None:  # that retry was deleted meanwhile: this one goes ahead
            return retry(job, by)
        return job.retried_as, False
    return new, True


def _retry_job(job: Job, user: Any) -> Job:
    batch = Batch.objects.create(code=uuid.uuid4(), user=user)
    return Job.objects.create(
        user=user,
        team=job.team,
        budget=job.budget,
        batch=batch,
        retry_of=job,
        source_url=job.source_url,
        # A URL source is fetched afresh: the link may have been fixed since.
        source_file=job.source_file if not job.source_url else "",
        source_preview=job.source_preview if not job.source_url else "",
        source_name=job.source_name,
        source_width=job.source_width,
        source_height=job.source_height,
        source_bytes=job.source_bytes,
        resolution=job.resolution,
        output_format=job.output_format,
        next_check_at=timezone.now(),
        # A retry is an explicit new run (a new charge, as its button says).
        source_sha256=job.source_sha256 if not job.source_url else "",
        strip_gps=job.strip_gps,
        force_new=True,
        skip_small=job.skip_small,
    )
