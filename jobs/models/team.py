"""Teams: a shared gallery and budget, its members with their roles, and invitations."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from jobs.models.money import Budget
from lib.tokens import hash_token


def _token() -> str:
    return secrets.token_urlsafe(32)


class Team(models.Model):
    """A shared gallery and budget. What each member may do comes from their Membership."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=100)
    # Who created it; rights come from memberships (the last owner cannot leave).
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created = models.DateTimeField(default=timezone.now)
    budget = models.OneToOneField(Budget, models.PROTECT, related_name="team")

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("team_detail", args=[self.code])


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner"
        ADMIN = "admin"
        MEMBER = "member"
        VIEWER = "viewer"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, models.CASCADE, related_name="memberships")
    team = models.ForeignKey(Team, models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role, default=Role.MEMBER)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "team"], name="one_membership_per_team"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"

    @property
    def can_manage(self) -> bool:
        """Owners and admins manage members, invitations and the budget."""
        return self.role in (self.Role.OWNER, self.Role.ADMIN)

    @property
    def can_submit(self) -> bool:
        """Everyone but a viewer submits, cancels, retries and shares the team's images."""
        return self.role != self.Role.VIEWER


def invitation_expiry() -> datetime:
    return timezone.now() + timedelta(days=settings.INVITATION_DAYS)


class Invitation(models.Model):
    """A single-use, expiring link that makes whoever follows it (with that email) a member.

    Only the SHA-256 of the link's token is stored: the emailed link is its only copy, so
    someone who reads the database (a leaked backup) can't join a team with it.
    """

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    team = models.ForeignKey(Team, models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Membership.Role, default=Membership.Role.MEMBER)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created = models.DateTimeField(default=timezone.now)
    expires = models.DateTimeField(default=invitation_expiry)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    accepted_at = models.DateTimeField(null=True, blank=True)

    # The raw token: known only to the instance that created the invitation, or that was
    # found by it (`find`).
    token = ""

    def __str__(self) -> str:
        return f"{self.email} to {self.team}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self.token_hash:
            self.token = _token()
            self.token_hash = hash_token(self.token)
        super().save(*args, **kwargs)

    @classmethod
    def find(cls, token: str) -> Invitation | None:
        """The invitation behind a link's token (any state), or None."""
        found = cls.objects.select_related("team").filter(token_hash=hash_token(token)).first()
        if found is not None:
            found.token = token
        return found

    def get_absolute_url(self) -> str:
        if not self.token:
            raise ValueError("Only the token's hash is stored: the link is in the email.")
        return reverse("invitation", args=[self.token])

    @property
    def is_open(self) -> bool:
        return self.accepted_at is None and self.expires > timezone.now()
