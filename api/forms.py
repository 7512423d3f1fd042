"""Forms of the tokens page: name a new API token, set the webhook URL."""

from __future__ import annotations

from django import forms

from lib import fetch


class TokenForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        label="Token name",
        widget=forms.TextInput(attrs={"placeholder": "e.g. nightly-backup script"}),
    )


class WebhookForm(forms.Form):
    url = forms.URLField(
        max_length=2048,
        label="Webhook URL",
        assume_scheme="https",
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/hooks/upscaler"}),
    )

    def clean_url(self) -> str:
        """The same check as image links: a public address (no private or local network)."""
        url = str(self.cleaned_data["url"])
        try:
            return fetch.check_url(url)
        except fetch.FetchError as e:
            raise forms.ValidationError(e.message) from None
