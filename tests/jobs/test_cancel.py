"""Canceling a job before it is submitted (Job.cancel, as the task sees it)."""

from __future__ import annotations

from jobs.models import Charge
from tests.jobs.tasks_support import (
    TASK_MARKS,
    S,
    accepted_job,
    budget_of,
    reload,
)

pytestmark = TASK_MARKS


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
