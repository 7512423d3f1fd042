"""Signed, expiring tokens for links that need no login (Django's signing, one salt per
kind of link): an uploaded source for APIXO, an email verification."""

from __future__ import annotations

from typing import Any

from django.core import signing


def sign(value: Any, salt: str) -> str:
    """A URL-safe token carrying value (anything JSON can hold), signed with SECRET_KEY."""
    return signing.dumps(value, salt=salt)


def unsign(token: str, salt: str, max_age: int) -> Any | None:
    """The value of a token signed with this salt at most max_age seconds ago, else None
    (bad, tampered with, expired or for another kind of link)."""
    try:
        return signing.loads(token, salt=salt, max_age=max_age)
    except signing.BadSignature:
        return None
