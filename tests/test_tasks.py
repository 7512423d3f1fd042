"""Tests for jobs/tasks.py: fetching sources, submitting, polling, and keeping results.

The task functions are called directly. `schedule` is replaced by a recorder, so what a
task would enqueue for later is asserted without Redis. HTTP is mocked with `responses`
at APIXO's boundary (the exact documented URLs) and at the image hosts, whose names
resolve to a public address through a patched `lib.fetch._resolve`.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import responses
import time_machine
from django.conf import settings as django_settings
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.urls import resolve
from django.utils import timezone
from PIL import Image
from responses import matchers

from jobs import tasks, throttle
from jobs.advice import GENERIC
from jobs.models import Budget, Charge, Job
from lib import fetch
from tests.apixo_support import auth, status_url, submit_url
from tests.conftest import image_bytes, make_job

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(30)]

S = Job.State
TASK_ID = "task_abc123"
SOURCE_URL = "https://images.example.com/photo.jpg"
RESULT_URL = "https://cdn.example.test/out.jpg"


# --- fixtures and helpers ----------------------------------------------------------------


@pytest.fixture(autouse=True)
def apixo_settings(settings: Any) -> Any:
    # Distinct values, so an assertion can tell which one a task used.
    settings.APIXO_FIRST_POLL = 12
    settings.APIXO_POLL_INTERVAL = 7
    settings.APIXO_POLL_INTERVAL_8K = 15
    settings.APIXO_BACKOFF_BASE = 5
    settings.APIXO_BACKOFF_MAX = 120
    settings.APIXO_DEADLINE = 1800
    settings.APIXO_SUBMIT_ATTEMPTS = 3
    settings.SITE_URL = "https://upscaler.example.test"
    settings.APIXO_CALLBACKS = "off"  # polling mode; callback mode has tests of its own
    return settings


@pytest.fixture(autouse=True)
def scheduled(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, int, float, tuple[Any, ...]]]:
    """What the tasks scheduled for later: (function, job id, delay, extra args)."""
    calls: list[tuple[Any, int, float, tuple[Any, ...]]] = []

    def record(func: Any, job_id: int, delay: float, *args: Any) -> None:
        calls.append((func, job_id, delay, args))

    monkeypatch.setattr(tasks, "schedule", record)
    return calls


@pytest.fixture(autouse=True)
def public_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every image host resolves to a global address, so downloads pass the SSRF check."""
    monkeypatch.setattr(fetch, "_resolve", lambda host, port: ["93.184.216.34"])


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield rsps


def add_submit(mock: responses.RequestsMock, **kwargs: Any) -> None:
    if "body" not in kwargs:
        kwargs.setdefault("json", {"code": 200, "message": "success", "data": {"taskId": TASK_ID}})
    mock.add(responses.POST, submit_url(), **kwargs)


def add_submit_error(mock: responses.RequestsMock, status: int, message: str = "no") -> None:
    add_submit(mock, status=status, json={"code": status, "message": message})


def add_status(mock: responses.RequestsMock, state: str, **fields: Any) -> None:
    data = {"taskId": TASK_ID, "state": state, "createTime": 1764000000000, **fields}
    mock.add(
        responses.GET,
        status_url(),
        match=[matchers.query_param_matcher({"taskId": TASK_ID}), auth()],
        json={"code": 200, "message": "success", "data": data},
    )


def add_success(
    mock: responses.RequestsMock, body: bytes | None = None, **result_json: Any
) -> bytes:
    """APIXO reports success, and its CDN serves a 2048x1365 JPEG. Return the JPEG."""
    result = image_bytes(size=(2048, 1365)) if body is None else body
    add_status(
        mock,
        "success",
        resultJson=json.dumps({"resultUrls": [RESULT_URL], **result_json}),
        completeTime=1764000021000,
        costTime=21000,
    )
    mock.add(responses.GET, RESULT_URL, body=result, content_type="image/jpeg")
    return result


def accepted_job(user: Any, **fields: Any) -> Job:
    """A job APIXO accepted (task TASK_ID), charged its 1 cent as submit_job leaves it."""
    assert user.budget.reserve(1)
    job = make_job(user, state=S.SUBMITTING, **fields)
    assert job.accept(TASK_ID)
    return job


def budget_of(job: Job) -> Budget:
    return Budget.objects.get(pk=job.budget_id)


def stored(folder: str) -> list[str]:
    path = os.path.join(django_settings.MEDIA_ROOT, folder)
    return os.listdir(path) if os.path.isdir(path) else []


def reload(job: Job) -> Job:
    return Job.objects.get(pk=job.pk)


# --- submit_job --------------------------------------------------------------------------


def test_it_submits_the_job_to_apixo(mock, job):
    add_submit(
        mock,
        match=[
            auth(),
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
            ),
        ],
    )
    tasks.submit_job(job.pk)
    job = reload(job)
    assert job.state == S.PENDING
    assert job.task_id == TASK_ID
    assert job.submitted_at is not None


def test_it_charges_one_cent_on_acceptance(mock, job):
    add_submit(mock)
    tasks.submit_job(job.pk)
    assert [c.amount_cents for c in Charge.objects.filter(job=job)] == [1]
    budget = budget_of(job)
    assert (budget.spent_cents, budget.reserved_cents) == (1, 0)


def test_it_schedules_the_first_poll(mock, job, scheduled, settings):
    add_submit(mock)
    tasks.submit_job(job.pk)
    assert scheduled == [(tasks.poll_job, job.pk, settings.APIXO_FIRST_POLL, ())]


def test_it_charges_once_when_accepted_twice(mock, job):
    add_submit(mock)
    tasks.submit_job(job.pk)
    assert not reload(job).accept("task_again")
    assert Charge.objects.filter(job=job).count() == 1
    budget = budget_of(job)
    assert (budget.spent_cents, budget.reserved_cents) == (1, 0)


def test_it_submits_a_job_only_once(mock, job, scheduled):
    add_submit(mock)
    tasks.submit_job(job.pk)
    tasks.submit_job(job.pk)
    assert len(mock.calls) == 1
    assert Charge.objects.filter(job=job).count() == 1
    assert len(scheduled) == 1


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, "Rejected"), (401, "Unauthorized"), (402, "InsufficientBalance"), (403, "Forbidden")],
)
def test_it_fails_a_job_apixo_refuses(mock, job, status, code):
    add_submit_error(mock, status, "Invalid mode type. Supported: image-to-image")
    tasks.submit_job(job.pk)
    job = reload(job)
    assert job.state == S.FAILED
    assert job.fail_code == code
    assert "Invalid mode type" in job.fail_msg
    assert job.finished_at is not None


def test_it_does_not_charge_a_refused_job(mock, job):
    add_submit_error(mock, 400)
    tasks.submit_job(job.pk)
    assert not Charge.objects.exists()
    budget = budget_of(job)
    assert (budget.spent_cents, budget.reserved_cents) == (0, 0)


def test_it_does_not_retry_a_refused_job(mock, job, scheduled):
    add_submit_error(mock, 402)
    tasks.submit_job(job.pk)
    assert scheduled == []


def test_it_requeues_a_rate_limited_submit(mock, job):
    add_submit_error(mock, 429, "Too many requests")
    tasks.submit_job(job.pk)
    job = reload(job)
    assert job.state == S.QUEUED
    assert job.submit_attempts == 1
    assert not Charge.objects.exists()
    assert budget_of(job).reserved_cents == 1


def test_it_schedules_a_submit_retry_with_backoff(mock, job, scheduled, settings):
    add_submit_error(mock, 429)
    tasks.submit_job(job.pk)
    [(func, job_id, delay, args)] = scheduled
    assert (func, job_id, args) == (tasks.submit_job, job.pk, ())
    assert settings.APIXO_BACKOFF_BASE / 2 <= delay <= settings.APIXO_BACKOFF_BASE


def test_it_backs_off_longer_on_each_rate_limited_submit(mock, job, scheduled, settings):
    add_submit_error(mock, 429)
    tasks.submit_job(job.pk)
    cache.delete(throttle.SLOWDOWN_KEY)  # as if the pause had passed
    tasks.submit_job(job.pk)
    second = scheduled[1][2]
    assert settings.APIXO_BACKOFF_BASE <= second <= 2 * settings.APIXO_BACKOFF_BASE


def test_it_never_fails_a_job_for_429s_alone(mock, job, scheduled, settings):
    add_submit_error(mock, 429)
    for _ in range(settings.APIXO_SUBMIT_ATTEMPTS + 2):
        cache.delete(throttle.SLOWDOWN_KEY)  # as if each pause had passed
        tasks.submit_job(job.pk)
    job = reload(job)
    assert len(mock.calls) == settings.APIXO_SUBMIT_ATTEMPTS + 2
    assert job.state == S.QUEUED
    assert [func for func, *_ in scheduled] == [tasks.submit_job] * (
        settings.APIXO_SUBMIT_ATTEMPTS + 2
    )
    assert budget_of(job).reserved_cents == 1


def test_it_makes_every_worker_hold_back_after_a_429(mock, alice, scheduled):
    assert alice.budget.reserve(2)
    first, second = make_job(alice), make_job(alice)
    add_submit_error(mock, 429)
    tasks.submit_job(first.pk)
    tasks.submit_job(second.pk)  # told nothing itself, but waits with the first
    assert len(mock.calls) == 1
    assert reload(second).state == S.QUEUED
    (func, job_id, delay, _) = scheduled[-1]
    assert (func, job_id) == (tasks.submit_job, second.pk) and delay > 0


def test_it_fails_a_rate_limited_job_past_the_deadline(mock, job, settings):
    add_submit_error(mock, 429)
    with time_machine.travel(timezone.now() + timedelta(seconds=settings.APIXO_DEADLINE + 1)):
        tasks.submit_job(job.pk)
    job = reload(job)
    assert (job.state, job.fail_code) == (S.FAILED, "RateLimited")
    budget = budget_of(job)
    assert (budget.spent_cents, budget.reserved_cents) == (0, 0)


def test_it_fails_a_job_apixo_cannot_take_on_any_attempt(mock, job, settings):
    add_submit_error(mock, 502, "Bad gateway")
    for _ in range(settings.APIXO_SUBMIT_ATTEMPTS):
        tasks.submit_job(job.pk)
    job = reload(job)
    assert job.state == S.FAILED
    assert job.fail_code == "Unavailable"
    assert budget_of(job).reserved_cents == 0


def test_it_retries_a_refused_connection(mock, job, scheduled):
    add_submit(mock, body=requests.ConnectionError())
    tasks.submit_job(job.pk)
    assert reload(job).state == S.QUEUED
    assert [s[0] for s in scheduled] == [tasks.submit_job]


def test_it_holds_a_job_whose_submit_timed_out_for_an_admin(mock, job, scheduled):
    add_submit(mock, body=requests.ReadTimeout())
    tasks.submit_job(job.pk)
    job = reload(job)
    assert job.state == S.NEEDS_ATTENTION
    assert job.fail_msg
    assert scheduled == []


def test_it_keeps_the_reservation_of_a_timed_out_submit(mock, job):
    add_submit(mock, body=requests.ReadTimeout())
    tasks.submit_job(job.pk)
    assert not Charge.objects.exists()
    budget = budget_of(job)
    assert (budget.spent_cents, budget.reserved_cents) == (0, 1)


def test_it_holds_a_job_accepted_without_a_task_id(mock, job):
    add_submit(mock, json={"code": 200, "message": "success", "data": {}})
    tasks.submit_job(job.pk)
    assert reload(job).state == S.NEEDS_ATTENTION
    assert budget_of(job).reserved_cents == 1


def test_it_does_not_submit_a_canceled_job(mock, job):
    assert job.cancel()
    tasks.submit_job(job.pk)
    tasks.start_job(job.pk)
    assert len(mock.calls) == 0
    assert reload(job).state == S.CANCELED
    assert not Charge.objects.exists()


def test_it_submits_an_upload_through_a_signed_url(mock, alice, settings):
    assert alice.budget.reserve(1)
    name = default_storage.save("sources/up.jpg", ContentFile(image_bytes()))
    job = make_job(alice, source_url="", source_file=name)
    add_submit(mock)
    tasks.start_job(job.pk)
    sent = json.loads(mock.calls[0].request.body)["input"]["image_urls"][0]
    assert sent.startswith(settings.SITE_URL + "/")
    token = resolve(urlsplit(sent).path).kwargs["token"]
    assert tasks.job_code_from_token(token) == str(job.code)
    assert reload(job).state == S.PENDING


def test_it_refuses_a_tampered_source_token(job):
    assert tasks.job_code_from_token("x" + tasks.source_token(job)) is None


def test_it_refuses_an_expired_source_token(job, settings):
    token = tasks.source_token(job)
    later = timezone.now() + timedelta(seconds=settings.SOURCE_URL_MAX_AGE + 5)
    with time_machine.travel(later, tick=False):
        assert tasks.job_code_from_token(token) is None


# --- start_job: URL sources --------------------------------------------------------------


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


# --- poll_job ----------------------------------------------------------------------------


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


# --- backoff -----------------------------------------------------------------------------


def test_it_doubles_the_backoff_on_each_attempt(monkeypatch, settings):
    monkeypatch.setattr(random, "uniform", lambda low, high: high)
    assert [tasks.backoff(n) for n in (1, 2, 3, 4)] == [5, 10, 20, 40]


def test_it_caps_the_backoff(monkeypatch, settings):
    monkeypatch.setattr(random, "uniform", lambda low, high: high)
    assert tasks.backoff(6) == settings.APIXO_BACKOFF_MAX
    assert tasks.backoff(60) == settings.APIXO_BACKOFF_MAX


def test_it_jitters_the_backoff_within_half_to_full(settings):
    delays = [tasks.backoff(3) for _ in range(50)]
    ceiling = settings.APIXO_BACKOFF_BASE * 4
    assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert len(set(delays)) > 1


# --- cancel ------------------------------------------------------------------------------


def test_it_cancels_a_queued_job_and_releases_its_reservation(job):
    assert job.cancel()
    assert reload(job).state == S.CANCELED
    budget = budget_of(job)
    assert (budget.spent_cents, budget.reserved_cents) == (0, 0)


def test_it_does_not_cancel_a_submitted_job(alice):
    job = accepted_job(alice)
    assert not job.cancel()
    assert reload(job).state == S.PENDING
    budget = budget_of(job)
    assert (budget.spent_cents, budget.reserved_cents) == (1, 0)
    assert Charge.objects.filter(job=job).count() == 1


def test_it_cancels_a_job_only_once(job):
    assert job.cancel()
    assert not reload(job).cancel()
    assert budget_of(job).reserved_cents == 0


def test_it_fails_a_success_without_result_urls_without_claiming_no_charge(mock, alice):
    job = accepted_job(alice)
    add_status(mock, "success", resultJson=json.dumps({"resultUrls": []}))
    tasks.poll_job(job.pk)
    job = reload(job)
    assert (job.state, job.fail_code) == (S.FAILED, "ResultUnavailable")
    assert "Nothing was charged" not in job.advice
    assert Charge.objects.filter(job=job).count() == 1
