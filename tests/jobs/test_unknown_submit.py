"""A submit whose outcome is unknown is settled by code: sent again, the user charged once,
the possible second APIXO charge an operator cost (unit level; the kill -9 mid-submit is
in tests/integration/test_unknown_submit.py)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import responses
from django.http import StreamingHttpResponse
from django.test import Client
from django.urls import reverse

from jobs import recovery, tasks
from jobs.models import Budget, Charge, Job, OperatorCost
from tests.apixo_support import submit_url
from tests.conftest import make_job

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(30)]
S = Job.State


@pytest.fixture(autouse=True)
def polling(settings: Any) -> None:
    settings.SITE_URL = "https://upscaler.example.test"
    settings.APIXO_CALLBACKS = "off"
    settings.SUBMIT_UNKNOWN_RESENDS = 2


@pytest.fixture
def scheduled(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, int, float]]:
    calls: list[tuple[Any, int, float]] = []
    monkeypatch.setattr(tasks, "schedule", lambda f, pk, delay, *a: calls.append((f, pk, delay)))
    return calls


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield rsps


@pytest.fixture
def job(alice: Any) -> Job:
    assert alice.budget.reserve(1)
    return make_job(alice, S.QUEUED, source_url="https://images.example.com/a.jpg")


def _timeout(mock: responses.RequestsMock) -> None:
    mock.add(responses.POST, submit_url(), body=requests.ReadTimeout())


def _accept(mock: responses.RequestsMock, task_id: str = "task_2") -> None:
    mock.add(
        responses.POST,
        submit_url(),
        json={"code": 200, "message": "success", "data": {"taskId": task_id}},
    )


def _budget(job: Job) -> Budget:
    return Budget.objects.get(pk=job.budget_id)


def test_a_timed_out_submit_is_sent_again_and_charged_once(
    mock: responses.RequestsMock, job: Job, scheduled: list[Any]
) -> None:
    _timeout(mock)
    _accept(mock)
    tasks.submit_job(job.pk)
    job.refresh_from_db()
    assert job.state == S.QUEUED
    assert [s[0] for s in scheduled] == [tasks.submit_job]
    tasks.submit_job(job.pk)  # the resend the worker would run
    job.refresh_from_db()
    assert (job.state, job.task_id) == (S.PENDING, "task_2")
    assert [c.amount_cents for c in Charge.objects.filter(job=job)] == [1]
    [cost] = OperatorCost.objects.all()
    assert (cost.job_id, cost.job_code, cost.amount_cents) == (job.pk, job.code, 1)
    assert "did not answer in time" in cost.note
    budget = _budget(job)
    assert (budget.spent_cents, budget.reserved_cents) == (1, 0)
    assert job.charged_cents == 1  # the operator's cost is not the user's


def test_a_submit_unknown_too_often_waits_for_an_admin(
    mock: responses.RequestsMock, job: Job, scheduled: list[Any]
) -> None:
    for _ in range(3):
        _timeout(mock)
        tasks.submit_job(job.pk)
    job.refresh_from_db()
    assert job.state == S.NEEDS_ATTENTION
    assert "won't be charged more than once" in job.fail_msg
    assert len(scheduled) == 2  # two resends, then no more
    assert OperatorCost.objects.filter(job=job).count() == 3
    assert not Charge.objects.exists()
    assert _budget(job).reserved_cents == 1  # held until the admin decides


def test_a_resent_job_canceled_costs_the_user_nothing(
    mock: responses.RequestsMock, job: Job, scheduled: list[Any]
) -> None:
    _timeout(mock)
    tasks.submit_job(job.pk)
    job.refresh_from_db()
    assert job.cancel()
    assert not Charge.objects.exists()
    assert _budget(job).reserved_cents == 0
    assert OperatorCost.objects.filter(job=job).count() == 1  # APIXO may have billed it


def test_a_stuck_submit_is_settled_once(alice: Any, scheduled: list[Any], settings: Any) -> None:
    from datetime import timedelta

    from django.utils import timezone

    assert alice.budget.reserve(1)
    old = timezone.now() - timedelta(seconds=settings.SUBMIT_STUCK_AFTER + 5)
    job = make_job(alice, S.SUBMITTING, updated=old)
    assert recovery.reconcile()["resent"] == 1
    assert recovery.reconcile()["resent"] == 0
    assert OperatorCost.objects.filter(job=job).count() == 1
    assert "worker stopped" in OperatorCost.objects.get().note


def test_operator_costs_are_append_only(job: Job) -> None:
    cost = OperatorCost.objects.create(job=job, job_code=job.code, amount_cents=1)
    cost.note = "edited"
    with pytest.raises(ValueError, match="append-only"):
        cost.save()


def _costly_job(alice: Any) -> Job:
    job = make_job(alice, S.PENDING, task_id="t1")
    Charge.objects.create(job=job, job_code=job.code, budget=job.budget, user=alice, amount_cents=1)
    OperatorCost.objects.create(job=job, job_code=job.code, amount_cents=1, note="lost answer")
    return job


def test_the_spend_page_shows_operator_costs_apart_from_user_charges(
    staff_client: Client, alice: Any
) -> None:
    job = _costly_job(alice)
    page = staff_client.get(reverse("spend")).content.decode()
    assert '<span id="range-total">$0.01</span> in user charges' in page
    assert '<span id="range-operator-total">$0.01</span> in operator costs' in page
    assert 'id="operator-costs"' in page and "lost answer" in page
    assert str(job.code)[:6] in page


def test_the_csv_lists_operator_costs_after_user_charges(staff_client: Client, alice: Any) -> None:
    job = _costly_job(alice)
    r = staff_client.get(reverse("spend_csv"))
    assert isinstance(r, StreamingHttpResponse)
    rows = list(csv.DictReader(io.StringIO(b"".join(r.streaming_content).decode())))
    assert [(row["paid_by"], row["kind"], row["amount_cents"]) for row in rows] == [
        ("user", "charge", "1"),
        ("operator", "unknown_submit", "1"),
    ]
    assert rows[1]["job"] == str(job.code) and rows[1]["user"] == ""
