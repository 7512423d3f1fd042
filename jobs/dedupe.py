"""Don't pay twice: a source already upscaled (same bytes, tier, format and GPS choice) by
the same person (personal) or the same team is reused, with no APIXO task and no charge.

The new job becomes a `success` copy (`reused_from`) that shares the earlier job's stored
files; deleting either leaves the files while the other still uses them
(`jobs.retention.delete_files`). The user can force a new run (`Job.force_new`).
"""

from __future__ import annotations

import hashlib
from typing import IO, Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from jobs.models import Job, Team

CHUNK = 1 << 20


def sha256_of(f: IO[bytes]) -> str:
    """The hex sha256 of a file's bytes, read in pieces (the file is left at its start)."""
    f.seek(0)
    digest = hashlib.sha256()
    while piece := f.read(CHUNK):
        digest.update(piece)
    f.seek(0)
    return digest.hexdigest()


def find_result(
    user: Any, team: Team | None, sha256: str, resolution: str, fmt: str, strip_gps: bool
) -> Job | None:
    """The newest stored success for this source and output, in the same gallery."""
    if not sha256:
        return None
    jobs = Job.objects.filter(
        source_sha256=sha256,
        resolution=resolution,
        output_format=fmt,
        strip_gps=strip_gps,
        state=Job.State.SUCCESS,
    ).exclude(result_file="")
    jobs = jobs.filter(team=team) if team is not None else jobs.filter(user=user, team=None)
    return jobs.order_by("-finished_at", "-id").first()


def copy_fields(original: Job) -> dict[str, Any]:
    """What a reused copy takes from the job it reuses: its files and their facts."""
    return {
        "reused_from": original.reused_from or original,
        "result_file": original.result_file.name,
        "thumbnail": original.thumbnail.name,
        "preview": original.preview.name,
        "result_width": original.result_width,
        "result_height": original.result_height,
        "result_bytes": original.result_bytes,
        "metadata_kept": original.metadata_kept,
        "made_by": original.made_by,
    }


def reuse_queued(job: Job, original: Job) -> bool:
    """Finish a queued job as a copy of original and release its reservation (no charge).

    For URL sources, whose bytes are known only once the worker has them. Return True if
    this call did it (the job may have been canceled meanwhile).
    """
    with transaction.atomic():
        moved = job.move((Job.State.QUEUED,), Job.State.SUCCESS, **copy_fields(original))
        if moved:
            job.budget.release(settings.PRICE_CENTS)
    return moved


def new_copy(job: Job, original: Job) -> None:
    """Fill an unsaved job as a finished copy of original (uploads, at submit)."""
    for name, value in copy_fields(original).items():
        setattr(job, name, value)
    if original.source_file and not job.source_file:
        job.source_file = original.source_file.name  # the same bytes: keep one copy
        job.source_preview = original.source_preview.name
    job.state = Job.State.SUCCESS
    job.finished_at = timezone.now()
    job.next_check_at = None
