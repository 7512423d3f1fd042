"""APIXO's URLs and headers as the tests mock them (built from settings at call time, so a
test's `settings` overrides apply)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from responses import matchers


def submit_url() -> str:
    return f"{settings.APIXO_BASE_URL}/generateTask/image-upscaler"


def status_url() -> str:
    return f"{settings.APIXO_BASE_URL}/statusTask/image-upscaler"


def balance_url() -> str:
    return f"{settings.APIXO_BASE_URL}/apikeys/current-balance"


def auth() -> Any:
    """A matcher for the Bearer key every APIXO request must carry."""
    return matchers.header_matcher({"Authorization": f"Bearer {settings.APIXO_KEY}"})
