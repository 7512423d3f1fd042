"""The reconciler, the circuit breaker, the 429 slow-down and the submit slots (unit level;
tests/integration/test_recovery.py kills real workers and flushes a real Redis)."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
import responses
from django.conf import settings as django_settings
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from jobs import recovery, tasks, throttle
from jobs.models import Charge, Job
from tests.apixo_support import status_url, submit_url
from tests.conftest import make_job

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(30)]
S = Job.State


@pytest.fixture
def scheduled(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, int, float]]:
    calls: list[tuple[Any, int, float]] = []
    real = tasks.schedule

    def record(func: Any, job_id: int, delay: float, *args: Any) -> None:
        calls.append((func, job_id, delay))
        Job.objects.filter(pk=job_id).update(
            next_check_at=timezone.now() + timedelta(seconds=delay)
        )

    monkeypatch.setattr(tasks, "schedule", record)
    assert real is not record
    return calls


@pytest.fixture
def mock() -> Any:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as m:
        yield m


def _ago(seconds: float) -> Any:
    return timezone.now() - timedelta(seconds=seconds)


# --- the reconciler -------------------------------------------------------------------------


def test_it_polls_again_a_job_whose_poll_was_lost(
    alice: Any, scheduled: list[Any], settings: Any
) -> None:
    lost = make_job(
        alice, S.PROCESSING, task_id="t1", next_check_at=_ago(settings.RECONCILE_GRACE + 5)
    )
    on_time = make_job(alice, S.PROCESSING, task_id="t2", next_check_at=_ago(1))
    counts = recovery.reconcile()
    assert counts["polled"] == 1
    assert scheduled == [(tasks.poll_job, lost.pk, 0)]
    on_time.refresh_from_db()
    assert on_time.state == S.PROCESSING


def test_it_restarts_a_queued_job_whose_start_was_lost(
    alice: Any, scheduled: list[Any], settings: Any
) -> None:
    lost = make_job(alice, S.QUEUED, next_check_at=_ago(settings.RECONCILE_QUEUED_GRACE + 5))
    make_job(alice, S.QUEUED, next_check_at=_ago(settings.RECONCILE_GRACE + 5))  # just a long queue
    recovery.reconcile()
    assert scheduled == [(tasks.start_job, lost.pk, 0)]


def test_it_does_not_enqueue_the_same_job_again_right_away(
    alice: Any, scheduled: list[Any], settings: Any
) -> None:
    make_job(alice, S.PENDING, task_id="t1", next_check_at=_ago(settings.RECONCILE_GRACE + 5))
    recovery.reconcile()
    recovery.reconcile()
    assert len(scheduled) == 1


def test_it_sends_a_job_stuck_in_submitting_again(
    alice: Any, scheduled: list[Any], settings: Any
) -> None:
    assert alice.budget.reserve(1)
    stuck = make_job(alice, S.SUBMITTING, updated=_ago(settings.SUBMIT_STUCK_AFTER + 5))
    assert recovery.reconcile()["resent"] == 1
    stuck.refresh_from_db()
    alice.budget.refresh_from_db()
    assert stuck.state == S.QUEUED
    assert scheduled == [(tasks.submit_job, stuck.pk, 0)]
    assert not Charge.objects.exists()
    assert alice.budget.reserved_cents == 1  # the held reservation pays for the resend


def test_it_leaves_a_submit_in_progress_alone(alice: Any, scheduled: list[Any]) -> None:
    assert alice.budget.reserve(1)
    busy = make_job(alice, S.SUBMITTING)
    recovery.reconcile()
    busy.refresh_from_db()
    assert busy.state == S.SUBMITTING


def test_schedule_records_when_work_is_due(alice: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, Any]] = []

    class Queue:
        def enqueue_at(self, when: Any, *args: Any, **options: Any) -> None:
            calls.append(("later", when))

        def enqueue(self, *args: Any, **options: Any) -> None:
            calls.append(("now", None))

    monkeypatch.setattr(tasks, "_queue", Queue)
    job = make_job(alice, S.PENDING)
    tasks.schedule(tasks.poll_job, job.pk, 30.3)
    job.refresh_from_db()
    due = job.next_check_at
    assert due is not None
    assert 25 < (due - timezone.now()).total_seconds() <= 30.3
    # RQ keeps whole seconds (rounding down): the time handed to it is the due time rounded
    # up, so the work never runs before it is due.
    [(kind, at)] = calls
    assert kind == "later" and at.microsecond == 0
    assert timedelta(0) <= at - due < timedelta(seconds=1)


def test_work_due_now_skips_rqs_scheduler(alice: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    class Queue:
        def enqueue_at(self, *args: Any, **options: Any) -> None:
            calls.append("later")

        def enqueue(self, *args: Any, **options: Any) -> None:
            calls.append("now")

    monkeypatch.setattr(tasks, "_queue", Queue)
    tasks.schedule(tasks.poll_job, make_job(alice, S.PENDING).pk, 0)
    assert calls == ["now"]


# --- the circuit breaker --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code"), [(401, "Unauthorized"), (402, "InsufficientBalance"), (403, "Forbidden")]
)
def test_a_refused_key_fails_the_job_and_stops_further_calls(
    alice: Any,
    mock: Any,
    scheduled: list[Any],
    status: int,
    code: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert alice.budget.reserve(2)
    first, second = make_job(alice), make_job(alice)
    mock.add(responses.POST, submit_url(), status=status, json={"code": status, "message": "no"})
    tasks.submit_job(first.pk)
    tasks.submit_job(second.pk)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.state, first.fail_code) == (S.FAILED, code)
    assert second.state == S.QUEUED  # waits instead of hammering APIXO
    assert len(mock.calls) == 1
    assert scheduled[-1][:2] == (tasks.submit_job, second.pk)
    assert scheduled[-1][2] >= django_settings.APIXO_BREAKER_SECONDS - 5
    assert "APIXO refused us" in caplog.text


def test_the_breaker_closes_after_its_cool_off(alice: Any, mock: Any, scheduled: list[Any]) -> None:
    throttle.open_breaker(401, "Invalid or missing API key")
    cache.delete(throttle.BREAKER_KEY)  # as the cache expiry does
    assert alice.budget.reserve(1)
    job = make_job(alice)
    mock.add(
        responses.POST,
        submit_url(),
        json={"code": 200, "message": "success", "data": {"taskId": "t"}},
    )
    tasks.submit_job(job.pk)
    job.refresh_from_db()
    assert job.state == S.PENDING


def test_a_poll_refused_by_the_breaker_keeps_the_paid_job(
    alice: Any, mock: Any, scheduled: list[Any]
) -> None:
    job = make_job(alice, S.PENDING, task_id="task_1")
    mock.add(
        responses.GET,
        status_url(),
        status=401,
        json={"code": 401, "message": "Invalid or missing API key"},
    )
    tasks.poll_job(job.pk)
    job.refresh_from_db()
    assert job.state == S.PENDING
    assert scheduled[-1][:2] == (tasks.poll_job, job.pk)
    assert throttle.breaker() is not None


def test_staff_see_the_breaker_alert(client: Client, alice: Any) -> None:
    throttle.open_breaker(401, "Invalid or missing API key")
    alice.is_staff = True
    alice.save()
    client.force_login(alice)
    body = client.get("/").content.decode()
    assert "APIXO is refusing our requests" in body
    assert "Invalid or missing API key" in body


def test_non_staff_see_a_plain_notice(alice_client: Client) -> None:
    throttle.open_breaker(402, "Insufficient balance")
    body = alice_client.get("/").content.decode()
    assert "Insufficient balance" not in body
    assert "Submissions are paused" in body


# --- in-flight slots ----------------------------------------------------------------------


def test_a_full_set_of_slots_makes_submits_wait(
    alice: Any, mock: Any, scheduled: list[Any], settings: Any
) -> None:
    settings.APIXO_MAX_SUBMITS_IN_FLIGHT = 1
    held = throttle.acquire_slot()
    assert held is not None
    assert throttle.acquire_slot() is None
    assert alice.budget.reserve(1)
    job = make_job(alice)
    tasks.submit_job(job.pk)
    assert len(mock.calls) == 0
    assert scheduled[-1][:2] == (tasks.submit_job, job.pk)
    throttle.release_slot(held)
    assert throttle.acquire_slot() is not None


def test_a_slot_whose_holder_died_is_reclaimed(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:

    settings.APIXO_MAX_SUBMITS_IN_FLIGHT = 1
    assert throttle.acquire_slot() is not None
    later = time.time() + throttle.SLOT_LEASE_SECONDS + 1
    monkeypatch.setattr(time, "time", lambda: later)
    assert throttle.acquire_slot() is not None


# --- an admin resolves needs_attention ------------------------------------------------------


@pytest.fixture
def attention(alice: Any) -> Job:
    assert alice.budget.reserve(1)
    return make_job(alice, S.NEEDS_ATTENTION, fail_msg="outcome unknown")


def _admin_client(alice: Any) -> Client:
    alice.is_staff = alice.is_superuser = True
    alice.save()
    client = Client()
    client.force_login(alice)
    return client


def test_an_admin_can_fail_a_lost_submit_and_release_it(alice: Any, attention: Job) -> None:
    r = _admin_client(alice).post(
        "/admin/jobs/job/", {"action": "fail_and_release", "_selected_action": [attention.pk]}
    )
    assert r.status_code == 302
    attention.refresh_from_db()
    alice.budget.refresh_from_db()
    assert attention.state == S.FAILED
    assert "never received" in attention.fail_msg
    assert alice.budget.reserved_cents == 0
    assert not Charge.objects.exists()


def test_an_admin_can_send_a_lost_submit_again(
    alice: Any,
    attention: Job,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[int] = []
    monkeypatch.setattr(tasks, "enqueue_start", started.append)
    with django_capture_on_commit_callbacks(execute=True):
        _admin_client(alice).post(
            "/admin/jobs/job/", {"action": "requeue", "_selected_action": [attention.pk]}
        )
    attention.refresh_from_db()
    alice.budget.refresh_from_db()
    assert attention.state == S.QUEUED
    assert started == [attention.pk]
    assert alice.budget.reserved_cents == 1  # the held reservation pays for the new try


def test_the_admin_never_shows_the_callback_secret(alice: Any, attention: Job) -> None:
    body = _admin_client(alice).get(f"/admin/jobs/job/{attention.pk}/change/").content.decode()
    assert attention.callback_secret not in body
