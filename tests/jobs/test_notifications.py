"""The "your batch is done" email (jobs/notifications.py): opt-in, long batches only, once."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from jobs import notifications, tasks
from jobs.models import Batch, Job
from tests.conftest import image_bytes

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(30)]


@pytest.fixture(autouse=True)
def _thresholds(settings: Any) -> None:
    settings.BATCH_NOTIFY_MIN_IMAGES = 2
    settings.BATCH_NOTIFY_MIN_MINUTES = 5


def batch_of(user: Any, *states: str, notify: bool = True, minutes_ago: int = 0) -> Batch:
    created = timezone.now() - timedelta(minutes=minutes_ago)
    batch = Batch.objects.create(code=uuid.uuid4(), user=user, notify=notify, created=created)
    for state in states:
        Job.objects.create(
            user=user,
            budget=user.budget,
            batch=batch,
            state=state,
            source_name="p.jpg",
            created=created,
            finished_at=timezone.now() if state not in Job.IN_FLIGHT else None,
        )
    return batch


S = Job.State


def test_it_emails_when_a_long_batch_finishes(alice):
    batch = batch_of(alice, S.SUCCESS, S.SUCCESS, S.FAILED)
    assert notifications.batch_finished(batch.pk)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["alice@example.org"]
    assert "batch of 3 images is done" in message.subject
    assert "2 upscaled, 1 failed" in message.body
    assert f"?batch={batch.code}" in message.body


def test_it_emails_when_a_batch_took_long(alice):
    batch = batch_of(alice, S.SUCCESS, minutes_ago=10)
    assert notifications.batch_finished(batch.pk)


def test_it_does_not_email_about_a_short_batch(alice):
    batch = batch_of(alice, S.SUCCESS, S.SUCCESS)
    assert not notifications.batch_finished(batch.pk)
    assert mail.outbox == []


def test_it_does_not_email_without_the_opt_in(alice):
    batch = batch_of(alice, S.SUCCESS, S.SUCCESS, S.SUCCESS, notify=False)
    assert not notifications.batch_finished(batch.pk)


def test_it_waits_for_the_last_image(alice):
    batch = batch_of(alice, S.SUCCESS, S.SUCCESS, S.PROCESSING)
    assert not notifications.batch_finished(batch.pk)


def test_it_emails_once(alice):
    batch = batch_of(alice, S.SUCCESS, S.SUCCESS, S.SUCCESS)
    notifications.batch_finished(batch.pk)
    notifications.batch_finished(batch.pk)
    assert len(mail.outbox) == 1


def test_it_emails_when_the_worker_finishes_the_last_job(alice):
    batch = batch_of(alice, S.SUCCESS, S.SUCCESS, S.PROCESSING)
    job = batch.jobs.get(state=S.PROCESSING)
    job.move((S.PROCESSING,), S.SUCCESS)
    tasks._batch_progress(job)
    assert len(mail.outbox) == 1


def test_it_catches_batches_finished_otherwise_in_the_sweep(alice):
    batch_of(alice, S.SUCCESS, S.CANCELED, S.CANCELED)
    batch_of(alice, S.SUCCESS, S.SUCCESS, S.QUEUED)
    assert notifications.notify_finished_batches() == 1


def test_it_records_the_opt_in_from_the_form(alice_client, alice, monkeypatch):
    monkeypatch.setattr(tasks, "enqueue_start", lambda job_id: None)
    alice_client.post(
        "/jobs/",
        {
            "urls": "",
            "resolution": "2k",
            "output_format": "jpg",
            "key": str(uuid.uuid4()),
            "notify": "on",
            "images": [SimpleUploadedFile("a.png", image_bytes("PNG"))],
        },
    )
    assert Batch.objects.get(user=alice).notify
