"""Quota under concurrency, on real transactions (not the test-wrapping one)."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from django.db import connection

from jobs.models import Budget, Job
from jobs.submit import QuotaExceeded, Source, submit_batch
from tests.conftest import make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


def _race(n: int, work: Any) -> list[Any]:
    """Run work(i) in n threads started together; return what each returned or raised."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as e:  # noqa: BLE001 - the caller inspects it
            results[i] = e
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_two_threads_reserving_the_last_cent_one_wins() -> None:
    user = make_user("racer", quota=1)
    budget = Budget.objects.get(user=user)
    results = _race(2, lambda i: Budget.objects.get(pk=budget.pk).reserve(1))
    assert sorted(results) == [False, True]
    budget.refresh_from_db()
    assert budget.reserved_cents == 1


def test_concurrent_batches_never_overspend() -> None:
    user = make_user("busy", quota=5)
    budget = Budget.objects.get(user=user)

    def submit(i: int) -> Any:
        sources = [
            Source(name=f"{i}-{n}.jpg", url=f"https://images.example.com/{i}/{n}.jpg")
            for n in range(2)
        ]
        return submit_batch(
            user, Budget.objects.get(pk=budget.pk), uuid.uuid4(), sources, "2k", "jpg"
        )

    results = _race(8, submit)
    accepted = [r for r in results if isinstance(r, tuple)]
    refused = [r for r in results if isinstance(r, QuotaExceeded)]
    assert len(accepted) == 2 and len(refused) == 6, results
    budget.refresh_from_db()
    assert budget.reserved_cents == 4
    assert Job.objects.filter(user=user).count() == 4
