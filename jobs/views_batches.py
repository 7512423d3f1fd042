"""Views for many images at once (a batch or a selection) and for a job's note."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import (
    Http404,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from jobs import access, batches, versions
from jobs.models import Job
from jobs.submit import QuotaExceeded, quota_message
from lib.http import AuthedRequest, safe_next
from lib.money import cents

MAX_SELECTION = 500


def _next(request: AuthedRequest) -> HttpResponseRedirect:
    """Back where the form was (the gallery with its filters), if that is on this site."""
    return redirect(
        safe_next(request, request.POST.get("next"), require_https=request.is_secure()) or "/"
    )


def _zip_response(jobs: list[Job], filename: str) -> StreamingHttpResponse:
    entries = batches.zip_names(jobs)
    if not entries:
        raise Http404("None of these images has a result to download.")
    response = StreamingHttpResponse(batches.stream_zip(entries), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


@require_GET
def batch_zip(request: AuthedRequest, code: str) -> StreamingHttpResponse:
    jobs = access.visible_jobs(request.user).filter(batch__code=code)
    return _zip_response(list(jobs.order_by("created", "id")), f"upscaled-{str(code)[:8]}.zip")


@require_POST
def batch_retry_failed(request: AuthedRequest, code: str) -> HttpResponse:
    jobs = access.visible_jobs(request.user, writable=True).filter(batch__code=code)
    _retry(request, jobs)
    return _next(request)


def _retry(request: AuthedRequest, jobs: QuerySet[Job]) -> None:
    try:
        new = batches.retry_failed(jobs, request.user)
    except QuotaExceeded as e:
        n = e.needed // settings.PRICE_CENTS
        messages.error(request, quota_message(n, e))
        return
    if not new:
        messages.info(request, "There was no failed image to retry.")
        return
    n = len(new)
    messages.success(
        request,
        f"Retrying {n} failed image{'s' if n != 1 else ''} as new jobs "
        f"({cents(n * settings.PRICE_CENTS)}).",
    )


@require_POST
def selection(request: AuthedRequest) -> HttpResponseBase:
    """Act on the images ticked in the gallery: download as a ZIP, delete, retry failed."""
    codes = request.POST.getlist("job")[:MAX_SELECTION]
    action = request.POST.get("action")
    try:
        jobs = access.visible_jobs(request.user, writable=action != "zip").filter(code__in=codes)
        picked = list(jobs.order_by("created", "id"))
    except ValidationError:  # a code that is not a UUID
        picked = []
    if not picked:
        messages.error(request, "Tick one or more images first.")
        return _next(request)
    if action == "zip":
        stamp = timezone.now().strftime("%Y%m%d-%H%M")
        return _zip_response(picked, f"upscaled-{stamp}.zip")
    if action == "delete":
        deleted, busy = batches.delete_jobs(jobs)
        text = f"Deleted {deleted} image{'s' if deleted != 1 else ''} and their files."
        if busy:
            text += f" {busy} still in progress {'were' if busy != 1 else 'was'} kept."
        messages.success(request, text + " Charges stay in the ledger.")
    elif action == "retry":
        _retry(request, jobs)
    else:
        messages.error(request, "Unknown action.")
    return _next(request)


@require_POST
def job_note(request: AuthedRequest, code: str) -> HttpResponse:
    """Set the job's note/tags (searchable in the gallery)."""
    job = access.get_rw_job_for_user(request.user, code)
    note = " ".join(request.POST.get("note", "").split())[:200]
    # `updated` moves too, so the card changes live in teammates' galleries.
    Job.objects.filter(pk=job.pk).update(note=note, updated=timezone.now())
    versions.bump(job)
    messages.success(request, "Note saved." if note else "Note removed.")
    return redirect(job.get_absolute_url())
