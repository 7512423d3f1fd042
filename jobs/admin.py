"""The admin of the jobs app's models: jobs (resolve what needs attention), budgets and quotas,
the ledger (refunds as new rows, never edits), teams, invitations, share links and the
append-only audit log."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from jobs.models import (
    AuditEntry,
    Batch,
    Budget,
    Charge,
    Invitation,
    Job,
    Membership,
    OperatorCost,
    ShareLink,
    Team,
)
from jobs.submit import resolve_attention
from lib.money import cents


@admin.register(Job)
class JobAdmin(admin.ModelAdmin[Job]):
    list_display = (
        "source_name",
        "user",
        "team",
        "state",
        "resolution",
        "output_format",
        "created",
        "task_id",
    )
    list_filter = ("state", "resolution", "output_format", "team", "user")
    search_fields = ("source_name", "source_url", "task_id", "code", "user__username")
    date_hierarchy = "created"
    readonly_fields = (
        "code",
        "task_id",
        "created",
        "updated",
        "submitted_at",
        "finished_at",
        "retried_as",  # set once, by the retry itself (jobs.submit.retry)
    )
    exclude = ("callback_secret",)  # a secret: not even for staff pages
    list_select_related = ("user", "team")
    actions = ("fail_and_release", "requeue")

    @admin.action(description="Needs attention → failed: APIXO never got it (release the $0.01)")
    def fail_and_release(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        n = sum(resolve_attention(job, resubmit=False) for job in _attention(queryset))
        self.message_user(request, f"{n} job(s) marked failed; their reservations released.")

    @admin.action(description="Needs attention → queued: send to APIXO again (may pay twice)")
    def requeue(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        n = sum(resolve_attention(job, resubmit=True) for job in _attention(queryset))
        self.message_user(request, f"{n} job(s) queued to be sent again.")


def _attention(queryset: QuerySet[Job]) -> QuerySet[Job]:
    return queryset.filter(state=Job.State.NEEDS_ATTENTION).select_related("budget")


@admin.register(Budget)
class BudgetAdmin(admin.ModelAdmin[Budget]):
    list_display = ("__str__", "limit", "period", "spent", "reserved")
    list_filter = ("period", "unit")
    search_fields = ("user__username", "user__email", "team__name")
    readonly_fields = ("code", "spent_cents", "reserved_cents", "period_start", "alert_level")
    fields = (
        "code",
        "user",
        "limit_cents",
        "cap_cents",
        "period",
        "unit",
        "period_start",
        "spent_cents",
        "reserved_cents",
        "alert_level",
    )

    def save_model(self, request: HttpRequest, obj: Budget, form: Any, change: bool) -> None:
        """A quota changed here is audit-logged like one changed on the spend page."""
        old = Budget.objects.filter(pk=obj.pk).first() if change else None
        super().save_model(request, obj, form, change)
        if old is not None and old.limit_cents != obj.limit_cents:
            AuditEntry.objects.create(
                actor_id=request.user.pk,
                actor_name=request.user.get_username(),
                action="quota",
                target=str(obj),
                budget=obj,
                detail=f"Quota {old.limit_display} -> {obj.limit_display} (Django admin)",
            )

    @admin.display(description="Quota")
    def limit(self, obj: Budget) -> str:
        return "unlimited" if obj.limit_cents is None else cents(obj.limit_cents)

    @admin.display(description="Spent")
    def spent(self, obj: Budget) -> str:
        return cents(obj.spent_cents)

    @admin.display(description="Reserved")
    def reserved(self, obj: Budget) -> str:
        return cents(obj.reserved_cents)


@admin.register(Charge)
class ChargeAdmin(admin.ModelAdmin[Charge]):
    """The ledger is append-only: no edits, no deletes, here or anywhere."""

    list_display = ("created", "kind", "amount", "user", "budget", "job_code", "note")
    list_filter = ("kind", "created", ("budget__team", admin.RelatedOnlyFieldListFilter))
    search_fields = ("user__username", "job_code", "note")
    list_select_related = ("user", "budget")
    date_hierarchy = "created"

    @admin.display(description="Amount")
    def amount(self, obj: Charge) -> str:
        return cents(obj.amount_cents)

    def has_change_permission(self, request: HttpRequest, obj: Charge | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Charge | None = None) -> bool:
        return False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Batch)
class BatchAdmin(admin.ModelAdmin[Batch]):
    list_display = ("code", "user", "created")


class MembershipInline(admin.TabularInline[Membership, Team]):
    model = Membership
    extra = 0
    fields = ("user", "role", "created")
    readonly_fields = ("created",)
    raw_id_fields = ("user",)


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin[Team]):
    list_display = ("name", "owner", "created", "budget_limit", "budget_spent")
    search_fields = ("name", "code", "owner__username")
    date_hierarchy = "created"
    readonly_fields = ("code", "created", "budget")
    inlines = (MembershipInline,)
    list_select_related = ("owner", "budget")

    @admin.display(description="Budget")
    def budget_limit(self, obj: Team) -> str:
        return f"{obj.budget.limit_display} ({obj.budget.period})"

    @admin.display(description="Spent this period")
    def budget_spent(self, obj: Team) -> str:
        return cents(obj.budget.spent_cents)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin[Membership]):
    list_display = ("user", "team", "role", "created")
    list_filter = ("role", "team")
    search_fields = ("user__username", "user__email", "team__name")
    raw_id_fields = ("user",)
    list_select_related = ("user", "team")


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin[Invitation]):
    list_display = ("email", "team", "role", "invited_by", "created", "expires", "accepted_at")
    list_filter = ("role", "team", ("accepted_at", admin.EmptyFieldListFilter))
    search_fields = ("email", "team__name")
    date_hierarchy = "created"
    readonly_fields = ("code", "created", "accepted_by", "accepted_at")
    exclude = ("token_hash",)
    list_select_related = ("team", "invited_by")


@admin.register(ShareLink)
class ShareLinkAdmin(admin.ModelAdmin[ShareLink]):
    list_display = ("job", "created_by", "created", "expires", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    readonly_fields = ("token", "job", "created_by", "created")
    list_select_related = ("job", "created_by")


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin[AuditEntry]):
    """Read-only: the record of refunds and quota changes made on the spend page."""

    list_display = ("created", "actor_name", "action", "target", "detail")
    list_filter = ("action",)
    search_fields = ("actor_name", "target", "detail")
    date_hierarchy = "created"

    def has_change_permission(self, request: HttpRequest, obj: AuditEntry | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEntry | None = None) -> bool:
        return False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(OperatorCost)
class OperatorCostAdmin(admin.ModelAdmin[OperatorCost]):
    """What APIXO may have billed that no user pays (append-only, like the ledger)."""

    list_display = ("created", "kind", "amount", "job_code", "note")
    list_filter = ("kind", "created")
    search_fields = ("job_code", "note")
    date_hierarchy = "created"

    @admin.display(description="Amount")
    def amount(self, obj: OperatorCost) -> str:
        return cents(obj.amount_cents)

    def has_change_permission(self, request: HttpRequest, obj: OperatorCost | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: OperatorCost | None = None) -> bool:
        return False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
