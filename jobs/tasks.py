"""RQ job functions: fetch a URL source, submit to APIXO, poll, and keep the result.

Each function takes a job id, re-reads the row, returns early if another worker (or a
webhook) already moved the job on, and records every outcome with a conditional UPDATE.
None sleeps: waiting is a job scheduled for later with enqueue_at (the worker runs with
--with-scheduler).
"""

from __future__ import annotations

import logging
import os
import random
import struct
import tempfile
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import django_rq
import redis
from django.conf import settings
from django.core.cache import cache
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from jobs import alerts, apixo, dedupe, estimates, throttle, versions
from jobs.models import Job, preview_path, result_path, source_path, thumb_path
from jobs.notifications import batch_finished
from lib import fetch, metadata, signing
from lib.images import (
    ImageRejected,
    convert_phone_photo,
    decode_source,
    inspect_image,
    make_renditions,
    source_needs_preview,
)
from lib.site import site_is_public

logger = logging.getLogger(__name__)
S = Job.State
SOURCE_SALT = "jobs.source"
# APIXO refusing our key, balance or access: nothing will work until an admin acts.
BREAKER_STATUSES = (401, 402, 403)


# --- enqueueing --------------------------------------------------------------------------


def _queue() -> Any:
    return django_rq.get_queue("default")


def enqueue_start(job_id: int) -> None:
    """Start a job once the current transaction commits (django-rq's on_db_commit mode).

    If Redis went away since queue_is_up() said yes, the job stays queued with no
    next_check_at, which the reconciler's next run treats as overdue: it starts it.
    """
    # Its RQ id names the row's next_check_at (rq_id), as schedule()'s do.
    due = Job.objects.filter(pk=job_id).values_list("next_check_at", flat=True).first()
    try:
        _queue().enqueue(start_job, job_id, job_id=rq_id(job_id, due))
    except (redis.ConnectionError, redis.TimeoutError) as e:
        logger.warning("Job %s: not enqueued (%s); the reconciler will start it", job_id, e)
        Job.objects.filter(pk=job_id, state=S.QUEUED).update(next_check_at=None)


QUEUE_DOWN = (
    "We can't take new images right now: our job queue is unreachable. Nothing was "
    "submitted or charged. Please try again in a minute."
)


def queue_is_up() -> bool:
    """Whether the queue's Redis answers right now. A submit is refused before anything is
    reserved or saved when it doesn't, rather than leaving jobs nothing will run soon."""
    try:
        conn = django_rq.get_connection("default")
        conn.connection_pool.connection_kwargs.update(
            socket_timeout=2.0, socket_connect_timeout=2.0
        )
        return bool(conn.ping())
    except (redis.ConnectionError, redis.TimeoutError) as e:
        logger.warning("Submit refused: Redis unreachable: %s", e)
        return False


def schedule(func: Any, job_id: int, delay: float, *args: Any) -> None:
    """Run func(job_id, *args) in `delay` seconds, and note on the job when that is due.

    The note (next_check_at) is what the reconciler reads: the database, not Redis, knows
    what work every in-flight job is waiting for. The RQ job's id is made from it
    (rq_id), so the reconciler can tell work that is still coming from work Redis lost.
    """
    delay = max(0.0, delay)
    due = timezone.now() + timedelta(seconds=delay)
    Job.objects.filter(pk=job_id).update(next_check_at=due)
    _enqueue(func, job_id, due, delay, *args)


def _enqueue(func: Any, job_id: int, due: datetime, delay: float, *args: Any) -> None:
    if delay == 0:
        # Straight onto the queue: work due now must not depend on RQ's scheduler, which
        # may be the thing that died (its lock outlives a killed worker by a minute).
        _queue().enqueue(func, job_id, *args, job_id=rq_id(job_id, due))
    else:
        # RQ keeps a scheduled time in whole seconds, rounded down, so work due at 12.7 s
        # could run at 12.0 s: before a 429's slow-down ends (the card's countdown then
        # says "next in 0 s" and starts again), or before APIXO's first-poll advice. Rounded
        # up, it never runs early; how late it runs, the learnt reads allow for (estimates).
        at = due.replace(microsecond=0) + timedelta(seconds=1 if due.microsecond else 0)
        _queue().enqueue_at(at, func, job_id, *args, job_id=rq_id(job_id, due))


def rq_id(job_id: int, due: datetime | None) -> str:
    """The RQ id of a job's next piece of work, due at `due` (its next_check_at): one id
    per schedule() call, which the database row names."""
    stamp = 0 if due is None else round(due.timestamp() * 1_000_000)
    return f"upscaler-job-{job_id}-{stamp}"


# RQ statuses of an entry that will still run (a started one on a dead worker is
# _reclaim_dead_claims' business; an overdue scheduled one is moved by _missing).
COMING = ("queued", "scheduled", "started", "deferred")


def _superseded(job: Job, func: Any) -> bool:
    """Whether the RQ job running func for this job is a stale copy: a later schedule() of
    this job's work (a reconciler's resend, a callback's confirmation) is in the queue and
    will do the same. Such a copy returns at once, so one job's polls never run in two
    chains. When the later entry isn't there (Redis lost it), this copy goes on."""
    from rq import get_current_job
    from rq.job import Job as RQJob

    current = get_current_job()
    if current is None or current.func_name != f"{__name__}.{func.__name__}":
        return False
    expected = rq_id(job.pk, job.next_check_at)
    if current.id == expected or not current.id.startswith(f"upscaler-job-{job.pk}-"):
        return False
    try:
        later = RQJob.fetch_many([expected], connection=current.connection)[0]
        return later is not None and later.get_status(refresh=False) in COMING
    except (redis.ConnectionError, redis.TimeoutError):
        return False


def backoff(attempt: int) -> float:
    """Seconds to wait before retry number `attempt` (1, 2, ...): exponential, with jitter.

    The jitter spreads a crowd of jobs that all hit a 429 at once, so they don't come back
    at once.
    """
    ceiling = min(settings.APIXO_BACKOFF_MAX, settings.APIXO_BACKOFF_BASE * 2 ** (attempt - 1))
    return float(ceiling * random.uniform(0.5, 1.0))


def poll_interval(job: Job) -> float:
    """Seconds until the job's next status read: the safety net in callback mode, else
    when what this site learnt of the tier says the task is likely done (jobs.estimates)."""
    if job.via_callback:
        return settings.APIXO_SAFETY_POLL  # the callback is the fast path; this is the net
    sent = job.submitted_at or timezone.now()
    since = (timezone.now() - sent).total_seconds()
    return estimates.next_read(job.resolution, since, job.poll_count)


def wait(job: Job, func: Any, delay: float, reason: str) -> None:
    """Run func(job) in `delay` s, and show on the queued job's card what it waits for and
    until when: one UPDATE with `updated`, so open galleries redraw the card.

    Scheduled first, so the card never shows an older next_check_at than the queue has. A
    job already waiting for a slot isn't touched again (it looks every second or two).
    """
    schedule(func, job.pk, delay)
    if reason == Job.Wait.SLOT and job.wait_reason == reason:
        return
    now = timezone.now()
    fields = {"wait_reason": reason, "updated": now}
    if Job.objects.filter(pk=job.pk, state=S.QUEUED).update(**fields):
        job.wait_reason = reason
        versions.bump(job)


def _wait_reason(e: apixo.UpscalerError) -> str:
    if e.rate_limited:
        return Job.Wait.BUSY
    return Job.Wait.UNREACHABLE if e.status is None else Job.Wait.ERROR


def _retry_later(job: Job, delay: float, reason: str) -> None:
    """A submit APIXO did not take: back to queued, saying why and when the next try is."""
    until = timezone.now() + timedelta(seconds=max(0.0, delay))
    if job.move((S.SUBMITTING,), S.QUEUED, wait_reason=reason, next_check_at=until):
        schedule(submit_job, job.pk, delay)


# --- callback mode -----------------------------------------------------------------------


def use_callbacks() -> bool:
    """Whether to ask APIXO to post results to us (APIXO_CALLBACKS: auto, on, off)."""
    if settings.APIXO_CALLBACKS == "auto":
        return site_is_public()
    return bool(settings.APIXO_CALLBACKS == "on")


def callback_url(job: Job) -> str:
    return settings.SITE_URL + reverse("apixo_webhook", args=[job.callback_secret])


# --- signed source URLs ------------------------------------------------------------------


def source_token(job: Job) -> str:
    return signing.sign(str(job.code), SOURCE_SALT)


def signed_source_url(job: Job) -> str:
    """A URL that needs no login and expires, from which APIXO fetches an uploaded source."""
    return settings.SITE_URL + reverse("source_signed", args=[source_token(job)])


def job_code_from_token(token: str) -> str | None:
    code = signing.unsign(token, SOURCE_SALT, settings.SOURCE_URL_MAX_AGE)
    return None if code is None else str(code)


# --- the pipeline ------------------------------------------------------------------------


def start_job(job_id: int) -> None:
    """Download and check a URL source (uploads were checked on upload), then submit."""
    job = Job.objects.filter(pk=job_id).first()
    if job is None or job.state != S.QUEUED or _superseded(job, start_job):
        return
    if job.source_url and not job.source_file and not _fetch_source(job):
        return
    if not job.source_url and job.source_file and not _upload_decodes(job):
        return
    if _reused(job):
        return
    if _skipped(job):
        return
    submit_job(job_id)


def _skipped(job: Job) -> bool:
    """Cancel the job, before any charge, if its submitter asked to skip sources that the
    tier won't enlarge and this one (an upload, or the link just fetched) is one of them."""
    if not job.skip_small:
        return False
    job.refresh_from_db(fields=["source_width", "source_height"])
    if not job.wont_enlarge:
        return False
    edge = max(job.source_width or 0, job.source_height or 0)
    reason = (
        f"Skipped, as you asked: the source is already {edge} px on its long edge, and "
        f"{job.resolution} ({job.long_edge} px) would not enlarge it. Nothing was charged."
    )
    if job.cancel(reason=reason):
        _batch_progress(job)
    return True


def _upload_decodes(job: Job) -> bool:
    """Decode an upload whole, which its web request only checked cheaply (lib.images),
    converting a HEIC/AVIF phone photo to PNG on the way, and keep the preview the compare
    shows of a large source, made from that decode. Return False (and fail the job, no
    charge) if it is damaged."""
    name = job.source_file.name or ""
    if name.endswith((".heic", ".avif")):
        return _convert_phone_photo(job)
    fmt = name.rsplit(".", 1)[-1]
    preview = job.needs_source_preview  # (a retry shares its source's: no other is made)
    if fmt == "jpg" and not preview:
        return True  # a JPEG's request decoded all of its data already (at 1/8 scale)
    try:
        with job.source_file.open("rb") as f:
            made = decode_source(f, fmt, preview=preview)
    except ImageRejected as e:
        job.fail((S.QUEUED,), "SourceInvalid", e.message)
        return False
    if made is not None:
        kept = _save_source_preview(job, made)
        updated = Job.objects.filter(pk=job.pk, state=S.QUEUED, source_preview="").update(
            source_preview=kept
        )
        if not updated:  # canceled meanwhile, or made by a second delivery of this step
            default_storage.delete(kept)
    return True


def _save_source_preview(job: Job, preview: bytes | None) -> str:
    """Store a source's preview; return its name ("" for none)."""
    if preview is None:
        return ""
    return default_storage.save(preview_path(job, "s.webp"), ContentFile(preview))


def _convert_phone_photo(job: Job) -> bool:
    """Replace a stored HEIC/AVIF upload with its PNG (APIXO takes JPG, PNG and WebP), and
    keep its preview for the compare. Return False (and fail the job, no charge) if it
    doesn't decode or the PNG is too big."""
    original = job.source_file.name or ""
    try:
        with job.source_file.open("rb") as f:
            converted = convert_phone_photo(f)
        if converted is None:
            raise ImageRejected("This is not a HEIC or AVIF photo.")
        if len(converted.png) > settings.UPLOAD_MAX_BYTES:
            raise ImageRejected(
                f"As a PNG this photo is larger than "
                f"{settings.UPLOAD_MAX_BYTES / (1024 * 1024):g} MB. Export it as JPEG "
                "and upload that."
            )
    except ImageRejected as e:
        job.fail((S.QUEUED,), "SourceInvalid", e.message)
        return False
    png = converted.png
    name = default_storage.save(source_path(job, "x.png"), ContentFile(png))
    preview = _save_source_preview(job, converted.preview)
    updated = Job.objects.filter(pk=job.pk, state=S.QUEUED, source_file=original).update(
        source_file=name,
        source_preview=preview,
        # Upright: the conversion applied the orientation.
        source_width=converted.width,
        source_height=converted.height,
        source_bytes=len(png),
    )
    if not updated:  # canceled meanwhile, or converted by a second delivery of this step
        default_storage.delete(name)
        if preview:
            default_storage.delete(preview)
        return False
    job.source_file.name = name
    job.source_preview.name = preview
    # Another job may share the original (a reused copy keeps the same stored bytes).
    if not Job.objects.filter(source_file=original).exists():
        default_storage.delete(original)
    return True


def _reused(job: Job) -> bool:
    """Finish the job as a free copy of a result its gallery already paid for, if any."""
    job.refresh_from_db(fields=["source_sha256"])
    if job.force_new or not job.source_sha256:
        return False
    original = dedupe.find_result(
        job.user, job.team, job.source_sha256, job.resolution, job.output_format, job.strip_gps
    )
    if original is None or original.pk == job.pk:
        return False
    if dedupe.reuse_queued(job, original):
        _batch_progress(job)
    return True


def _fetch_source(job: Job) -> bool:
    """Keep a copy of a URL source. Return False (and fail the job, no charge) if bad."""
    with tempfile.TemporaryFile() as tmp:
        try:
            got = fetch.download(job.source_url, tmp, max_bytes=settings.UPLOAD_MAX_BYTES)
            info = inspect_image(tmp, got.size)
            wanted = source_needs_preview(info.width, info.height, got.size)
            made = decode_source(tmp, info.format, preview=wanted)
        except fetch.FetchError as e:
            # The card says "try n of APIXO_SUBMIT_ATTEMPTS": that many fetches in all.
            if not e.permanent and job.submit_attempts + 1 < settings.APIXO_SUBMIT_ATTEMPTS:
                Job.objects.filter(pk=job.pk).update(submit_attempts=F("submit_attempts") + 1)
                job.submit_attempts += 1
                wait(job, start_job, backoff(job.submit_attempts), Job.Wait.SOURCE)
                return False
            job.fail((S.QUEUED,), "SourceUnavailable", e.message)
            return False
        except ImageRejected as e:
            job.fail((S.QUEUED,), "SourceInvalid", e.message)
            return False
        sha256 = dedupe.sha256_of(tmp)
        name = default_storage.save(source_path(job, f"x.{info.format}"), File(tmp))
    preview = _save_source_preview(job, made)
    updated = Job.objects.filter(pk=job.pk, state=S.QUEUED).update(
        source_sha256=sha256,
        source_file=name,
        source_preview=preview,
        source_width=info.width,
        source_height=info.height,
        source_bytes=got.size,
        # The card shows the source's size now, before any charge: "won't enlarge it".
        updated=timezone.now(),
    )
    if not updated:  # canceled meanwhile
        for stored in (name, preview):
            if stored:
                default_storage.delete(stored)
        return False
    versions.bump(job)
    return True


def submit_job(job_id: int) -> None:
    """Claim a queued job and submit it to APIXO; on acceptance charge it and start polling.

    Waits (reschedules itself) while the circuit breaker or a 429 slow-down is on, or while
    all in-flight submission slots are taken.
    """
    job = Job.objects.select_related("budget").filter(pk=job_id).first()
    if job is None or job.state != S.QUEUED:
        return
    held = throttle.wait_seconds()
    if held > 0:
        reason = Job.Wait.PAUSED if throttle.breaker() else Job.Wait.BUSY
        wait(job, submit_job, held + random.uniform(0, min(held, 10)), reason)
        return
    slot = throttle.acquire_slot()
    if slot is None:
        wait(job, submit_job, random.uniform(0.5, 2.0), Job.Wait.SLOT)
        return
    try:
        _submit(job)
    finally:
        throttle.release_slot(slot)


def _submit(job: Job) -> None:
    attempt = job.submit_attempts + 1
    if not job.move((S.QUEUED,), S.SUBMITTING, submit_attempts=attempt, wait_reason=""):
        return  # canceled, or another worker claimed it
    image_url = job.source_url or signed_source_url(job)
    callback = callback_url(job) if use_callbacks() else ""
    try:
        task_id = apixo.submit_task(image_url, job.resolution, job.output_format, callback)
    except apixo.UpscalerError as e:
        _submit_failed(job, e, attempt)
        return
    if charge(job, task_id, via_callback=bool(callback)):
        schedule(poll_job, job.pk, poll_interval(job))


def charge(job: Job, task_id: str, via_callback: bool = False) -> bool:
    """Record APIXO's taskId and charge the job once (Job.accept); if this call charged,
    check the budget's spend alerts on commit. Return True if this call charged."""
    if not job.accept(task_id, via_callback=via_callback):
        return False
    # robust: a failing alert email is logged; it must not fail the charged job.
    transaction.on_commit(partial(alerts.check_budget, job.budget_id), robust=True)
    return True


def _submit_failed(job: Job, e: apixo.UpscalerError, attempt: int) -> None:
    if e.maybe_accepted:
        # APIXO may have accepted (and billed) the task, but we have no task ID to follow
        # it. Send it again: the user is charged once (when a taskId comes back), and the
        # possible first charge is the operator's, on the ledger (OperatorCost).
        logger.warning("Job %s: submit outcome unknown: %s", job.code, e.message)
        resend_unknown(job, e.message, backoff(attempt))
        return
    if e.status in BREAKER_STATUSES:
        throttle.open_breaker(e.status, e.message)
    if e.permanent:
        job.fail((S.SUBMITTING,), e.code, e.message)
    elif e.rate_limited:
        # APIXO is busy, not broken: wait it out, all workers together. A 429 never fails a
        # job by itself; only the overall deadline does.
        delay = backoff(attempt)
        throttle.slow_down(delay)
        if _past_deadline(job):
            job.fail((S.SUBMITTING,), "RateLimited", e.message)
        else:
            _retry_later(job, delay, Job.Wait.BUSY)
    elif attempt >= settings.APIXO_SUBMIT_ATTEMPTS:
        job.fail((S.SUBMITTING,), e.code, e.message)
    else:
        _retry_later(job, backoff(attempt), _wait_reason(e))


def resend_unknown(job: Job, reason: str, delay: float = 0.0) -> bool:
    """Settle a submit whose outcome is unknown (Job.resend_unknown_submit) and, if it went
    back to the queue, send it again after delay s. Return True if this call settled it."""
    moved = job.resend_unknown_submit(reason)
    if moved == S.QUEUED:
        logger.warning("Job %s: sending it again; a possible second charge is ours", job.code)
        schedule(submit_job, job.pk, delay)
    elif moved == S.NEEDS_ATTENTION:
        logger.error("Job %s: outcome unknown too often; an admin decides", job.code)
    return bool(moved)


def _past_deadline(job: Job) -> bool:
    start = job.submitted_at or job.created
    return timezone.now() - start > timedelta(seconds=settings.APIXO_DEADLINE)


def poll_job(job_id: int, errors: int = 0) -> None:
    """Read the task's status and act on it; reschedule itself until the task is done.

    errors counts consecutive failed status reads, for the backoff.
    """
    job = Job.objects.select_related("budget").filter(pk=job_id).first()
    if job is None or job.state not in (S.PENDING, S.PROCESSING) or _superseded(job, poll_job):
        return
    if _past_deadline(job):
        job.fail(
            (S.PENDING, S.PROCESSING),
            "Timeout",
            f"No result after {settings.APIXO_DEADLINE // 60} minutes.",
        )
        return
    Job.objects.filter(pk=job.pk).update(poll_count=F("poll_count") + 1)
    job.poll_count += 1  # the schedule of the next read counts this one
    if not job.via_callback and job.next_check_at:
        estimates.note_lateness((timezone.now() - job.next_check_at).total_seconds())
    try:
        status = apixo.get_task(job.task_id)
    except apixo.UpscalerError as e:
        if e.status in BREAKER_STATUSES:
            # The task exists and is paid for; once the key works again we can fetch it.
            throttle.open_breaker(e.status, e.message)
            schedule(poll_job, job.pk, settings.APIXO_BREAKER_SECONDS, errors + 1)
        elif e.permanent:
            job.fail((S.PENDING, S.PROCESSING), e.code, e.message)
        else:
            if e.rate_limited:
                throttle.slow_down(backoff(errors + 1))
            schedule(poll_job, job.pk, backoff(errors + 1), errors + 1)
        return
    apply_status(job, status)


def apply_status(job: Job, status: apixo.TaskStatus) -> None:
    """Move the job to match APIXO's status, finishing it on success or failure."""
    times = {
        "apixo_create_time": status.create_time,
        "apixo_complete_time": status.complete_time,
        "apixo_cost_time": status.cost_time,
    }
    if status.state == "failed":
        if job.fail((S.PENDING, S.PROCESSING), status.fail_code, status.fail_msg):
            _batch_progress(job)
        Job.objects.filter(pk=job.pk).update(**times)
    elif status.state == "success":
        finish_job(job, status.result_urls[0], times, made_by(status.model))
    else:
        if status.state == "processing" and job.state == S.PENDING:
            job.move((S.PENDING,), S.PROCESSING)
        schedule(poll_job, job.pk, poll_interval(job))


def made_by(model: str) -> str:
    """What to tell the user made a result: APIXO, or the embedded engine and its model."""
    if not settings.USING_ENGINE:
        return "APIXO"
    if not model or model == "lanczos":
        return "Embedded engine: Lanczos resize (no model)"
    return f"Embedded engine: {model}"


def finish_job(job: Job, url: str, times: dict[str, int | None], maker: str = "") -> None:
    """Download the result (streamed to disk), make its thumbnail and preview, and mark the
    job done."""
    with (
        tempfile.NamedTemporaryFile(dir=_tmp_dir(), suffix="." + job.output_format) as tmp,
        tempfile.NamedTemporaryFile(dir=_tmp_dir(), suffix="." + job.output_format) as kept,
    ):
        try:
            got = fetch.download(url, tmp, max_bytes=settings.RESULT_MAX_BYTES)
            tmp.flush()
            metadata_kept = _keep_metadata(job, tmp.name, kept)
            size = got.size
            if metadata_kept or kept.tell():
                tmp, size = kept, kept.tell()  # the result with the source's metadata
            made = make_renditions(tmp.name)
        except fetch.FetchError as e:
            if e.permanent:
                job.fail((S.PENDING, S.PROCESSING), "ResultUnavailable", e.message)
            else:
                schedule(poll_job, job.pk, poll_interval(job))
            return
        except (OSError, ValueError) as e:
            logger.warning("Job %s: result is not a readable image: %s", job.code, e)
            job.fail(
                (S.PENDING, S.PROCESSING),
                "ResultUnavailable",
                "The result is not a readable image.",
            )
            return
        tmp.seek(0)
        result_name = default_storage.save(result_path(job, tmp.name), File(tmp))
    thumb_name = default_storage.save(thumb_path(job, "t.webp"), ContentFile(made.thumbnail))
    preview_name = default_storage.save(preview_path(job, "p.webp"), ContentFile(made.preview))
    moved = job.move(
        (S.PENDING, S.PROCESSING),
        S.SUCCESS,
        result_file=result_name,
        thumbnail=thumb_name,
        preview=preview_name,
        result_width=made.width,
        result_height=made.height,
        result_bytes=size,
        metadata_kept=metadata_kept,
        made_by=maker,
        **times,
    )
    if not moved:  # a concurrent poll or webhook finished it first
        default_storage.delete(result_name)
        default_storage.delete(thumb_name)
        default_storage.delete(preview_name)
    else:
        _batch_progress(job)
        estimates.learnt_from(job.resolution)


def want_preview(job: Job) -> None:
    """Have the worker make the preview of a job that finished before previews existed.

    Called when a page asks for the missing preview (and gets the full result meanwhile).
    At most one request per job every 10 minutes reaches the queue; if Redis is down, the
    next visit asks again.
    """
    if not job.preview and job.result_file:
        _enqueue_once(make_preview, job)


def _enqueue_once(func: Any, job: Job) -> None:
    """Enqueue func(job.pk), at most once per job every 10 minutes (pages ask on every
    visit); if Redis is down, the next visit asks again."""
    try:
        if cache.add(f"upscaler:{func.__name__}:{job.pk}", 1, timeout=600):
            _queue().enqueue(func, job.pk)
    except (redis.ConnectionError, redis.TimeoutError) as e:
        logger.warning("Job %s: %s not enqueued (%s)", job.code, func.__name__, e)


def make_preview(job_id: int) -> None:
    """Make the missing preview of a finished job's result (want_preview asked for it).

    The result is copied from storage to a temp file first (it may live in S3), then read
    as finish_job reads a fresh one. Reused copies of the job get the same preview.
    """
    job = Job.objects.filter(pk=job_id).first()
    if job is None or job.preview or not job.result_file:
        return
    with tempfile.NamedTemporaryFile(dir=_tmp_dir(), suffix="." + job.output_format) as tmp:
        try:
            _copy_local(job.result_file, tmp)
            made = make_renditions(tmp.name)
        except (OSError, ValueError) as e:
            logger.warning("Job %s: no preview: the result is not readable: %s", job.code, e)
            return
    name = default_storage.save(preview_path(job, "p.webp"), ContentFile(made.preview))
    # Every job that shares this result (the job it reuses, its reused copies) and has no
    # preview yet takes this one; an UPDATE, not save(): nothing a card shows has changed.
    updated = Job.objects.filter(result_file=job.result_file.name, preview="").update(preview=name)
    if not updated:  # another worker made one first
        default_storage.delete(name)


def _copy_local(field: Any, tmp: Any) -> None:
    """Copy a stored file (it may live in S3) into the local temp file tmp, flushed."""
    with field.open("rb") as src:
        while chunk := src.read(1 << 20):
            tmp.write(chunk)
    tmp.flush()


def want_source_preview(job: Job) -> None:
    """Have the worker make the preview of a large source stored before source previews
    existed (the page shows the full source meanwhile), as want_preview does for results."""
    if job.state == S.SUCCESS and job.needs_source_preview:
        _enqueue_once(make_source_preview, job)


def make_source_preview(job_id: int) -> None:
    """Make the missing preview of a finished job's large source (want_source_preview).
    Every job sharing that source (its retries, reused copies) takes the same file."""
    job = Job.objects.filter(pk=job_id).first()
    if job is None or not job.needs_source_preview:
        return
    name = job.source_file.name or ""
    fmt = name.rsplit(".", 1)[-1]
    with tempfile.NamedTemporaryFile(dir=_tmp_dir(), suffix="." + fmt) as tmp:
        try:
            _copy_local(job.source_file, tmp)
            made = decode_source(tmp, fmt, preview=True)
        except (OSError, ImageRejected) as e:
            logger.warning("Job %s: no source preview: the source is not readable: %s", job.code, e)
            return
    if made is None:
        return
    kept = _save_source_preview(job, made)
    updated = Job.objects.filter(source_file=name, source_preview="").update(source_preview=kept)
    if not updated:  # another worker made one first
        default_storage.delete(kept)


def _keep_metadata(job: Job, result_path: str, out: Any) -> bool:
    """Write the result with the source's EXIF/ICC/orientation to out (lib.metadata).

    Return True if metadata was kept. Metadata is a nicety: a source or result we can't
    parse leaves the result as APIXO made it (logged), never fails a paid job.
    """
    if not job.source_file:
        return False
    try:
        with job.source_file.open("rb") as source:
            kept = metadata.carry_over(source, result_path, out, job.strip_gps)
        out.flush()
        return kept
    except (metadata.MetadataError, OSError, ValueError, SyntaxError, struct.error) as e:
        logger.warning("Job %s: metadata not carried over: %s", job.code, e)
        out.seek(0)
        out.truncate()
        return False


def _batch_progress(job: Job) -> None:
    """A job finished: tell its batch (the "long batch finished" email)."""
    try:
        batch_finished(job.batch_id)
    except Exception:  # an email must never fail a finished job
        logger.exception("Job %s: batch notification failed", job.code)


def _tmp_dir() -> str:
    path = os.path.join(settings.MEDIA_ROOT, "tmp")
    os.makedirs(path, exist_ok=True)
    return path


# --- callback confirmations ------------------------------------------------------------


def confirm_callback(job_id: int) -> None:
    """A callback said the task finished: confirm with statusTask, never trust the body."""
    # Deliveries that arrive from now on deserve a confirmation of their own.
    cache.delete(confirm_key(job_id))
    poll_job(job_id)


def confirm_key(job_id: int) -> str:
    """While this cache key exists, a confirmation of the job's callback is already queued."""
    return f"apixo:confirm:{job_id}"
