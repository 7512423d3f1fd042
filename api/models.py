"""Models of the JSON API: personal API tokens, and the webhook endpoint each user may set.

Moved here from the jobs app by state-only migrations (api 0001, jobs 0008): their tables
keep the names the jobs app gave them (db_table), so no row moved.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from lib.tokens import hash_token, webhook_secret

TOKEN_PREFIX = "ups_"
# Longer than any token we issue: a bigger Authorization header isn't worth hashing.
TOKEN_MAX_LENGTH = 100
# last_used is written at most this often per token, not on every request.
TOUCH_EVERY = timedelta(minutes=1)


class ApiToken(models.Model):
    """A personal API token. Only its hash is stored; the secret is shown once, on creation.

    `prefix` (the first 8 characters) is kept in clear so the user can tell tokens apart.
    """

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=8, editable=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created = models.DateTimeField(default=timezone.now)
    last_used = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "jobs_apitoken"
        indexes = [models.Index(fields=["user", "-created"], name="apitoken_user_created")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def issue(cls, user: Any, name: str) -> tuple[ApiToken, str]:
        """Create a token for user. Return it with its secret, which is never stored."""
        raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(user=user, name=name, prefix=raw[:8], token_hash=hash_token(raw))
        return token, raw

    @classmethod
    def authenticate(cls, raw: str) -> ApiToken | None:
        """The live token with this secret (its user active), or None.

        The lookup is by hash, so the secret is never compared character by character: a
        timing difference could only tell an attacker about the hash of their own guess.
        """
        if not raw.startswith(TOKEN_PREFIX) or len(raw) > TOKEN_MAX_LENGTH:
            return None
        token = (
            cls.objects.select_related("user")
            .filter(token_hash=hash_token(raw), revoked_at__isnull=True, user__is_active=True)
            .first()
        )
        if token is not None:
            token.touch()
        return token

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def touch(self) -> None:
        """Note the use, at most once a minute (a conditional UPDATE, no read first)."""
        now = timezone.now()
        ApiToken.objects.filter(
            Q(last_used__isnull=True) | Q(last_used__lt=now - TOUCH_EVERY), pk=self.pk
        ).update(last_used=now)

    def revoke(self) -> bool:
        """Stop the token from working at once. Return True if this call revoked it."""
        now = timezone.now()
        revoked = ApiToken.objects.filter(pk=self.pk, revoked_at__isnull=True).update(
            revoked_at=now
        )
        if revoked:
            self.revoked_at = now
        return revoked == 1


class WebhookEndpoint(models.Model):
    """Where a user's finished jobs are announced: one URL per user, with its signing secret.

    The secret is stored in clear because we sign with it; its owner can read and rotate it
    on the tokens page.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, models.CASCADE, related_name="webhook_endpoint"
    )
    url = models.URLField(max_length=2048)
    secret = models.CharField(max_length=64, default=webhook_secret)
    created = models.DateTimeField(default=timezone.now)
    active = models.BooleanField(default=True, help_text="Paused endpoints get no deliveries.")

    class Meta:
        db_table = "jobs_webhookendpoint"

    def __str__(self) -> str:
        return f"Webhook of {self.user} to {self.url}"


class WebhookDelivery(models.Model):
    """One attempt to deliver one event: the log shown to the endpoint's owner.

    Every attempt of an event shares its `event_id` (also sent as `Upscaler-Delivery`), so
    a receiver can drop repeats.
    """

    endpoint = models.ForeignKey(WebhookEndpoint, models.CASCADE, related_name="deliveries")
    event_id = models.UUIDField()
    event = models.CharField(max_length=40)
    job = models.ForeignKey(
        "jobs.Job", models.SET_NULL, null=True, blank=True, related_name="webhook_deliveries"
    )
    attempt = models.PositiveSmallIntegerField()
    created = models.DateTimeField(default=timezone.now)
    url = models.URLField(max_length=2048)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    ok = models.BooleanField(default=False)
    error = models.CharField(max_length=500, blank=True)
    response_body = models.CharField(max_length=1000, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    will_retry = models.BooleanField(default=False)

    class Meta:
        db_table = "jobs_webhookdelivery"
        verbose_name_plural = "webhook deliveries"
        indexes = [models.Index(fields=["endpoint", "-created"], name="delivery_endpoint_created")]

    def __str__(self) -> str:
        return f"{self.event} #{self.attempt} to {self.url}"
