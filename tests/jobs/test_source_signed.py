"""Signed source URLs for APIXO (jobs.views.source_signed): no login, but a signed, expiring token."""

from __future__ import annotations

from typing import Any

import pytest
import time_machine
from django.test import Client

from jobs import tasks
from jobs.models import Job
from tests.conftest import make_job

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(30)]


def test_signed_source_url_needs_no_login(client: Client, alice: Any) -> None:
    from django.core.files.base import ContentFile

    job = make_job(alice, source_url="", source_name="up.png")
    job.source_file.save("s.png", ContentFile(b"png-bytes"), save=True)
    url = tasks.signed_source_url(job).removeprefix("http://127.0.0.1:8000")
    r = client.get(url)
    assert r.status_code == 200
    assert b"".join(r.streaming_content) == b"png-bytes"  # type: ignore[attr-defined]


def test_signed_source_url_rejects_a_forged_token(client: Client, job: Job) -> None:
    assert client.get(f"/s/{job.code}/").status_code == 404


def test_signed_source_url_expires(client: Client, alice: Any, settings: Any) -> None:
    from django.core.files.base import ContentFile

    job = make_job(alice, source_url="")
    job.source_file.save("s.png", ContentFile(b"x"), save=True)
    url = tasks.signed_source_url(job).removeprefix(settings.SITE_URL)
    with time_machine.travel(job.created.timestamp() + settings.SOURCE_URL_MAX_AGE + 60):
        assert client.get(url).status_code == 404
