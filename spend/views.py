"""The admin spend review (staff only; anyone else gets 404): totals, spend over time,
per user and per team, failures, the CSV export, refunds, quota changes, APIXO's balance."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from jobs import apixo
from jobs.models import AuditEntry
from lib.http import AuthedRequest, safe_next
from spend import services as spend
from spend.forms import QuotaForm, RangeForm, RefundForm


def _require_staff(request: AuthedRequest) -> None:
    """404, not 403, for everyone but staff: the page doesn't exist for them."""
    if not request.user.is_staff:
        raise Http404


@require_GET
def spend_page(request: AuthedRequest) -> HttpResponse:
    _require_staff(request)
    form = RangeForm(request.GET or None)
    r = form.date_range()
    if not form.is_bound:  # show the default range in the date inputs
        form = RangeForm(initial={"start": r.start, "end": r.end})
    context: dict[str, Any] = {
        "form": form,
        "range": r,
        "totals": spend.totals(),
        "range_total": spend.total(r.charges()),
        "operator_totals": spend.operator_totals(),
        "range_operator_total": spend.total(r.operator_costs()),
        "operator_recent": r.operator_costs().order_by("-created", "-id")[:25],
        "chart": spend.spend_over_time(r),
        "per_user": spend.per_user(r),
        "per_team": spend.per_team(r),
        "failures": spend.failures(r),
        "near_limit": spend.budgets_near_limit(),
        "recent": r.charges()
        .select_related("user", "budget__team", "created_by", "job")
        .prefetch_related("refunds")
        .order_by("-created", "-id")[:25],
        "audit": AuditEntry.objects.order_by("-created")[:15],
        "refund_form": RefundForm(),
        "quota_form": QuotaForm(),
        "query": request.GET.urlencode(),
        **_balance(),
    }
    return render(request, "spend/spend.html", context)


def _balance() -> dict[str, Any]:
    """APIXO's balance against the cost of the work waiting to be sent (real APIXO only)."""
    if settings.USING_ENGINE:
        return {}
    needed = spend.reserved_work_cents()
    try:
        balance = int(apixo.get_balance() * 100)
    except apixo.UpscalerError as e:
        return {"balance_error": e.message, "needed_cents": needed}
    return {"balance_cents": balance, "needed_cents": needed, "balance_low": balance < needed}


@require_GET
def spend_csv(request: AuthedRequest) -> StreamingHttpResponse:
    _require_staff(request)
    r = RangeForm(request.GET or None).date_range()
    response = StreamingHttpResponse(spend.ledger_csv(r), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="ledger-{r.start}-{r.end}.csv"'
    return response


@require_POST
def spend_refund(request: AuthedRequest) -> HttpResponse:
    _require_staff(request)
    form = RefundForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errs in form.errors.values() for e in errs))
        return _back(request)
    charge = form.cleaned_data["job"]
    try:
        spend.refund(charge, request.user, form.cleaned_data["reason"])
    except spend.SpendError as e:
        messages.error(request, e.message)
    else:
        messages.success(request, f"Refunded the charge of job {charge.job_code}.")
    return _back(request)


@require_POST
def spend_quota(request: AuthedRequest) -> HttpResponse:
    _require_staff(request)
    form = QuotaForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errs in form.errors.values() for e in errs))
        return _back(request)
    budget = form.cleaned_data["budget"]
    spend.adjust_quota(
        budget, form.cleaned_data["limit_cents"], request.user, form.cleaned_data["note"]
    )
    messages.success(
        request, f"Quota of {spend.budget_name(budget)} is now {budget.limit_display}."
    )
    return _back(request)


def _back(request: AuthedRequest) -> HttpResponse:
    return redirect(safe_next(request, request.POST.get("next")) or "spend")
