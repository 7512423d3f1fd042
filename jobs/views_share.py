"""Share links: a public, read-only, expiring and revocable page for one finished image.

The share page and its files (source, result and their previews) are the only public views of
a job; everything else about it (its team, its submitter, its other links) stays behind login.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from jobs import access, tasks
from jobs.forms import ShareForm
from jobs.models import Job, ShareLink
from jobs.views import preview_fallback
from lib.http import AuthedRequest, image_response


def _active_link(token: str) -> ShareLink:
    """The link, if it still works; 404 once expired or revoked (as if it never existed)."""
    link = get_object_or_404(ShareLink.objects.select_related("job"), token=token)
    if not link.is_active:
        raise Http404("This link has expired or was revoked.")
    return link


@require_POST
def share_create(request: AuthedRequest, code: str) -> HttpResponse:
    job = access.get_rw_job_for_user(request.user, code)
    form = ShareForm(request.POST)
    if job.state != Job.State.SUCCESS or not job.result_file:
        messages.error(request, "Only a finished image can be shared.")
    elif form.is_valid():
        days = form.cleaned_data["days"]
        link = ShareLink.objects.create(
            job=job, created_by=request.user, expires=timezone.now() + timedelta(days=days)
        )
        url = settings.SITE_URL + link.get_absolute_url()
        messages.success(request, f"Anyone with this link can view and download it: {url}")
    return redirect(job)


@require_POST
def share_revoke(request: AuthedRequest, token: str) -> HttpResponse:
    link = get_object_or_404(ShareLink, token=token)
    job = access.get_rw_job_for_user(request.user, str(link.job.code))
    ShareLink.objects.filter(pk=link.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    messages.success(request, "The link no longer works.")
    return redirect(job)


@login_not_required
@require_GET
def share_page(request: HttpRequest, token: str) -> HttpResponse:
    link = _active_link(token)
    tasks.want_source_preview(link.job)  # a job from before source previews: the next visit's
    response = render(request, "jobs/share.html", {"link": link, "job": link.job})
    _private(response)
    return response


@login_not_required
@require_GET
def share_file(request: HttpRequest, token: str, kind: str) -> HttpResponseBase:
    job = _active_link(token).job
    if kind == "preview" and not job.preview and job.result_file:
        fallback = preview_fallback(job, reverse("share_result", args=[token]))
        _private(fallback)
        return fallback
    field, name = job.stored(kind)  # kind: the URL's, never "thumb"
    if not field:
        raise Http404("No such file.")
    download = kind == "result" and "download" in request.GET
    response = image_response(field, name, download=download)
    _private(response)
    return response


def _private(response: HttpResponseBase) -> None:
    # The token is the only key: keep it out of Referer headers, search engines and
    # shared caches (a revoked link must stop working at once).
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Cache-Control"] = "private, no-store"
