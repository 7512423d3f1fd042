"""The gallery, its live poll, a job's page and its files, and the job buttons (cancel, retry).

Object access goes through jobs.access (404 for others' jobs); what a job does lives on the
model and in jobs.submit and jobs.tasks."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRefresh, trigger_client_event

from jobs import access, batches, estimates, tasks, throttle, versions
from jobs.alerts import banner
from jobs.filters import GalleryFilter
from jobs.forms import SubmitForm, browser_limits
from jobs.models import (
    Batch,
    Job,
    Membership,
    SubmitDefaults,
    for_cards,
    latest_change,
)
from jobs.stamps import from_stamp, stamp
from jobs.submit import QuotaExceeded, quota_message, retry, submit_batch
from jobs.tasks import job_code_from_token
from lib.http import AuthedRequest, image_response, safe_next
from lib.money import cents

PAGE_SIZE = 24


# --- access: one helper per object -------------------------------------------------------


# The rules live in jobs.access; these name them for this module's views.


def _gallery_jobs(request: AuthedRequest, member: Membership | None) -> QuerySet[Job]:
    return access.gallery_jobs(request.user, member)


def _get_job_for_user(request: AuthedRequest, code: str) -> Job:
    """The job, if this user may see it; 404 otherwise (never 403: don't confirm it exists)."""
    return access.get_job_for_user(request.user, code)[0]


def _get_rw_job_for_user(request: AuthedRequest, code: str) -> Job:
    """The job, if this user may change it: 403 for a team's viewers, 404 for outsiders."""
    return access.get_rw_job_for_user(request.user, code)


def _submit_context(request: AuthedRequest) -> Membership | None:
    """The team a submission goes to: the one the form was rendered for (a hidden field), so
    switching context in another tab can't redirect it. 403 for viewers."""
    code = request.POST.get("team")
    if not code:
        return None
    member = access.get_team_for_user(request.user, code)
    if not member.can_submit:
        raise PermissionDenied("Viewers can't submit images to the team.")
    return member


def _context_vars(request: AuthedRequest, member: Membership | None) -> dict[str, Any]:
    """What every gallery fragment needs to know about its context (Personal or a team)."""
    team = member.team if member else None
    budget = access.budget_for(request.user, member)
    return {
        "member": member,
        "team": team,
        "budget": budget,
        "can_submit": member is None or member.can_submit,
        # Users see their own quota's alerts; in a team, its owners and admins do.
        "spend_banner": banner(budget, team) if member is None or member.can_manage else "",
        # Read once per page, not per card: what cards in flight say is left.
        "estimates": estimates.table(),
    }


def gallery_context(
    request: AuthedRequest, member: Membership | None, form: SubmitForm | None = None
) -> dict[str, Any]:
    team = member.team if member else None
    code = team.code if team else None
    version = versions.current(request.user.pk, code)  # before any query
    removed = versions.removed_at(request.user.pk, code)
    scope = _gallery_jobs(request, member)
    filters = GalleryFilter(request.GET, team)
    jobs = filters.apply(scope)
    ordered = for_cards(jobs).order_by("-created", "-id")
    page = Paginator(ordered, PAGE_SIZE).get_page(request.GET.get("page"))
    cards = list(page.object_list)
    if filters.active:
        # A filtered page is redrawn whenever anything in the gallery changes (a job can
        # enter or leave the filter), so it follows the whole gallery's stamp.
        since = stamp(latest_change(scope))
        live = page.number == 1 and scope.filter(state__in=Job.IN_FLIGHT).exists()
    else:
        since = stamp(max((c.updated for c in cards), default=None))
        # Only the first page follows live changes; older pages rarely hold work in flight.
        live = page.number == 1 and any(c.in_flight for c in cards)
    if form is None:  # a fresh form starts from the settings last used in this context
        form = SubmitForm(initial=SubmitDefaults.for_context(request.user, team))
    return {
        **_context_vars(request, member),
        "form": form,
        "presets": list(request.user.submit_presets.all()),
        "limits": browser_limits(),
        "page": page,
        "cards": cards,
        "live": live,
        "since": since,
        "oldest": stamp(cards[-1].created) if cards else "0",
        "filters": filters,
        "filter_query": filters.query(),
        "batches": batches.recent_batches(scope),
        "v": version,
        "removed": removed,
        "samples": _samples(),
    }


def _samples() -> list[dict[str, str]]:
    """The embedded engine's sample images, to try the app with (none with a real APIXO
    key). At ENGINE_URL, which FETCH_ALLOWED_HOSTS lets the worker fetch from."""
    if not settings.USING_ENGINE:
        return []
    names = ("landscape.jpg", "logo.png")
    return [{"name": name, "url": f"{settings.ENGINE_URL}/samples/{name}"} for name in names]


# --- pages --------------------------------------------------------------------------------


@require_GET
def gallery(request: AuthedRequest) -> HttpResponse:
    member = access.current_membership(request)
    return render(request, "jobs/gallery.html", gallery_context(request, member))


@require_POST
def submit(request: AuthedRequest) -> HttpResponse:
    member = _submit_context(request)
    form = SubmitForm(
        request.POST,
        request.FILES,
        oversized=getattr(request, "oversized_uploads", []),
        files_sent=getattr(request, "files_sent", 0),
    )
    if not throttle.within_submit_rate(request.user.pk):
        form.add_error(None, "You are submitting very fast. Wait a minute, then send again.")
        status = 429
    elif not tasks.queue_is_up():
        form.add_error(None, tasks.QUEUE_DOWN)
        status = 503
    elif form.is_valid() and _submit_form(request, form, member):
        if not request.htmx:
            return redirect("gallery")
        # A fresh form (a new idempotency key) that keeps the tier and format just used.
        keep = {k: form.cleaned_data[k] for k in SubmitDefaults.FIELDS}
        form, status = SubmitForm(initial=keep), 200
    else:
        status = 400
    context = gallery_context(request, member, form)
    if not request.htmx:
        return render(request, "jobs/gallery.html", context, status=status)
    context["oob_spend"] = True
    return render(request, "jobs/gallery.html#workspace", context, status=status)


def _submit_form(request: AuthedRequest, form: SubmitForm, member: Membership | None) -> bool:
    """Create the form's jobs. Return False (with the error on the form) if over quota."""
    data = form.cleaned_data
    n = len(data["sources"])
    team = member.team if member else None
    try:
        batch, created = submit_batch(
            request.user,
            access.budget_for(request.user, member),
            data["key"],
            data["sources"],
            data["resolution"],
            data["output_format"],
            team=team,
            strip_gps=data["strip_gps"],
            force_new=data["force_new"],
            notify=data["notify"],
            skip_small=data["skip_small"],
        )
    except QuotaExceeded as e:
        form.add_error(None, quota_message(n, e, team))
        return False
    except Batch.DoesNotExist:  # the key belongs to somebody else's batch
        form.add_error(None, "This form was already used. Nothing was submitted: send again.")
        # A fresh key in the form shown again, so sending it again works.
        fresh = request.POST.copy()
        fresh["key"] = str(uuid.uuid4())
        form.data = fresh
        return False
    # The next form here (and an API request that leaves them out) starts from these.
    SubmitDefaults.remember(request.user, team, data)
    if created:  # a repeated post of the same form is already in the gallery
        reused = batch.jobs.filter(reused_from__isnull=False).count()
        paid = n - reused
        price = cents(paid * settings.PRICE_CENTS)
        if paid:
            messages.success(
                request, f"Submitted {paid} image{'s' if paid != 1 else ''} ({price})."
            )
        if reused:
            messages.success(request, _reused_message(reused))
        if paid and (pause := throttle.breaker()):
            messages.warning(request, _paused_message(pause))
        for warning in form.warnings():
            messages.warning(request, warning)
    return True


def _paused_message(pause: dict[str, Any]) -> str:
    until = datetime.fromtimestamp(float(pause["until"]), tz=UTC)
    return (
        f"Submissions to APIXO are paused until about {until:%H:%M} UTC: it is refusing "
        "them for now. Your images wait in the queue and are sent automatically then; "
        "nothing is charged before APIXO accepts them."
    )


def _reused_message(n: int) -> str:
    return (
        f"{n} image{'s were' if n != 1 else ' was'} already upscaled the same way: reused at "
        'once, no charge. Tick "Upscale again even if I already have this" to run '
        f"{'them' if n != 1 else 'it'} anew."
    )


@login_not_required  # checked below, after the fast path
@require_GET
def gallery_poll(request: AuthedRequest) -> HttpResponse:
    """One poll for the whole gallery: 204 if nothing changed since the client's version,
    else the changed cards as out-of-band swaps (new ones prepended)."""
    code = request.GET.get("team")
    try:  # a team code is a UUID; anything else is no gallery, and no cache key either
        code = str(uuid.UUID(code)) if code else None
    except ValueError:
        raise Http404 from None
    # The user's id from the (cached) session: an unchanged gallery costs no query at all,
    # not even the user's row (jobs/versions.py says why that is safe).
    user_id = request.session.get(SESSION_KEY)
    # Before any query; never creating a counter, as `code` is unchecked yet.
    version = versions.current(user_id, code, create=False) if user_id else ""
    # The pause banner is news too: a pause that began or ended takes the long way.
    paused = throttle.pause_stamp(throttle.breaker()) if user_id else ""
    if versions.unchanged(request.GET.get("v"), version) and request.GET.get("p", "") == paused:
        return HttpResponse(status=204)  # the whole gallery is as the client saw it
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    removed = versions.removed_at(user_id, code)  # also before any query
    since = from_stamp(request.GET.get("since"))
    only = request.GET.get("job")
    member = access.get_team_for_user(request.user, code) if code else None
    if not version:  # a gallery the user may see, still before any query of its jobs
        version = versions.current(user_id, member.team.code if member else None)
    jobs = _gallery_jobs(request, member)
    if only:
        jobs = jobs.filter(code=only)
    filters = GalleryFilter(request.GET, member.team if member else None)
    gone = removed > _int(request.GET.get("r"))  # cards deleted since the page last looked
    if (filters.active or gone) and not only:
        return _redrawn_poll(request, member, jobs, filters, since, version, removed, gone)
    changed = list(for_cards(jobs.filter(updated__gt=since)).order_by("created", "id")[:PAGE_SIZE])
    if only and changed and not changed[0].in_flight:
        return HttpResponseClientRefresh()  # the job page shows the full result
    oldest = from_stamp(request.GET.get("oldest"))
    poller = {
        "team": member.team if member else None,
        "live": jobs.filter(state__in=Job.IN_FLIGHT).exists(),
        "since": stamp(max((j.updated for j in changed), default=since)),
        "oldest": stamp(oldest),
        "only": only or "",
        "v": version,
        "removed": removed,
    }
    if not changed:
        return _quiet_poll(request, poller)
    context = {
        **_context_vars(request, member),
        **poller,
        "batches": None if only else batches.recent_batches(jobs),
        "no_select": bool(only),
        "new_cards": [j for j in changed if j.created > since and not only],
        "changed_cards": [j for j in changed if j.created <= since and j.created >= oldest],
    }
    return render(request, "jobs/gallery_poll.html", context)


def _quiet_poll(request: AuthedRequest, poller: dict[str, Any]) -> HttpResponse:
    """Something else in the gallery changed, nothing this view shows (another job, for the
    job page): just the poller, carrying the new version so the next poll is free again."""
    return render(request, "jobs/gallery.html#poller", {**poller, "oob": True})


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


def _redrawn_poll(
    request: AuthedRequest,
    member: Membership | None,
    scope: QuerySet[Job],
    filters: GalleryFilter,
    since: datetime,
    version: str,
    removed: int,
    gone: bool,
) -> HttpResponse:
    """The first page redrawn whole, where patching the cards can't do: in a filtered
    gallery when anything in it changed (a changed job may have entered or left the filter,
    and only the server knows which cards the page shows), and after cards were deleted
    (`gone`: a poll sends changed rows, and a deleted job has none)."""
    latest = latest_change(scope)
    poller = {
        "team": member.team if member else None,
        "live": scope.filter(state__in=Job.IN_FLIGHT).exists(),
        "since": stamp(latest),
        "oldest": stamp(from_stamp(request.GET.get("oldest"))),
        "filter_query": filters.query(),
        "v": version,
        "removed": removed,
    }
    if not gone and (latest is None or latest <= since):
        return _quiet_poll(request, poller)
    cards = list(for_cards(filters.apply(scope)).order_by("-created", "-id")[:PAGE_SIZE])
    context = {
        **_context_vars(request, member),
        **poller,
        "grid_cards": cards,
        "batches": batches.recent_batches(scope),
        "oldest": stamp(cards[-1].created) if cards else "0",
    }
    return render(request, "jobs/gallery_poll.html", context)


def same_source(job: Job, visible: QuerySet[Job]) -> list[Job]:
    """The finished results of the same source in the same gallery (the tiers compared side
    by side): same source link, or same source bytes. One per tier and format: this job
    for its own, else the newest; a reused copy or a second run adds no entry."""
    match = Q(source_sha256=job.source_sha256) if job.source_sha256 else Q(pk__in=[])
    if job.source_url:
        match |= Q(source_url=job.source_url)
    found = (
        visible.filter(match, state=Job.State.SUCCESS)
        .exclude(result_file="")
        .order_by("resolution", "output_format", "-created")
    )
    tiers: dict[tuple[str, str], Job] = {}
    for t in found:
        key = (t.resolution, t.output_format)
        if key not in tiers or t.pk == job.pk:
            tiers[key] = t
    return list(tiers.values())


@require_GET
def job_detail(request: AuthedRequest, code: str) -> HttpResponse:
    job, member = access.get_job_for_user(request.user, code)
    can_submit = member is None or member.can_submit
    tiers = same_source(job, _gallery_jobs(request, member))
    tasks.want_source_preview(job)  # a job from before source previews: the next visit's
    context = {
        "tiers": tiers if len(tiers) > 1 else [],
        "job": job,
        "team": job.team,
        "can_submit": can_submit,
        "share_links": job.share_links.filter(revoked_at__isnull=True, expires__gt=timezone.now())
        if can_submit
        else [],
        "live": job.in_flight,
        "since": stamp(job.updated),
        "estimates": estimates.table() if job.in_flight else None,
    }
    return render(request, "jobs/job_detail.html", context)


@require_POST
def job_cancel(request: AuthedRequest, code: str) -> HttpResponse:
    job = _get_rw_job_for_user(request, code)
    if not job.cancel():
        messages.error(request, "Too late to cancel: this image was already sent to APIXO.")
    return _back(request, job)


@require_POST
def job_retry(request: AuthedRequest, code: str) -> HttpResponse:
    job = _get_rw_job_for_user(request, code)
    if job.state not in (Job.State.FAILED, Job.State.CANCELED):
        messages.error(request, "Only a failed or canceled job can be retried.")
        return _back(request, job)
    try:
        new, created = retry(job, by=request.user)
    except QuotaExceeded as e:
        messages.error(request, quota_message(1, e, job.team))
        return _back(request, job)
    if created:
        price = cents(settings.PRICE_CENTS)
        messages.success(request, f"Retrying {job.source_name} as a new job ({price}).")
    else:  # a second click, or another tab: never a second new job (nor a second charge)
        messages.info(request, f"{job.source_name} was already retried: this is the new job.")
    # The failed card, now linking to its retry (the poll brings the new card); without
    # JavaScript, the new job's page.
    return _card(request, job) if request.htmx else _back(request, new)


def _back(request: AuthedRequest, job: Job) -> HttpResponse:
    """The card the button was on, redrawn in place (HTMX); without JavaScript, back to the
    page the button was on, if that is on this site, else to the job's page."""
    if request.htmx:
        return _card(request, job)
    target = safe_next(request, request.POST.get("next"), require_https=request.is_secure())
    return redirect(target or job.get_absolute_url())


def _card(request: AuthedRequest, job: Job) -> HttpResponse:
    """The job's card and the messages (out of band). The answer also asks the page's
    poller to look at once (static/js/app.js), for the rest of the change: a retry's new
    card, the spend, the batches; it does even where nothing was in flight."""
    card = for_cards(Job.objects.filter(pk=job.pk).select_related("user")).get()
    # Cancel and Retry are only shown, and only allowed, to those who may submit.
    context = {
        "job": card,
        "can_submit": True,
        "estimates": estimates.table() if card.in_flight else None,
    }
    response = render(request, "jobs/card_answer.html", context)
    return trigger_client_event(response, "jobs-changed")


@require_GET
def job_file(request: AuthedRequest, code: str, kind: str) -> HttpResponseBase:
    job = _get_job_for_user(request, code)
    if kind == "preview" and not job.preview and job.result_file:
        return preview_fallback(job, reverse("job_result", args=[job.code]))
    field, name = job.stored(kind)
    if not field:
        raise Http404("No such file yet.")
    download = kind == "result" and "download" in request.GET
    response = image_response(field, name, download=download)
    response["Cache-Control"] = "private, max-age=3600"
    return response


def preview_fallback(job: Job, result_url: str) -> HttpResponse:
    """A job finished before previews existed: send the browser to the full result this once
    (not cached, so the next visit gets the preview) and have the worker make the preview."""
    tasks.want_preview(job)
    response = HttpResponseRedirect(result_url)
    response["Cache-Control"] = "no-store"
    return response


@login_not_required
@require_GET
def source_signed(request: HttpRequest, token: str) -> HttpResponseBase:
    """An uploaded source, for APIXO to fetch: no login, but a signed, expiring token."""
    code = job_code_from_token(token)
    job = get_object_or_404(Job, code=code) if code else None
    if job is None or not job.source_file:
        raise Http404
    return image_response(job.source_file, job.source_name)
