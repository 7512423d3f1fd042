"""Retention: files of finished jobs older than RETENTION_DAYS are removed by a scheduled
cleanup; the job rows and the ledger stay."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.storage import default_storage
from django.test import Client
from django.utils import timezone

from jobs.models import Job
from jobs.retention import purge_expired
from tests.conftest import make_job, with_files

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(30)]


def _old(user: User, state: str = Job.State.SUCCESS, days: int = 31) -> Job:
    job = with_files(make_job(user, state))
    Job.objects.filter(pk=job.pk).update(created=timezone.now() - timedelta(days=days))
    return job


def test_it_keeps_everything_when_retention_is_off(alice: User, settings: Any) -> None:
    settings.RETENTION_DAYS = 0
    job = _old(alice, days=3650)
    assert purge_expired() == 0
    assert default_storage.exists(str(job.result_file.name))


def test_it_removes_the_files_of_old_finished_jobs(alice: User, settings: Any) -> None:
    settings.RETENTION_DAYS = 30
    job = _old(alice)
    names = [str(f.name) for f in (job.source_file, job.result_file, job.thumbnail)]
    assert purge_expired() == 1
    job.refresh_from_db()
    assert not job.result_file and not job.source_file and not job.thumbnail
    assert not any(default_storage.exists(n) for n in names)


def test_it_keeps_recent_jobs(alice: User, settings: Any) -> None:
    settings.RETENTION_DAYS = 30
    job = _old(alice, days=29)
    assert purge_expired() == 0
    assert default_storage.exists(str(job.result_file.name))


def test_it_never_touches_a_job_in_flight(alice: User, settings: Any) -> None:
    settings.RETENTION_DAYS = 30
    job = _old(alice, Job.State.PENDING)
    assert purge_expired() == 0
    assert default_storage.exists(str(job.source_file.name))


def test_it_keeps_a_source_a_newer_retry_still_uses(alice: User, settings: Any) -> None:
    settings.RETENTION_DAYS = 30
    job = _old(alice, Job.State.FAILED)
    retry = make_job(alice, Job.State.QUEUED, source_file=job.source_file.name)
    purge_expired()
    assert default_storage.exists(str(retry.source_file.name))


def test_it_says_so_on_the_card(alice_client: Client, alice: User, settings: Any) -> None:
    settings.RETENTION_DAYS = 30
    _old(alice)
    purge_expired()
    assert "Files removed after the retention period" in alice_client.get("/").content.decode()
