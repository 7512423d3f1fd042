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

    def __init__(
        self, *args: Any, invite_email: str = "", quiet: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        # Quiet: an email or user name that is taken is no form error (that would tell anyone
        # which accounts exist) but noted in `taken`, and the view tells the address by email.
        self.quiet = quiet
        self.taken = ""  # "email" or "username"
        if invite_email:
            # Signing up through an invitation: the account is for the invited address
            # (a disabled field ignores whatever is posted for it).
            self.fields["email"].initial = invite_email
            self.fields["email"].disabled = True
            self.fields["email"].help_text = "The address the invitation was sent to."

    def clean_username(self) -> str:
        username = self.cleaned_data.get("username")
        if self.quiet and username and User.objects.filter(username__iexact=username).exists():
            self.taken = self.taken or "username"
            return str(username)
        return super().clean_username()

    def validate_unique(self) -> None:
        if not self.quiet:  # quiet: clean_username checked it (and a race hits the view)
            super().validate_unique()

    def clean_email(self) -> str:
        email = str(self.cleaned_data["email"]).strip()
        if User.objects.filter(email__iexact=email).exists():
            if self.quiet:
                self.taken = "email"
                return email
            raise forms.ValidationError(
                "An account with this email already exists. Log in, or reset its password."
            )
        return email
