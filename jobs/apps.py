from __future__ import annotations

from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Upscaling jobs"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.db.models.signals import post_delete, post_save

        from jobs import signals
        from jobs.models import Membership

        # What could end a session's right to a gallery sends its next poll the long way.
        post_save.connect(signals.user_saved, sender=get_user_model())
        post_delete.connect(signals.membership_ended, sender=Membership)
