"""Forms for teams, invitations, roles and team budgets."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.conf import settings

from jobs.models import Budget, Membership

Role = Membership.Role


class TeamForm(forms.Form):
    name = forms.CharField(max_length=100, label="Team name")

    def clean_name(self) -> str:
        name = str(self.cleaned_data["name"]).strip()
        if not name:
            raise forms.ValidationError("Give the team a name.")
        return name


class InviteForm(forms.Form):
    email = forms.EmailField(label="Email address")
    role = forms.ChoiceField(
        choices=[(r.value, r.label) for r in (Role.MEMBER, Role.VIEWER, Role.ADMIN)],
        initial=Role.MEMBER,
    )


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class BudgetForm(forms.Form):
    """A team budget: per month or in total, in dollars or images, or unlimited."""

    period = forms.ChoiceField(choices=Budget.Period.choices, initial=Budget.Period.MONTHLY)
    unit = forms.ChoiceField(
        choices=[(Budget.Unit.DOLLARS, "$"), (Budget.Unit.IMAGES, "images")],
        initial=Budget.Unit.DOLLARS,
    )
    amount = forms.DecimalField(
        required=False,
        min_value=Decimal(0),
        max_digits=10,
        decimal_places=2,
        help_text="Dollars (e.g. 5.00) or a number of images. Empty means unlimited.",
    )

    def __init__(self, *args: Any, cap: str | None = None, **kwargs: Any) -> None:
        """cap: the most the site's staff let this team budget ("$5.00" or "500 images"),
        if they set one; then an empty limit is refused, and the help text says so."""
        super().__init__(*args, **kwargs)
        if cap is not None:
            self.fields["amount"].help_text = (
                f"Dollars (e.g. 5.00) or a number of images, up to {cap}: the most the "
                "site's admins allow this team. Ask them for more."
            )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        amount: Decimal | None = data.get("amount")
        if amount is None:
            data["limit_cents"] = None
        elif data.get("unit") == Budget.Unit.IMAGES:
            if amount != amount.to_integral_value():
                raise forms.ValidationError("A number of images is a whole number.")
            data["limit_cents"] = int(amount) * settings.PRICE_CENTS
        else:
            data["limit_cents"] = int(amount * 100)
        return data
