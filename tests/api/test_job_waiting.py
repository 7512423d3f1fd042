"""The API's job JSON says what a queued job waits for and when an in-flight job should be
done, as the gallery's cards do (api.serializers.job_json: `waiting`, `eta`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from jobs.models import Job
from tests.api.test_api import api_client
from tests.conftest import make_job
from tests.jobs.test_progress import finished

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(30)]

S = Job.State


@pytest.fixture
def api(alice: Any) -> Client:
    return api_client(alice)


def get(api: Client, job: Job) -> Any:
    r = api.get(f"/api/v1/jobs/{job.code}")
    assert r.status_code == 200
    return r.json()


def test_a_busy_job_says_what_it_waits_for_and_when_the_next_try_is(
    api: Client, alice: Any, settings: Any
) -> None:
    settings.APIXO_SUBMIT_ATTEMPTS = 8
    until = timezone.now() + timedelta(seconds=40)
    job = make_job(
        alice, S.QUEUED, wait_reason=Job.Wait.BUSY, submit_attempts=1, next_check_at=until
    )
    waiting = get(api, job)["waiting"]
    assert waiting["reason"] == "busy"
    assert waiting["text"] == "APIXO is busy: try 2 of 8"
    assert datetime.fromisoformat(waiting["next_try_at"]) == until


def test_a_job_waiting_for_a_slot_has_no_next_try_time(api: Client, alice: Any) -> None:
    job = make_job(
        alice,
        S.QUEUED,
        wait_reason=Job.Wait.SLOT,
        next_check_at=timezone.now() + timedelta(seconds=2),
    )
    assert get(api, job)["waiting"] == {
        "reason": "slot",
        "text": "Waiting for a free slot",
        "next_try_at": None,
    }


def test_a_job_waiting_for_nothing_in_particular_says_null(api: Client, alice: Any) -> None:
    assert get(api, make_job(alice, S.QUEUED))["waiting"] is None
    # a finished job waits for nothing, whatever reason its last wait left behind
    done = make_job(alice, S.FAILED, wait_reason=Job.Wait.BUSY)
    assert get(api, done)["waiting"] is None


def test_an_in_flight_job_carries_its_learnt_eta_and_the_list_does_too(
    api: Client, alice: Any
) -> None:
    finished(alice, 5, 20)  # the site learnt 2k: 21 s from submit to success
    sent = timezone.now() - timedelta(seconds=5)
    job = make_job(alice, S.PENDING, submitted_at=sent)
    with time_machine.travel(timezone.now(), tick=False):
        eta = datetime.fromisoformat(get(api, job)["eta"])
        listed = {j["id"]: j for j in api.get("/api/v1/jobs").json()["jobs"]}
    assert eta == sent + timedelta(seconds=21)
    assert listed[str(job.code)]["eta"] == eta.isoformat()
    assert all(j["eta"] is None for code, j in listed.items() if code != str(job.code))


def test_no_eta_without_data_or_once_done(api: Client, alice: Any) -> None:
    job = make_job(alice, S.PENDING, submitted_at=timezone.now())
    assert get(api, job)["eta"] is None  # nothing learnt for the tier yet
    finished(alice, 5, 20)
    assert get(api, job)["eta"] is not None
    Job.objects.filter(pk=job.pk).update(state=S.SUCCESS, finished_at=timezone.now())
    assert get(api, job)["eta"] is None


def test_a_paused_job_has_a_waiting_state_but_no_eta(api: Client, alice: Any) -> None:
    finished(alice, 5, 20)
    job = make_job(
        alice,
        S.QUEUED,
        wait_reason=Job.Wait.PAUSED,
        next_check_at=timezone.now() + timedelta(minutes=5),
    )
    body = get(api, job)
    assert body["waiting"]["reason"] == "paused"
    assert body["waiting"]["next_try_at"] is not None
    assert body["eta"] is None
