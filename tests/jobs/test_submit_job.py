"""jobs.tasks.submit_job: submitting to APIXO, charging on acceptance, refusals, rate limits, timeouts."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import requests
import time_machine
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import resolve
from django.utils import timezone
from responses import matchers

from jobs import tasks, throttle
from jobs.models import Charge
from tests.apixo_support import auth
from tests.conftest import image_bytes, make_job
from tests.jobs.tasks_support import (
    SOURCE_URL,
    TASK_ID,
    TASK_MARKS,
    S,
    add_submit,
    add_submit_error,
    budget_of,
    reload,
)

pytestmark = TASK_MARKS


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


def test_it_sends_a_job_whose_submit_timed_out_again(mock, job, scheduled):
    add_submit(mock, body=requests.ReadTimeout())
    tasks.submit_job(job.pk)
    job = reload(job)
    assert job.state == S.QUEUED
    assert [s[0] for s in scheduled] == [tasks.submit_job]


def test_it_keeps_the_reservation_of_a_timed_out_submit(mock, job):
    add_submit(mock, body=requests.ReadTimeout())
    tasks.submit_job(job.pk)
    assert not Charge.objects.exists()
    budget = budget_of(job)
    assert (budget.spent_cents, budget.reserved_cents) == (0, 1)


def test_it_sends_a_job_accepted_without_a_task_id_again(mock, job):
    add_submit(mock, json={"code": 200, "message": "success", "data": {}})
    tasks.submit_job(job.pk)
    assert reload(job).state == S.QUEUED
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
