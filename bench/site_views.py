"""Views that exist only for the benchmarks: the obvious alternatives to the app's own.

- bare_204: an authenticated Django view that does nothing (the floor for any poll).
- card_poll: per-card polling, the design the one-poll-per-gallery replaced: every card
  asks for itself. Without `since` it answers the card's HTML every time (the obvious
  `hx-get` + `hx-trigger="every 2s"` on each card); with `since` it answers 204 while the
  card is unchanged (the best a per-card design can do).
- gallery_naive: the gallery without pagination or select_related: every card at once.
"""

from __future__ import annotations

from django.core.cache import cache
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from jobs import access, views
from jobs.models import Job


@require_GET
def bare_204(request: HttpRequest) -> HttpResponse:
    return HttpResponse(status=204)


@require_GET
def card_poll(request: HttpRequest, code: str) -> HttpResponse:
    job, member = access.get_job_for_user(request.user, code)  # type: ignore[arg-type]
    since = request.GET.get("since")
    if since is not None and job.updated <= views._from_stamp(since):
        return HttpResponse(status=204)
    context = {"job": job, "can_submit": member is None or member.can_submit}
    response = render(request, "jobs/gallery.html#job-card", context)
    response["X-Since"] = views._stamp(job.updated)
    return response


@require_GET
def gallery_naive(request: HttpRequest) -> HttpResponse:
    """The app's gallery page with every card of the account at once and no select_related
    (the app's context otherwise, so the page stays the app's own as it evolves)."""
    member = access.current_membership(request)
    context = views._gallery_context(request, member)  # type: ignore[arg-type]
    if member is not None:
        jobs = Job.objects.filter(team_id=member.team_id)
    else:
        jobs = Job.objects.filter(user=request.user, team__isnull=True)
    cards = list(jobs.order_by("-created", "-id"))
    context.update(
        page=Paginator(cards, max(1, len(cards))).get_page(1),
        cards=cards,
        oldest=views._stamp(cards[-1].created) if cards else "0",
    )
    return render(request, "jobs/gallery.html", context)


def stamp_key(user_pk: int, team_code: str | None) -> str:
    return f"bench:gallery-stamp:{'team:' + team_code if team_code else user_pk}"


@require_GET
def poll_stamp(request: HttpRequest) -> HttpResponse:
    """The app's gallery poll behind a change stamp kept in the cache (a candidate design
    idle_poll measures): an unchanged gallery costs one cache read and no query. Only the
    read side: the app would set the stamp wherever a job's `updated` moves (Job.move);
    here the benchmark sets it. A non-member of the team gets 204s until something changes,
    then gallery_poll's own membership check answers 404: nothing leaks."""
    stamp = cache.get(stamp_key(request.user.pk, request.GET.get("team")))
    try:
        since = int(request.GET.get("since") or 0)
    except ValueError:
        since = 0
    if stamp is not None and stamp <= since:
        return HttpResponse(status=204)
    return views.gallery_poll(request)  # type: ignore[arg-type]
