from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from jobs.models import Batch, Budget, Charge, Job, cents


@admin.register(Job)
class JobAdmin(admin.ModelAdmin[Job]):
    list_display = (
        "source_name",
        "user",
        "state",
        "resolution",
        "output_format",
        "created",
        "task_id",
    )
    list_filter = ("state", "resolution", "output_format", "user")
    search_fields = ("source_name", "source_url", "task_id", "code", "user__username")
    date_hierarchy = "created"
    readonly_fields = (
        "code",
        "task_id",
        "callback_secret",
        "created",
        "updated",
        "submitted_at",
        "finished_at",
    )
    list_select_related = ("user",)


@admin.register(Budget)
class BudgetAdmin(admin.ModelAdmin[Budget]):
    list_display = ("__str__", "limit", "spent", "reserved")
    search_fields = ("user__username", "user__email")
    readonly_fields = ("code", "spent_cents", "reserved_cents")
    fields = ("code", "user", "limit_cents", "spent_cents", "reserved_cents")

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

    list_display = ("created", "kind", "amount", "user", "budget", "job_code")
    list_filter = ("kind", "created")
    search_fields = ("user__username", "job_code")
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
