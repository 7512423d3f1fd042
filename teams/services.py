"""Teams: creating them, inviting people, roles, leaving, and the team budget.

Every function here checks the rule it enforces and raises TeamError with a sentence for
the user; views only decide who may call what (jobs.access).
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from jobs.models import Budget, Charge, Invitation, Membership, Team, month_start
from lib import emails

Role = Membership.Role


class TeamError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def create_team(user: User, name: str) -> Team:
    """A new team with its own monthly budget; its creator is its first owner."""
    with transaction.atomic():
        quota = settings.TEAM_DEFAULT_QUOTA_CENTS
        budget = Budget.objects.create(
            limit_cents=quota,
            cap_cents=quota,
            period=Budget.Period.MONTHLY,
            period_start=month_start(),
        )
        team = Team.objects.create(name=name, owner=user, budget=budget)
        Membership.objects.create(user=user, team=team, role=Role.OWNER)
    return team


# --- invitations --------------------------------------------------------------------------


def invite(team: Team, email: str, role: str, by: User) -> Invitation:
    """Invite email to the team and send the link. A newer invitation replaces an open one."""
    if role not in (Role.ADMIN, Role.MEMBER, Role.VIEWER):
        raise TeamError("Invite people as admin, member or viewer; make owners from members.")
    if team.memberships.filter(user__email__iexact=email).exists():
        raise TeamError(f"{email} is already a member of {team.name}.")
    with transaction.atomic():
        team.invitations.filter(email__iexact=email, accepted_at__isnull=True).delete()
        invitation = Invitation.objects.create(team=team, email=email, role=role, invited_by=by)
    send_invitation(invitation)
    return invitation


def invitation_url(invitation: Invitation) -> str:
    return settings.SITE_URL + invitation.get_absolute_url()


def send_invitation(invitation: Invitation) -> None:
    context = {"invitation": invitation, "url": invitation_url(invitation)}
    emails.send(
        f"You're invited to {invitation.team.name} on {settings.SITE_NAME}",
        "teams/invitation_email.txt",
        context,
        [invitation.email],
    )


def open_invitation(token: str) -> Invitation | None:
    """The invitation behind a link, if it can still be accepted."""
    invitation = Invitation.find(token)
    return invitation if invitation is not None and invitation.is_open else None


def accept(invitation: Invitation, user: User) -> Membership:
    """Make user a member. Single use: a conditional UPDATE claims the invitation, so two
    clicks (or two accounts) racing for it can't both join."""
    if invitation.accepted_at is not None:
        raise TeamError("This invitation has already been used.")
    if invitation.expires <= timezone.now():
        raise TeamError("This invitation has expired. Ask a team admin for a new one.")
    if user.email.lower() != invitation.email.lower():
        raise TeamError(
            f"This invitation is for {invitation.email}, but you are logged in as "
            f"{user.username} ({user.email or 'no email'}). Log out, then open the link again "
            "to log in or sign up with that address."
        )
    if invitation.team.memberships.filter(user=user).exists():
        raise TeamError(f"You are already a member of {invitation.team.name}.")
    now = timezone.now()
    try:
        with transaction.atomic():
            claimed = Invitation.objects.filter(
                pk=invitation.pk, accepted_at__isnull=True, expires__gt=now
            ).update(accepted_at=now, accepted_by=user)
            if claimed != 1:
                raise TeamError("This invitation has already been used.")
            return Membership.objects.create(user=user, team=invitation.team, role=invitation.role)
    except IntegrityError:  # joined meanwhile by another invitation; this one stays unused
        raise TeamError(f"You are already a member of {invitation.team.name}.") from None


# --- roles and leaving --------------------------------------------------------------------


def _lock_team(team: Team) -> None:
    """Serialize changes to a team's owners, so two owners leaving at once can't both go."""
    Team.objects.select_for_update().filter(pk=team.pk).first()


def _is_last_owner(member: Membership) -> bool:
    return (
        member.role == Role.OWNER
        and not member.team.memberships.filter(role=Role.OWNER).exclude(pk=member.pk).exists()
    )


def leave(member: Membership) -> None:
    with transaction.atomic():
        _lock_team(member.team)
        if _is_last_owner(member):
            raise TeamError(
                "You are the team's last owner. Make another member an owner before you leave."
            )
        member.delete()


def remove(actor: Membership, member: Membership) -> None:
    """actor (an owner or admin) removes member from the team."""
    if member.pk == actor.pk:
        leave(member)
        return
    if member.role == Role.OWNER and actor.role != Role.OWNER:
        raise TeamError("Only an owner can remove an owner.")
    with transaction.atomic():
        _lock_team(member.team)
        if _is_last_owner(member):
            raise TeamError("The team's last owner can't be removed.")
        member.delete()


def set_role(actor: Membership, member: Membership, role: str) -> None:
    """actor (an owner or admin) gives member a new role."""
    if role not in Role.values:
        raise TeamError("Unknown role.")
    if Role.OWNER in (role, member.role) and actor.role != Role.OWNER:
        raise TeamError("Only an owner can make or unmake owners.")
    with transaction.atomic():
        _lock_team(member.team)
        if role != Role.OWNER and _is_last_owner(member):
            raise TeamError("The team needs an owner: make someone else an owner first.")
        Membership.objects.filter(pk=member.pk).update(role=role)
        member.role = role


# --- the budget ---------------------------------------------------------------------------


def set_budget(team: Team, period: str, unit: str, limit_cents: int | None) -> None:
    """Set the team's budget, within the cap staff gave it (Budget.cap_cents).

    Changing the period recomputes what was spent in it from the ledger, under a row lock so
    a charge landing meanwhile is counted exactly once.
    """
    cap = team.budget.cap_cents
    if cap is not None and (limit_cents is None or limit_cents > cap):
        raise TeamError(
            f"The most this team may budget is {team.budget.amount_display(cap)}"
            f"{' a month' if period == Budget.Period.MONTHLY else ''}. "
            "Ask the site's admins for more."
        )
    with transaction.atomic():
        budget = Budget.objects.select_for_update().get(pk=team.budget_id)
        fields: dict[str, Any] = {"unit": unit, "limit_cents": limit_cents}
        if limit_cents != budget.limit_cents:
            fields["alert_level"] = 0  # a new limit: its 80%/100% alerts are still to come
        if period != budget.period:
            fields.update(period=period, period_start=month_start(), alert_level=0)
            fields["spent_cents"] = spent_in_period(budget, period)
        Budget.objects.filter(pk=budget.pk).update(**fields)
    team.budget.refresh_from_db()


def spent_in_period(budget: Budget, period: str) -> int:
    """The ledger's total for the budget over the current period (all time for lifetime)."""
    charges = Charge.objects.filter(budget=budget)
    if period == Budget.Period.MONTHLY:
        charges = charges.filter(created__gte=datetime.combine(month_start(), time.min, UTC))
    return int(charges.aggregate(s=Sum("amount_cents"))["s"] or 0)


def spend_per_member(team: Team) -> list[dict[str, Any]]:
    """Spend on the team's budget by member this period, biggest first (ledger totals)."""
    charges = Charge.objects.filter(budget=team.budget_id)
    if team.budget.monthly:
        start = datetime.combine(team.budget.period_start, time.min, UTC)
        charges = charges.filter(created__gte=start)
    rows = (
        charges.values("user__username")
        .annotate(cents=Sum("amount_cents"))
        .order_by("-cents", "user__username")
    )
    return [{"name": r["user__username"] or "(deleted account)", "cents": r["cents"]} for r in rows]
