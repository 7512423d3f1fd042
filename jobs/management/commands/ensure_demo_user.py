from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError

from jobs.models import Budget

USERNAME = "demo"
PASSWORD = "upscale-demo"


class Command(BaseCommand):
    help = "Create the demo account (embedded engine only) and print its login."

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.USING_ENGINE:
            raise CommandError(
                "The demo account is only for the embedded engine (no APIXO_API_KEY)."
            )
        user, created = User.objects.get_or_create(
            username=USERNAME,
            defaults={"email": "demo@example.com", "is_staff": True, "is_superuser": True},
        )
        if created:
            user.set_password(PASSWORD)
            user.save()
        Budget.for_user(user)
        self.stdout.write(
            f"Demo login: {USERNAME} / {PASSWORD}" + ("" if created else " (unless you changed it)")
        )
