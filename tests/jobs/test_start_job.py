"""jobs.tasks.start_job for URL sources: the source is downloaded once, checked, then submitted."""

from __future__ import annotations

import responses
from responses import matchers

from jobs import tasks
from jobs.models import Charge
from tests.conftest import image_bytes
from tests.jobs.tasks_support import (
    SOURCE_URL,
    TASK_MARKS,
    S,
    add_submit,
    budget_of,
    reload,
)

pytestmark = TASK_MARKS


def test_it_keeps_a_copy_of_a_url_source(mock, job):
    source = image_bytes()
    mock.add(responses.GET, SOURCE_URL, body=source, content_type="image/jpeg")
    add_submit(mock)
    tasks.start_job(job.pk)
    job = reload(job)
    assert (job.source_width, job.source_height, job.source_bytes) == (64, 48, len(source))
    with job.source_file.open("rb") as f:
        assert f.read() == source


def test_it_sends_apixo_the_original_url(mock, job):
    mock.add(responses.GET, SOURCE_URL, body=image_bytes(), content_type="image/jpeg")
    add_submit(
        mock,
        match=[
            matchers.json_params_matcher(
                {
                    "request_type": "async",
                    "input": {
                        "mode": "image-to-image",
                        "image_urls": [SOURCE_URL],
                        "resolution": "2k",
                        "output_format": "jpg",
                    },
                }
            )
        ],
    )
    tasks.start_job(job.pk)
    assert reload(job).state == S.PENDING


def test_it_fails_a_url_source_that_is_not_an_image(mock, job):
    mock.add(responses.GET, SOURCE_URL, body="<html>Not here</html>", content_type="text/html")
    tasks.start_job(job.pk)
    job = reload(job)
    assert [c.request.url for c in mock.calls] == [SOURCE_URL]
    assert job.state == S.FAILED
    assert job.fail_code == "SourceInvalid"
    assert not Charge.objects.exists()
    budget = budget_of(job)
    assert (budget.spent_cents, budget.reserved_cents) == (0, 0)


def test_it_fails_a_url_source_that_is_gone(mock, job):
    mock.add(responses.GET, SOURCE_URL, status=404)
    tasks.start_job(job.pk)
    job = reload(job)
    assert job.state == S.FAILED
    assert job.fail_code == "SourceUnavailable"
    assert "404" in job.fail_msg
    assert budget_of(job).reserved_cents == 0


def test_it_retries_a_url_source_whose_host_is_down(mock, job, scheduled, settings):
    mock.add(responses.GET, SOURCE_URL, status=503)
    tasks.start_job(job.pk)
    job = reload(job)
    assert job.state == S.QUEUED
    assert job.submit_attempts == 1
    [(func, job_id, delay, args)] = scheduled
    assert (func, job_id, args) == (tasks.start_job, job.pk, ())
    assert settings.APIXO_BACKOFF_BASE / 2 <= delay <= settings.APIXO_BACKOFF_BASE
