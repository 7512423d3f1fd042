from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from jobs import throttle
from jobs.models import cents


def site(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    return {
        "apixo_breaker": throttle.breaker() if user is not None and user.is_authenticated else None,
        "site_name": settings.SITE_NAME,
        "using_engine": settings.USING_ENGINE,
        "price": cents(settings.PRICE_CENTS),
        "price_cents": settings.PRICE_CENTS,
    }
