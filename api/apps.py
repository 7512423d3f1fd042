from __future__ import annotations

from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "JSON API"

    def ready(self) -> None:
        from api import outgoing
        from jobs.models import job_finished

        # A finished job is announced to its submitter's webhook, if any.
        job_finished.connect(outgoing.on_job_finished)
