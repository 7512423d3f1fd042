"""A URL source whose host did not answer: the job waits and its card says so, live, with
the try and the countdown (jobs.tasks._fetch_source, Job.waiting)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
import requests
import responses
import time_machine
from django.test import Client
from django.utils import timezone

from jobs import tasks
from jobs.models import Job
from tests.jobs.tasks_support import SOURCE_URL, reload
from tests.jobs.test_progress import card_text

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.timeout(30),
    pytest.mark.usefixtures("apixo_settings", "public_hosts"),
]


@pytest.fixture(autouse=True)
def scheduled(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Records each delay and notes next_check_at, as the real schedule does."""
    delays: list[float] = []

    def record(func: Any, job_id: int, delay: float, *args: Any) -> None:
        Job.objects.filter(pk=job_id).update(
            next_check_at=timezone.now() + timedelta(seconds=delay)
        )
        delays.append(delay)

    monkeypatch.setattr(tasks, "schedule", record)
    return delays


def test_a_source_link_that_does_not_answer_says_so_with_the_next_try(
    mock: responses.RequestsMock, alice_client: Client, job: Job, scheduled: list[float]
) -> None:
    mock.add(responses.GET, SOURCE_URL, status=503)
    with time_machine.travel(timezone.now(), tick=False):
        tasks.start_job(job.pk)
        text = card_text(alice_client, job)
    assert reload(job).state == Job.State.QUEUED
    # apixo_settings allows 3 tries (APIXO_SUBMIT_ATTEMPTS)
    assert f"The source link did not answer: try 2 of 3, next in {round(scheduled[-1])} s" in text


def test_the_source_link_text_counts_the_tries_up(
    mock: responses.RequestsMock, alice_client: Client, job: Job
) -> None:
    mock.add(responses.GET, SOURCE_URL, status=503)
    mock.add(responses.GET, SOURCE_URL, body=requests.ConnectionError("refused"))
    tasks.start_job(job.pk)
    tasks.start_job(job.pk)
    assert re.search(
        r"The source link did not answer: try 3 of 3, next in \d+ s", card_text(alice_client, job)
    )


def test_a_source_link_that_never_answers_fails_after_the_last_try_the_card_named(
    mock: responses.RequestsMock, alice_client: Client, job: Job
) -> None:
    for _ in range(3):
        mock.add(responses.GET, SOURCE_URL, status=503)
    for _ in range(2):
        tasks.start_job(job.pk)
    assert "try 3 of 3" in card_text(alice_client, job)
    tasks.start_job(job.pk)  # the third try is the last: no "try 4 of 3"
    job = reload(job)
    assert job.fail_code == "SourceUnavailable"
    assert job.state == Job.State.FAILED
    text = card_text(alice_client, job)
    assert "did not answer: try" not in text
    assert "Not charged" in text
