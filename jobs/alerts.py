"""Spend alerts: a banner and one email per threshold (80%, 100%) per budget period."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth.models import User

from jobs.models import Budget, Membership, Team
from lib import emails

logger = logging.getLogger(__name__)

LEVELS = (100, 80)  # highest first


def level(budget: Budget) -> int:
    """The highest threshold the budget's spend has reached: 100, 80, or 0."""
    percent = budget.used_percent
    if percent is None:
        return 0
    return next((n for n in LEVELS if percent >= n), 0)


def banner(budget: Budget, team: Team | None) -> str:
    """The warning to show above the gallery, or "" below 80%."""
    n = level(budget)
    if not n:
        return ""
    whose = f"{team.name}'s budget" if team else "your quota"
    period = " this month" if budget.monthly else ""
    spent = f"{budget.spent_display} of {budget.limit_display}"
    if n >= 100:
        when = " until the 1st of next month" if budget.monthly else ""
        who = "a team owner or admin" if team else "an admin"
        return (
            f"You have used all of {whose}{period} ({spent}). New images won't be accepted"
            f"{when} unless {who} raises it."
        )
    return f"You have used {budget.used_percent}% of {whose}{period} ({spent})."


def check_budget(budget_id: int) -> bool:
    """Email the budget's people if it just crossed 80% or 100%. Return True if sent.

    The conditional UPDATE on alert_level records the alert before sending it, so however
    many workers charge at once, each threshold is mailed once per period.
    """
    budget = Budget.objects.filter(pk=budget_id).first()
    if budget is None:
        return False
    budget.roll_period()
    n = level(budget)
    if n <= budget.alert_level:
        return False
    claimed = Budget.objects.filter(
        pk=budget.pk, alert_level__lt=n, period_start=budget.period_start
    ).update(alert_level=n)
    if claimed != 1:
        return False
    team = Team.objects.filter(budget=budget).first()
    recipients = _recipients(budget, team)
    if recipients:
        context = {"budget": budget, "team": team, "message": banner(budget, team), "level": n}
        emails.send(
            f"{settings.SITE_NAME}: {n}% of {'the team budget' if team else 'your quota'} used",
            "jobs/spend_alert_email.txt",
            context,
            recipients,
        )
    logger.info("Budget %s reached %s%%; alerted %s", budget.code, n, recipients)
    return True


def _recipients(budget: Budget, team: Team | None) -> list[str]:
    if team is not None:
        return admin_emails(team)
    user = User.objects.filter(budget=budget).first()
    return [user.email] if user and user.email else []


def admin_emails(team: Team) -> list[str]:
    return list(
        team.memberships.filter(role__in=(Membership.Role.OWNER, Membership.Role.ADMIN))
        .exclude(user__email="")
        .values_list("user__email", flat=True)
    )
