"""The account's API tokens and webhook: create, name and revoke tokens; set, test, pause,
rotate or remove the webhook URL."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from api import outgoing
from api.forms import TokenForm, WebhookForm
from api.models import ApiToken, WebhookEndpoint
from lib.http import AuthedRequest
from lib.tokens import webhook_secret

RECENT_DELIVERIES = 10


def _page(
    request: AuthedRequest,
    token_form: TokenForm | None = None,
    webhook_form: WebhookForm | None = None,
    new_token: str = "",
    status: int = 200,
) -> HttpResponse:
    user = request.user
    endpoint = WebhookEndpoint.objects.filter(user=user).first()
    context: dict[str, Any] = {
        "tokens": ApiToken.objects.filter(user=user).order_by("revoked_at", "-created"),
        "token_form": token_form or TokenForm(),
        "new_token": new_token,
        "endpoint": endpoint,
        "webhook_form": webhook_form
        or WebhookForm(initial={"url": endpoint.url} if endpoint else None),
        "deliveries": endpoint.deliveries.select_related("job").order_by("-created", "-id")[
            :RECENT_DELIVERIES
        ]
        if endpoint
        else [],
    }
    response = render(request, "accounts/tokens.html", context, status=status)
    # The page may show a new token's secret: nothing may keep a copy.
    response["Cache-Control"] = "no-store"
    return response


@require_http_methods(["GET", "POST"])
def tokens(request: AuthedRequest) -> HttpResponse:
    """The page; a POST creates a token and shows its secret, this once."""
    if request.method == "GET":
        return _page(request)
    form = TokenForm(request.POST)
    if not form.is_valid():
        return _page(request, token_form=form, status=400)
    _, raw = ApiToken.issue(request.user, form.cleaned_data["name"])
    return _page(request, new_token=raw, status=201)


@require_POST
def token_revoke(request: AuthedRequest, code: str) -> HttpResponse:
    token = get_object_or_404(ApiToken, code=code, user=request.user)
    if token.revoke():
        messages.success(request, f"Token {token.name} ({token.prefix}…) is revoked.")
    return redirect("api_tokens")


@require_POST
def webhook(request: AuthedRequest) -> HttpResponse:
    """Set the URL (action "save"), or test, pause/resume, rotate the secret or remove it."""
    action = request.POST.get("action", "save")
    endpoint = WebhookEndpoint.objects.filter(user=request.user).first()
    if action == "save":
        form = WebhookForm(request.POST)
        if not form.is_valid():
            return _page(request, webhook_form=form, status=400)
        url = form.cleaned_data["url"]
        WebhookEndpoint.objects.update_or_create(user=request.user, defaults={"url": url})
        messages.success(request, "Finished jobs will be announced to that URL.")
    elif endpoint is None:
        messages.error(request, "Set a webhook URL first.")
    elif action == "test":
        outgoing.send_ping(endpoint)
        messages.success(request, "A ping event is on its way; see the deliveries below.")
    elif action == "toggle":
        endpoint.active = not endpoint.active
        endpoint.save(update_fields=["active"])
        messages.success(request, "Webhook resumed." if endpoint.active else "Webhook paused.")
    elif action == "rotate":
        endpoint.secret = webhook_secret()
        endpoint.save(update_fields=["secret"])
        messages.success(request, "New secret: update your receiver. The old one is void.")
    elif action == "delete":
        endpoint.delete()
        messages.success(request, "Webhook removed.")
    return redirect("api_tokens")
