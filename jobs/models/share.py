"""Share links: a public, read-only, expiring and revocable page for one finished job."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from jobs.models.job import Job
from jobs.models.team import _token


def share_expiry() -> datetime:
    return timezone.now() + timedelta(days=settings.SHARE_LINK_DAYS)


class ShareLink(models.Model):
    """A public, read-only, expiring and revocable page for one finished job."""

    token = models.CharField(max_length=64, unique=True, default=_token, editable=False)
    job = models.ForeignKey(Job, models.CASCADE, related_name="share_links")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created = models.DateTimeField(default=timezone.now)
    expires = models.DateTimeField(default=share_expiry)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Share link for {self.job}"

    def get_absolute_url(self) -> str:
        return reverse("share_page", args=[self.token])

    @property
    def url(self) -> str:
        return settings.SITE_URL + self.get_absolute_url()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and self.expires > timezone.now()
