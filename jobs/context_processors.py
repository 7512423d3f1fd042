from __future__ import annotations

from functools import partial
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from jobs import throttle
from jobs.access import current_membership, my_memberships
from jobs.models import Membership
from lib.money import cents


def _memberships(request: HttpRequest) -> list[Membership]:
    return my_memberships(request.user) if request.user.is_authenticated else []


def _current_member(request: HttpRequest) -> Membership | None:
    return current_membership(request)


def site(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    breaker = throttle.breaker() if user is not None and user.is_authenticated else None
    return {
        "apixo_breaker": breaker,
        # In the live poll's URL: a pause that starts or ends is news to every open page.
        "apixo_pause": throttle.pause_stamp(breaker),
        "site_name": settings.SITE_NAME,
        # Callables, so only pages that show the context switcher run their queries.
        "header_memberships": partial(_memberships, request),
        "current_member": partial(_current_member, request),
        "using_engine": settings.USING_ENGINE,
        "price": cents(settings.PRICE_CENTS),
        "price_cents": settings.PRICE_CENTS,
    }
