"""jobs.tasks.poll_job: reading a task's state, keeping its result, failing, deadlines."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import responses
import time_machine
from django.db import transaction
from django.utils import timezone
from PIL import Image

from jobs import tasks
from jobs.advice import GENERIC
from jobs.models import Charge, Job
from tests.apixo_support import status_url
from tests.conftest import make_job
from tests.jobs.tasks_support import (
    RESULT_URL,
    TASK_ID,
    TASK_MARKS,
    S,
    accepted_job,
    add_status,
    add_success,
    budget_of,
    reload,
    stored,
)

pytestmark = TASK_MARKS


def test_it_moves_a_pending_job_to_processing(mock, alice):
    job = accepted_job(alice)
    add_status(mock, "processing")
    tasks.poll_job(job.pk)
    assert reload(job).state == S.PROCESSING


def test_it_schedules_the_next_poll(mock, alice, scheduled, settings):
    job = accepted_job(alice)
    add_status(mock, "pending")
    tasks.poll_job(job.pk)
    assert reload(job).state == S.PENDING
    assert scheduled == [(tasks.poll_job, job.pk, settings.APIXO_POLL_INTERVAL, ())]


def test_it_logs_one_line_per_state_change_not_per_poll(
    mock, alice, caplog, django_capture_on_commit_callbacks
):
    job = accepted_job(alice, source_name="rocket.png", resolution="4k")
    add_status(mock, "pending")
    add_status(mock, "pending")
    add_status(mock, "processing")
    later = job.created + timedelta(seconds=21)
    with caplog.at_level("INFO", logger="jobs.models"), time_machine.travel(later, tick=False):
        for _ in range(3):
            with django_capture_on_commit_callbacks(execute=True):
                tasks.poll_job(job.pk)
    lines = [r.getMessage() for r in caplog.records if r.name == "jobs.models"]
    assert lines == [f"job {job.pk} rocket.png: pending -> processing (4k jpg, 21 s)"]


def test_it_logs_a_failure_with_its_code(mock, alice, caplog, django_capture_on_commit_callbacks):
    job = accepted_job(alice)
    add_status(mock, "failed", failCode="SensitiveContent", failMsg="Refused.")
    later = job.created + timedelta(seconds=5)
    with (
        caplog.at_level("INFO", logger="jobs.models"),
        time_machine.travel(later, tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        tasks.poll_job(job.pk)
    assert f"job {job.pk} photo.jpg: pending -> failed (2k jpg, 5 s): SensitiveContent" in [
        r.getMessage() for r in caplog.records
    ]


def test_it_logs_no_move_that_was_rolled_back(alice, caplog, django_capture_on_commit_callbacks):
    job = make_job(alice)
    with (
        caplog.at_level("INFO", logger="jobs.models"),
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        assert job.move((S.QUEUED,), S.SUBMITTING)
        raise RuntimeError("the worker died")
    assert reload(job).state == S.QUEUED
    assert not [r for r in caplog.records if r.name == "jobs.models"]


def test_it_polls_an_8k_job_less_often(mock, alice, scheduled, settings):
    job = accepted_job(alice, resolution="8k")
    add_status(mock, "processing")
    tasks.poll_job(job.pk)
    assert scheduled == [(tasks.poll_job, job.pk, settings.APIXO_POLL_INTERVAL_8K, ())]


def test_it_marks_a_finished_job_successful(mock, alice, scheduled):
    job = accepted_job(alice)
    add_success(mock)
    tasks.poll_job(job.pk)
    job = reload(job)
    assert job.state == S.SUCCESS
    assert job.finished_at is not None
    assert scheduled == []


def test_it_stores_the_result(mock, alice):
    job = accepted_job(alice)
    result = add_success(mock)
    tasks.poll_job(job.pk)
    job = reload(job)
    assert (job.result_width, job.result_height) == (2048, 1365)
    assert job.result_bytes == len(result)
    with job.result_file.open("rb") as f:
        assert f.read() == result


def test_it_makes_a_thumbnail_of_the_result(mock, alice):
    job = accepted_job(alice)
    add_success(mock)
    tasks.poll_job(job.pk)
    with reload(job).thumbnail.open("rb") as f, Image.open(f) as thumb:
        assert thumb.format == "WEBP"
        assert thumb.size == (480, 320)


@pytest.mark.parametrize(
    ("using_engine", "model", "made_by"),
    [
        (True, "realesrgan-x4plus", "Embedded engine: realesrgan-x4plus"),
        (True, "lanczos", "Embedded engine: Lanczos resize (no model)"),
        # Only the embedded engine is believed about models.
        (False, "anything", "APIXO"),
    ],
)
def test_it_says_what_made_the_result(mock, alice, settings, using_engine, model, made_by):
    settings.USING_ENGINE = using_engine
    job = accepted_job(alice)
    add_success(mock, model=model)
    tasks.poll_job(job.pk)
    assert reload(job).made_by == made_by


def test_it_records_apixo_times(mock, alice):
    job = accepted_job(alice)
    add_success(mock)
    tasks.poll_job(job.pk)
    job = reload(job)
    assert job.apixo_create_time == 1764000000000
    assert job.apixo_complete_time == 1764000021000
    assert job.apixo_cost_time == 21000


def test_it_keeps_the_charge_of_a_successful_job(mock, alice):
    job = accepted_job(alice)
    add_success(mock)
    tasks.poll_job(job.pk)
    assert Charge.objects.filter(job=job).count() == 1
    budget = budget_of(job)
    assert (budget.spent_cents, budget.reserved_cents) == (1, 0)


@pytest.mark.parametrize(
    "fail_code",
    ["ImageFormatIncorrect", "SensitiveContent", "RateLimited", "Timeout", "Unknown error"],
)
def test_it_fails_a_job_apixo_failed(mock, alice, fail_code):
    job = accepted_job(alice)
    add_status(
        mock, "failed", failCode=fail_code, failMsg="Upstream said no", completeTime=1764000009000
    )
    tasks.poll_job(job.pk)
    job = reload(job)
    assert job.state == S.FAILED
    assert job.fail_code == fail_code
    assert job.fail_msg == "Upstream said no"
    assert job.advice
    assert job.advice != GENERIC
    assert job.apixo_complete_time == 1764000009000


def test_it_does_not_refund_a_job_apixo_failed(mock, alice, scheduled):
    job = accepted_job(alice)
    add_status(mock, "failed", failCode="SensitiveContent", failMsg="Rejected")
    tasks.poll_job(job.pk)
    assert [c.amount_cents for c in Charge.objects.filter(job=job)] == [1]
    budget = budget_of(job)
    assert (budget.spent_cents, budget.reserved_cents) == (1, 0)
    assert scheduled == []


def test_it_reports_unknown_error_for_a_failure_without_a_code(mock, alice):
    job = accepted_job(alice)
    add_status(mock, "failed")
    tasks.poll_job(job.pk)
    assert reload(job).fail_code == "Unknown error"


@pytest.mark.parametrize("errors", [0, 2])
def test_it_backs_off_when_the_status_read_fails(mock, alice, scheduled, settings, errors):
    job = accepted_job(alice)
    mock.add(responses.GET, status_url(), status=500, json={"code": 500, "message": "oops"})
    tasks.poll_job(job.pk, errors)
    assert reload(job).state == S.PENDING
    [(func, job_id, delay, args)] = scheduled
    assert (func, job_id, args) == (tasks.poll_job, job.pk, (errors + 1,))
    ceiling = settings.APIXO_BACKOFF_BASE * 2**errors
    assert ceiling / 2 <= delay <= ceiling


def test_it_fails_a_job_apixo_no_longer_knows(mock, alice, scheduled):
    job = accepted_job(alice)
    mock.add(
        responses.GET, status_url(), status=404, json={"code": 404, "message": "Task not found"}
    )
    tasks.poll_job(job.pk)
    job = reload(job)
    assert job.state == S.FAILED
    assert job.fail_code == "TaskNotFound"
    assert Charge.objects.filter(job=job).count() == 1
    assert scheduled == []


def test_it_times_out_a_job_past_the_deadline(mock, alice, scheduled, settings):
    job = accepted_job(alice)
    later = timezone.now() + timedelta(seconds=settings.APIXO_DEADLINE + 1)
    with time_machine.travel(later, tick=False):
        tasks.poll_job(job.pk)
    job = reload(job)
    assert len(mock.calls) == 0
    assert job.state == S.FAILED
    assert job.fail_code == "Timeout"
    assert "30 minutes" in job.fail_msg
    assert Charge.objects.filter(job=job).count() == 1
    assert scheduled == []


def test_it_keeps_polling_a_job_just_inside_the_deadline(mock, alice, settings):
    job = accepted_job(alice)
    add_status(mock, "processing")
    later = timezone.now() + timedelta(seconds=settings.APIXO_DEADLINE - 5)
    with time_machine.travel(later, tick=False):
        tasks.poll_job(job.pk)
    assert reload(job).state == S.PROCESSING


@pytest.mark.parametrize("state", [S.SUCCESS, S.FAILED, S.CANCELED, S.NEEDS_ATTENTION, S.QUEUED])
def test_it_ignores_a_job_that_is_not_in_flight_at_apixo(mock, alice, scheduled, state):
    job = make_job(alice, state=state, task_id=TASK_ID)
    tasks.poll_job(job.pk)
    assert len(mock.calls) == 0
    assert reload(job).state == state
    assert scheduled == []


def test_it_ignores_a_deleted_job(mock, alice, scheduled):
    job = accepted_job(alice)
    job_id = job.pk
    Job.objects.filter(pk=job_id).delete()
    tasks.poll_job(job_id)
    assert len(mock.calls) == 0
    assert scheduled == []


def test_it_fails_a_job_whose_result_is_gone(mock, alice):
    job = accepted_job(alice)
    add_status(mock, "success", resultJson=json.dumps({"resultUrls": [RESULT_URL]}))
    mock.add(responses.GET, RESULT_URL, status=404)
    tasks.poll_job(job.pk)
    job = reload(job)
    assert job.state == S.FAILED
    assert job.fail_code == "ResultUnavailable"


def test_it_fails_a_job_whose_result_is_not_an_image(mock, alice):
    job = accepted_job(alice)
    add_success(mock, body=b"<html>Access denied</html>")
    tasks.poll_job(job.pk)
    job = reload(job)
    assert job.state == S.FAILED
    assert job.fail_code == "ResultUnavailable"
    assert stored("results") == []


def test_it_polls_again_when_the_result_host_is_down(mock, alice, scheduled, settings):
    job = accepted_job(alice)
    add_status(mock, "success", resultJson=json.dumps({"resultUrls": [RESULT_URL]}))
    mock.add(responses.GET, RESULT_URL, status=503)
    tasks.poll_job(job.pk)
    assert reload(job).state == S.PENDING
    assert scheduled == [(tasks.poll_job, job.pk, settings.APIXO_POLL_INTERVAL, ())]


def test_it_fails_a_success_without_result_urls_without_claiming_no_charge(mock, alice):
    job = accepted_job(alice)
    add_status(mock, "success", resultJson=json.dumps({"resultUrls": []}))
    tasks.poll_job(job.pk)
    job = reload(job)
    assert (job.state, job.fail_code) == (S.FAILED, "ResultUnavailable")
    assert "Nothing was charged" not in job.advice
    assert Charge.objects.filter(job=job).count() == 1
