"""Who may see and change what: one helper per object, used by every view.

Someone else's job, file, team or invitation is a 404 (we don't confirm it exists); a team
member without the right to write gets 403 (PermissionDenied).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404

from jobs.models import Budget, Job, Membership, SubmitPreset

SESSION_KEY = "team"


def get_team_for_user(user: User, team_code: Any) -> Membership:
    """The user's membership of the team; 404 if they are not a member (or no such team)."""
    try:
        return get_object_or_404(
            Membership.objects.select_related("team", "team__budget"),
            team__code=team_code,
            user=user,
        )
    except ValidationError:  # not a UUID
        raise Http404 from None


def get_rw_team_for_user(user: User, team_code: Any) -> Membership:
    """The membership of an owner or admin; 403 for members and viewers, 404 for others."""
    member = get_team_for_user(user, team_code)
    if not member.can_manage:
        raise PermissionDenied("Only the team's owners and admins can do that.")
    return member


def get_job_for_user(user: User, code: Any) -> tuple[Job, Membership | None]:
    """A job the user may see, with their membership of its team (None for personal jobs).

    Personal jobs: their submitter only. Team jobs: any member. Everyone else: 404.
    """
    job = get_object_or_404(
        Job.objects.select_related("budget", "batch", "team", "user"), code=code
    )
    if job.team_id is None:
        if job.user_id != user.pk:
            raise Http404
        return job, None
    member = Membership.objects.filter(team_id=job.team_id, user=user).first()
    if member is None:
        raise Http404
    return job, member


def get_rw_job_for_user(user: User, code: Any) -> Job:
    """A job the user may change (cancel, retry, share): 403 for a team's viewers."""
    job, member = get_job_for_user(user, code)
    if member is not None and not member.can_submit:
        raise PermissionDenied("Viewers can't change the team's images.")
    return job


def get_preset_for_user(user: User, code: Any) -> SubmitPreset:
    """One of the user's own submit presets; 404 for anyone else's (presets are never
    shared, not even in a team)."""
    return get_object_or_404(SubmitPreset, code=code, user=user)


def gallery_jobs(user: User, member: Membership | None) -> QuerySet[Job]:
    """The jobs of a gallery: the team's (everyone's) in a team context, else the user's
    personal ones."""
    if member is not None:
        return Job.objects.filter(team_id=member.team_id).select_related("user")
    return Job.objects.filter(user=user, team__isnull=True)


def visible_jobs(user: User, writable: bool = False) -> QuerySet[Job]:
    """Every job the user may see (personal ones, and their teams'), for actions on a
    selection or a batch; with writable, only those they may change (not as a viewer)."""
    teams = Membership.objects.filter(user=user)
    if writable:
        teams = teams.exclude(role=Membership.Role.VIEWER)
    return Job.objects.filter(Q(user=user, team__isnull=True) | Q(team__in=teams.values("team_id")))


def budget_for(user: User, member: Membership | None) -> Budget:
    """The budget a submission in this context draws on, with its month rolled over."""
    budget = member.team.budget if member is not None else Budget.for_user(user)
    budget.roll_period()
    return budget


# --- the current context: "Personal" or one team, kept in the session ---------------------


def current_membership(request: HttpRequest) -> Membership | None:
    """The membership of the team the user works in, or None for Personal.

    Re-checked on every request: someone removed from a team falls back to Personal.
    """
    if hasattr(request, "_upscaler_member"):
        member: Membership | None = request._upscaler_member
        return member
    member = None
    code = request.session.get(SESSION_KEY)
    if code and request.user.is_authenticated:
        member = (
            Membership.objects.select_related("team", "team__budget")
            .filter(user=request.user, team__code=code)
            .first()
        )
        if member is None:
            del request.session[SESSION_KEY]
    request._upscaler_member = member  # type: ignore[attr-defined]
    return member


def set_context(request: HttpRequest, member: Membership | None) -> None:
    if member is None:
        request.session.pop(SESSION_KEY, None)
    else:
        request.session[SESSION_KEY] = str(member.team.code)
    request._upscaler_member = member  # type: ignore[attr-defined]


def my_memberships(user: User) -> list[Membership]:
    return list(Membership.objects.filter(user=user).select_related("team").order_by("team__name"))
