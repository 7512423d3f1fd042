"""Forms of sign-up."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.models import User


class SignupForm(UserCreationForm[User]):
    email = forms.EmailField(required=True, help_text="For password resets.")

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "email")

    def __init__(self, *args: Any, invite_email: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if invite_email:
            # Signing up through an invitation: the account is for the invited address
            # (a disabled field ignores whatever is posted for it).
            self.fields["email"].initial = invite_email
            self.fields["email"].disabled = True
            self.fields["email"].help_text = "The address the invitation was sent to."

    def clean_email(self) -> str:
        email = str(self.cleaned_data["email"]).strip()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(
                "An account with this email already exists. Log in, or reset its password."
            )
        return email
