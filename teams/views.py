"""Team pages: the team list, one team's members, invitations and budget, the context
switcher, and the invitation link."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from jobs import access
from jobs.models import Invitation, Membership
from lib.http import AuthedRequest, safe_next
from teams import services as teams
from teams.forms import BudgetForm, InviteForm, RoleForm, TeamForm

# --- access: one helper per object (the rules are in jobs.access) -------------------------


def _get_team_for_user(request: AuthedRequest, code: str) -> Membership:
    """The user's membership of the team (member.team is the team); 404 for outsiders."""
    return access.get_team_for_user(request.user, code)


def _get_rw_team_for_user(request: AuthedRequest, code: str) -> Membership:
    """An owner's or admin's membership: 403 for members and viewers, 404 for outsiders."""
    return access.get_rw_team_for_user(request.user, code)


def _get_member(actor: Membership, member_code: str) -> Membership:
    """A member of actor's team: 404 for a membership of any other team."""
    return get_object_or_404(
        Membership.objects.select_related("user"), code=member_code, team=actor.team
    )


# --- pages --------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def team_list(request: AuthedRequest) -> HttpResponse:
    form = TeamForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        team = teams.create_team(request.user, form.cleaned_data["name"])
        access.set_context(request, team.memberships.get(user=request.user))
        messages.success(request, f"Created {team.name}. You are working in it now.")
        return redirect(team)
    memberships = access.my_memberships(request.user)
    status = 400 if request.method == "POST" else 200
    return render(
        request, "teams/team_list.html", {"form": form, "memberships": memberships}, status=status
    )


@require_GET
def team_detail(request: AuthedRequest, code: str) -> HttpResponse:
    member = _get_team_for_user(request, code)
    team = member.team
    team.budget.roll_period()
    context: dict[str, Any] = {
        "member": member,
        "team": team,
        "budget": team.budget,
        "members": team.memberships.select_related("user").order_by("user__username"),
    }
    if member.can_manage:
        context |= {
            "invitations": team.invitations.filter(accepted_at__isnull=True).order_by("-created"),
            "invite_form": InviteForm(),
            "budget_form": _budget_form(member),
            "spend_per_member": teams.spend_per_member(team),
            "roles": Membership.Role.choices,
        }
    return render(request, "teams/team_detail.html", context)


def _budget_form(member: Membership) -> BudgetForm:
    budget = member.team.budget
    limit = budget.limit_cents
    amount: Decimal | int | None = None
    if limit is not None:
        images = budget.unit == budget.Unit.IMAGES
        amount = limit // settings.PRICE_CENTS if images else Decimal(limit).scaleb(-2)
    cap = None if budget.cap_cents is None else budget.amount_display(budget.cap_cents)
    return BudgetForm(
        initial={"period": budget.period, "unit": budget.unit, "amount": amount}, cap=cap
    )


@require_POST
def team_invite(request: AuthedRequest, code: str) -> HttpResponse:
    member = _get_rw_team_for_user(request, code)
    form = InviteForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Enter an email address and a role.")
        return redirect(member.team)
    email = form.cleaned_data["email"]
    try:
        teams.invite(member.team, email, form.cleaned_data["role"], request.user)
    except teams.TeamError as e:
        messages.error(request, e.message)
    else:
        messages.success(
            request, f"Invited {email}. The link works once, for {settings.INVITATION_DAYS} days."
        )
    return redirect(member.team)


@require_POST
def invitation_revoke(request: AuthedRequest, code: str, invitation_code: str) -> HttpResponse:
    member = _get_rw_team_for_user(request, code)
    invitation = get_object_or_404(
        Invitation, code=invitation_code, team=member.team, accepted_at__isnull=True
    )
    invitation.delete()
    messages.success(request, f"Canceled the invitation for {invitation.email}.")
    return redirect(member.team)


@require_POST
def member_role(request: AuthedRequest, code: str, member_code: str) -> HttpResponse:
    actor = _get_rw_team_for_user(request, code)
    target = _get_member(actor, member_code)
    form = RoleForm(request.POST)
    if form.is_valid():
        try:
            teams.set_role(actor, target, form.cleaned_data["role"])
            messages.success(request, f"{target.user.username} is now {target.role}.")
        except teams.TeamError as e:
            messages.error(request, e.message)
    return redirect(actor.team)


@require_POST
def member_remove(request: AuthedRequest, code: str, member_code: str) -> HttpResponse:
    actor = _get_rw_team_for_user(request, code)
    target = _get_member(actor, member_code)
    try:
        teams.remove(actor, target)
    except teams.TeamError as e:
        messages.error(request, e.message)
        return redirect(actor.team)
    messages.success(request, f"Removed {target.user.username} from {actor.team.name}.")
    return redirect(actor.team if target.pk != actor.pk else "team_list")


@require_POST
def team_leave(request: AuthedRequest, code: str) -> HttpResponse:
    member = _get_team_for_user(request, code)
    try:
        teams.leave(member)
    except teams.TeamError as e:
        messages.error(request, e.message)
        return redirect(member.team)
    if access.current_membership(request) == member:
        access.set_context(request, None)
    messages.success(request, f"You left {member.team.name}.")
    return redirect("team_list")


@require_POST
def team_budget(request: AuthedRequest, code: str) -> HttpResponse:
    member = _get_rw_team_for_user(request, code)
    form = BudgetForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errs in form.errors.values() for e in errs))
        return redirect(member.team)
    data = form.cleaned_data
    try:
        teams.set_budget(member.team, data["period"], data["unit"], data["limit_cents"])
    except teams.TeamError as e:
        messages.error(request, e.message)
    else:
        messages.success(request, f"Budget set to {member.team.budget.limit_display}.")
    return redirect(member.team)


@require_POST
def switch_context(request: AuthedRequest) -> HttpResponse:
    """Work in a team (team=<code>) or in Personal (team empty)."""
    code = request.POST.get("team")
    access.set_context(request, _get_team_for_user(request, code) if code else None)
    return redirect(safe_next(request, request.POST.get("next")) or "/")


# --- the invitation link ------------------------------------------------------------------


@login_not_required
@require_http_methods(["GET", "POST"])
def invitation(request: HttpRequest, token: str) -> HttpResponse:
    """What an invitation link shows: join (logged in), or log in / sign up to join."""
    invite = Invitation.find(token)
    if invite is None:
        raise Http404
    if request.method == "POST" and request.user.is_authenticated:
        try:
            member = teams.accept(invite, request.user)
        except teams.TeamError as e:
            messages.error(request, e.message)
            return redirect(invite)
        access.set_context(request, member)
        messages.success(request, f"Welcome to {member.team.name}! You are working in it now.")
        return redirect("gallery")
    status = 200 if invite.is_open else 410
    return render(request, "teams/invitation.html", {"invitation": invite}, status=status)
