"""Forms of the admin spend review: the date range, refunds and quota changes."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib.auth.models import User
from django.utils import timezone

from jobs.models import Budget, Charge, Team
from spend.services import DateRange


class RangeForm(forms.Form):
    """?start=YYYY-MM-DD&end=YYYY-MM-DD (UTC days, both included); the last 30 by default."""

    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        end = data.get("end") or timezone.now().date()
        start = data.get("start") or end - timedelta(days=29)
        if start > end:
            raise forms.ValidationError("The start date is after the end date.")
        data["range"] = DateRange(start, end)
        return data

    def date_range(self) -> DateRange:
        """The chosen range, or the default one if the input was bad."""
        if self.is_valid():
            r: DateRange = self.cleaned_data["range"]
            return r
        return DateRange.last_days(30)


class RefundForm(forms.Form):
    job = forms.UUIDField(label="Job code")
    reason = forms.CharField(max_length=400)

    def clean_job(self) -> Charge:
        charge = Charge.objects.filter(
            job_code=self.cleaned_data["job"], kind=Charge.Kind.CHARGE
        ).first()
        if charge is None:
            raise forms.ValidationError("No charge for that job.")
        return charge


class QuotaForm(forms.Form):
    """A user (by username) or a team (by code), and the new quota in dollars."""

    user = forms.CharField(required=False, label="Username")
    team = forms.UUIDField(required=False, label="Team code")
    amount = forms.DecimalField(
        required=False,
        min_value=Decimal(0),
        max_digits=10,
        decimal_places=2,
        label="Quota ($)",
        help_text="Empty means unlimited.",
    )
    note = forms.CharField(required=False, max_length=200)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        username, team_code = data.get("user"), data.get("team")
        if bool(username) == bool(team_code):
            raise forms.ValidationError("Choose one user or one team.")
        if username:
            user = User.objects.filter(username=username).first()
            if user is None:
                raise forms.ValidationError(f"No user {username}.")
            data["budget"] = Budget.for_user(user)
        else:
            team = Team.objects.filter(code=str(team_code)).select_related("budget").first()
            if team is None:
                raise forms.ValidationError("No such team.")
            data["budget"] = team.budget
        amount = data.get("amount")
        data["limit_cents"] = None if amount is None else int(amount * 100)
        return data
