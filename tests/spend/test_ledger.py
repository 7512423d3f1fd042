"""The ledger is append-only."""

from __future__ import annotations

from typing import Any

import pytest

from jobs.models import Charge, Job
from tests.conftest import make_job

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(30)]


def test_the_ledger_is_append_only(alice: Any) -> None:
    assert alice.budget.reserve(1)
    job = make_job(alice, Job.State.SUBMITTING)
    assert job.accept("task_1")
    charge = Charge.objects.get(job=job)
    charge.amount_cents = 0
    with pytest.raises(ValueError, match="append-only"):
        charge.save()
