"""Random secrets and the stored form of those we only check."""

from __future__ import annotations

import hashlib
import secrets


def hash_token(raw: str) -> str:
    """The stored form of a token: SHA-256, hex. Tokens are random, so no salt is needed."""
    return hashlib.sha256(raw.encode()).hexdigest()


def webhook_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)
