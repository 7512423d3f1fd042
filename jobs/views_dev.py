"""Development-only pages: 404 unless DEBUG is on and the visitor is staff."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from jobs import dev
from lib.http import AuthedRequest


@require_GET
def dev_emails(request: AuthedRequest) -> HttpResponse:
    """The last emails sent, with their links: a reset or an invitation without digging
    through the terminal (which web or worker process printed it)."""
    if not (settings.DEBUG and request.user.is_staff):
        raise Http404
    context = {"emails": dev.recent_emails(), "kept": dev.EMAILS_KEPT}
    return render(request, "dev/emails.html", context)
