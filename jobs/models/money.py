"""Money: budgets (a user's quota, a team's budget), the append-only ledger of charges
and refunds, the audit log of what admins did to money, and the operator's own costs
(OperatorCost: a possible second APIXO charge for a resent submit, never billed to the
user)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from lib.money import cents


def month_start(today: date | None = None) -> date:
    """The first day of this month (UTC, the site's time zone): when monthly budgets reset."""
    return (today or timezone.now().date()).replace(day=1)


class Budget(models.Model):
    """Money that jobs draw on: a user's personal quota, or a team's budget.

    `spent_cents` mirrors the sum of the budget's ledger rows in the current period (all of
    them for a lifetime budget; those since `period_start` for a monthly one), and
    `reserved_cents` the jobs that are queued or being submitted. Both only ever change
    through conditional UPDATEs with F() expressions, so concurrent submits can never take a
    budget past its limit.
    """

    class Period(models.TextChoices):
        LIFETIME = "lifetime"
        MONTHLY = "monthly"

    class Unit(models.TextChoices):
        DOLLARS = "usd", "dollars"
        IMAGES = "images"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # SET_NULL: deleting an account keeps its budget row, because the ledger points at it.
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="budget"
    )
    limit_cents = models.PositiveIntegerField(
        null=True, blank=True, help_text="Quota in cents; empty means unlimited."
    )
    spent_cents = models.IntegerField(default=0, editable=False)
    reserved_cents = models.IntegerField(default=0, editable=False)
    period = models.CharField(max_length=10, choices=Period, default=Period.LIFETIME)
    period_start = models.DateField(
        default=month_start, help_text="First day of the current monthly period."
    )
    unit = models.CharField(
        max_length=6,
        choices=Unit,
        default=Unit.DOLLARS,
        help_text="How the limit is shown. It is always stored in cents ($0.01 per image).",
    )
    cap_cents = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Teams only: the highest limit the team's admins may set (staff decide); "
        "empty means no cap.",
    )
    # The highest spend alert (80 or 100 percent) already sent this period, so each is
    # sent once; a new period or a new limit starts it over.
    alert_level = models.PositiveSmallIntegerField(default=0, editable=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(reserved_cents__gte=0), name="budget_reserved_not_negative"
            ),
        ]

    def __str__(self) -> str:
        if self.user:
            return f"Budget of {self.user}"
        team = getattr(self, "team", None)  # the reverse one-to-one: Team.budget
        return f"Budget of team {team.name}" if team else f"Budget {self.code}"

    @classmethod
    def for_user(cls, user: Any) -> Budget:
        budget, _ = cls.objects.get_or_create(
            user=user, defaults={"limit_cents": settings.DEFAULT_QUOTA_CENTS}
        )
        return budget

    @property
    def left_cents(self) -> int | None:
        if self.limit_cents is None:
            return None
        return max(0, self.limit_cents - self.spent_cents - self.reserved_cents)

    @property
    def monthly(self) -> bool:
        return self.period == self.Period.MONTHLY

    @property
    def used_percent(self) -> int | None:
        """Spent as a whole percentage of the limit; None when unlimited."""
        if self.limit_cents is None:
            return None
        if self.limit_cents == 0:
            return 100
        return self.spent_cents * 100 // self.limit_cents

    def amount_display(self, amount: int | None) -> str:
        """An amount in the budget's unit: "$0.42", or "42 images"."""
        if amount is None:
            return "unlimited"
        if self.unit == self.Unit.IMAGES:
            n = amount // settings.PRICE_CENTS
            return f"{n} image{'' if n == 1 else 's'}"
        return cents(amount)

    @property
    def spent_display(self) -> str:
        return self.amount_display(self.spent_cents)

    @property
    def limit_display(self) -> str:
        return self.amount_display(self.limit_cents)

    def roll_period(self) -> bool:
        """Start a new month for a monthly budget whose period is over. Return True if this
        call did it.

        One conditional UPDATE, so of many concurrent callers exactly one resets. Only the
        counter starts over: every charge stays in the ledger.
        """
        start = month_start()
        if self.period != self.Period.MONTHLY or self.period_start >= start:
            return False
        rolled = (
            Budget.objects.filter(
                pk=self.pk, period=self.Period.MONTHLY, period_start__lt=start
            ).update(spent_cents=0, period_start=start, alert_level=0)
            == 1
        )
        self.refresh_from_db(fields=["spent_cents", "period_start", "alert_level"])
        return rolled

    def reserve(self, amount: int) -> bool:
        """Reserve amount cents if the limit allows it. Return True if reserved.

        One conditional UPDATE: of two concurrent reservations for the last cent, the
        database lets exactly one match the WHERE clause.
        """
        self.roll_period()
        q = Budget.objects.filter(pk=self.pk)
        q = q.filter(
            Q(limit_cents__isnull=True)
            | Q(limit_cents__gte=F("spent_cents") + F("reserved_cents") + amount)
        )
        return q.update(reserved_cents=F("reserved_cents") + amount) == 1

    def release(self, amount: int) -> None:
        Budget.objects.filter(pk=self.pk).update(reserved_cents=F("reserved_cents") - amount)


class Charge(models.Model):
    """The append-only ledger: one row per job APIXO accepted; refunds are negative rows."""

    class Kind(models.TextChoices):
        CHARGE = "charge"
        REFUND = "refund"

    job = models.ForeignKey("Job", models.SET_NULL, null=True, blank=True, related_name="charges")
    # Kept so the ledger still names the job after the job itself is deleted.
    job_code = models.UUIDField(null=True, blank=True)
    budget = models.ForeignKey(Budget, models.PROTECT, related_name="charges")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(max_length=10, choices=Kind, default=Kind.CHARGE)
    amount_cents = models.IntegerField()
    note = models.CharField(max_length=500, blank=True)
    created = models.DateTimeField(default=timezone.now, db_index=True)
    # Refunds only: the charge refunded (once, by a constraint) and the admin who did it.
    refund_of = models.ForeignKey(
        "self", models.PROTECT, null=True, blank=True, related_name="refunds"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["job"], condition=Q(kind="charge"), name="one_charge_per_job"
            ),
            models.UniqueConstraint(fields=["refund_of"], name="one_refund_per_charge"),
        ]
        indexes = [models.Index(fields=["budget", "created"], name="charge_budget_created")]

    def __str__(self) -> str:
        return f"{self.kind} {cents(self.amount_cents)} ({self.created:%Y-%m-%d})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ValueError("The ledger is append-only: add a refund instead of editing.")
        super().save(*args, **kwargs)


class AuditEntry(models.Model):
    """What an admin did to money: refunds and quota changes. Never edited or deleted.

    Our own table rather than Django's LogEntry, whose user foreign key cascades: deleting
    an admin's account would delete the record of what they did.
    """

    created = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_name = models.CharField(max_length=150)
    action = models.CharField(max_length=50)
    target = models.CharField(max_length=200)
    budget = models.ForeignKey(
        Budget, models.SET_NULL, null=True, blank=True, related_name="audit_entries"
    )
    detail = models.TextField(blank=True)

    class Meta:
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.created:%Y-%m-%d %H:%M} {self.actor_name}: {self.action} {self.target}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ValueError("The audit log is append-only.")
        super().save(*args, **kwargs)


class OperatorCost(models.Model):
    """The operator's side of the ledger: what APIXO may have billed that no user pays.

    A submit whose outcome is unknown (its worker died mid-request, or the answer was lost
    after the request went out) is sent again and its user is charged once, when APIXO
    returns a taskId (Charge). The first request may have been billed too: that possible
    cent is one row here, so user charges plus operator costs bound APIXO's bill from
    above, and user charges alone from below. Append-only, like Charge.
    """

    class Kind(models.TextChoices):
        UNKNOWN_SUBMIT = "unknown_submit", "submit outcome unknown"

    job = models.ForeignKey(
        "Job", models.SET_NULL, null=True, blank=True, related_name="operator_costs"
    )
    job_code = models.UUIDField(null=True, blank=True)
    kind = models.CharField(max_length=20, choices=Kind, default=Kind.UNKNOWN_SUBMIT)
    amount_cents = models.IntegerField()
    note = models.CharField(max_length=500, blank=True)
    created = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"operator cost {cents(self.amount_cents)} ({self.created:%Y-%m-%d})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ValueError("The ledger is append-only.")
        super().save(*args, **kwargs)
