"""What a user submits with, kept: the last settings per context (SubmitDefaults) and named
presets (SubmitPreset). The submit form starts from them; the API fills only what a request
leaves out."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q

from jobs.models.job import Job
from jobs.models.team import Team


class SubmitOptions(models.Model):
    """What the submit form asks besides the sources: tier, format and the options that
    describe a result (not force_new, which is a one-off decision to pay again)."""

    resolution = models.CharField(max_length=2, choices=Job.Resolution, default=Job.Resolution.R4K)
    output_format = models.CharField(max_length=4, choices=Job.Format, default=Job.Format.JPG)
    strip_gps = models.BooleanField(default=False)
    notify = models.BooleanField(default=False)
    skip_small = models.BooleanField(default=False)

    FIELDS = ("resolution", "output_format", "strip_gps", "notify", "skip_small")

    class Meta:
        abstract = True

    def values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.FIELDS}


class SubmitDefaults(SubmitOptions):
    """The last settings a user submitted with, per context (Personal: team empty): the
    form starts from them, and so does an API request that leaves them out."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.CASCADE, related_name="submit_defaults"
    )
    team = models.ForeignKey(Team, models.CASCADE, null=True, blank=True, related_name="+")
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "team"],
                condition=Q(team__isnull=False),
                name="submit_defaults_one_per_team",
            ),
            models.UniqueConstraint(
                fields=["user"], condition=Q(team__isnull=True), name="submit_defaults_one_personal"
            ),
        ]

    @classmethod
    def for_context(cls, user: Any, team: Team | None) -> dict[str, Any]:
        """The remembered settings of this user in this context; the form's own defaults if
        they never submitted there."""
        found = cls.objects.filter(user=user, team=team).first()
        return (found or cls()).values()

    @classmethod
    def remember(cls, user: Any, team: Team | None, values: dict[str, Any]) -> None:
        kept = {name: values[name] for name in cls.FIELDS if name in values}
        cls.objects.update_or_create(user=user, team=team, defaults=kept)


class SubmitPreset(SubmitOptions):
    """A named set of settings a user saved ("Print 8k PNG"); theirs in every context."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.CASCADE, related_name="submit_presets"
    )
    name = models.CharField(max_length=60)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], name="submit_preset_name_per_user")
        ]

    def __str__(self) -> str:
        return self.name
