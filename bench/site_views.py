"""Views that exist only for the benchmarks: the obvious alternatives to the app's own.

- bare_204: an authenticated Django view that does nothing (the floor for any poll).
- card_poll: per-card polling, the design the one-poll-per-gallery replaced: every card
  asks for itself. Without `since` it answers the card's HTML every time (the obvious
  `hx-get` + `hx-trigger="every 2s"` on each card); with `since` it answers 204 while the
  card is unchanged (the best a per-card design can do).
- gallery_naive: the gallery without pagination or select_related: every card at once.
- poll_exists: the idle poll answered by an EXISTS query instead of the change counter.
"""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from jobs import access, estimates, stamps, views
from jobs.models import Job


@require_GET
def bare_204(request: HttpRequest) -> HttpResponse:
    return HttpResponse(status=204)


@require_GET
def card_poll(request: HttpRequest, code: str) -> HttpResponse:
    job, member = access.get_job_for_user(request.user, code)  # type: ignore[arg-type]
    since = request.GET.get("since")
    if since is not None and job.updated <= stamps.from_stamp(since):
        return HttpResponse(status=204)
    # What the app's own card reads (its in-flight estimate), as the gallery's poll gives it.
    context = {
        "job": job,
        "can_submit": member is None or member.can_submit,
        "estimates": estimates.table(),
    }
    response = render(request, "jobs/gallery.html#job-card", context)
    response["X-Since"] = stamps.stamp(job.updated)
    return response


@require_GET
def gallery_naive(request: HttpRequest) -> HttpResponse:
    """The app's gallery page with every card of the account at once and no select_related
    (the app's context otherwise, so the page stays the app's own as it evolves)."""
    member = access.current_membership(request)
    context = views.gallery_context(request, member)  # type: ignore[arg-type]
    if member is not None:
        jobs = Job.objects.filter(team_id=member.team_id)
    else:
        jobs = Job.objects.filter(user=request.user, team__isnull=True)  # type: ignore[misc]
    cards = list(jobs.order_by("-created", "-id"))
    context.update(
        page=Paginator(cards, max(1, len(cards))).get_page(1),
        cards=cards,
        oldest=stamps.stamp(cards[-1].created) if cards else "0",
    )
    return render(request, "jobs/gallery.html", context)


@require_GET
def poll_exists(request: HttpRequest) -> HttpResponse:
    """The personal idle poll as it was before the gallery's change counter: an EXISTS query
    for the gallery's jobs changed since the client's stamp (what a live view usually does)."""
    since = stamps.from_stamp(request.GET.get("since"))
    if not access.gallery_jobs(request.user, None).filter(updated__gt=since).exists():  # type: ignore[arg-type]
        return HttpResponse(status=204)
    return views.gallery_poll(request)  # type: ignore[arg-type]
