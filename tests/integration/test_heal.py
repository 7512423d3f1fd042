"""Faults that heal by themselves within 60 s: a flushed Redis, a killed worker, a Redis
outage. Real Redis, a real RQ worker and cron process, the real engine.

Each test prints the recovery time it measured (`pytest -s`); docs/performance.md has
the table.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import redis
from django.test import Client

from jobs.models import Budget, Charge, Job
from tests.conftest import make_user

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(150),
]
S = Job.State
FAST_RECONCILE = {
    "RECONCILE_INTERVAL": "1",
    "RECONCILE_GRACE": "2",
    "RECONCILE_QUEUED_GRACE": "4",
}


def _healthz() -> tuple[int, dict[str, Any]]:
    r = Client().get("/healthz")
    return r.status_code, r.json()


def _seconds_until(predicate: Callable[[], bool], limit: float, what: str) -> float:
    start = time.monotonic()
    while time.monotonic() - start < limit:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.25)
    raise AssertionError(f"{what}: not within {limit} s")


def _green() -> bool:
    status, body = _healthz()
    return status == 200 and body["reconciler"] == "ok"


def _submit(user: Any, url: str, **form: str) -> Any:
    client = Client()
    client.force_login(user)
    data = {"urls": url, "resolution": "2k", "output_format": "jpg", "key": str(uuid.uuid4())}
    return client.post("/jobs/", {**data, **form})


def _wait_done(user: Any, seconds: float) -> list[Job]:
    _seconds_until(
        lambda: all(j.state not in Job.IN_FLIGHT for j in Job.objects.filter(user=user)),
        seconds,
        "every job finished",
    )
    return list(Job.objects.filter(user=user))


def _charged_once_each(user: Any, n: int) -> None:
    assert Charge.objects.filter(user=user).count() == n
    assert Charge.objects.filter(user=user).values("job").distinct().count() == n
    budget = Budget.objects.get(user=user)
    assert (budget.spent_cents, budget.reserved_cents) == (n, 0)


def test_healthz_is_green_within_60_s_of_a_flushall_while_the_worker_works(
    start_worker: Any, start_process: Any, engine: str, redis_url: str
) -> None:
    start_worker(**FAST_RECONCILE)
    start_process("runcron", **FAST_RECONCILE)
    _seconds_until(_green, 30, "/healthz green at start")
    redis.Redis.from_url(redis_url).flushall()
    assert _healthz()[0] == 503  # until the next heartbeats
    took = _seconds_until(_green, 60, "/healthz green again after FLUSHALL")
    print(f"\n/healthz green again {took:.1f} s after FLUSHALL")
    user = make_user("flora")
    assert _submit(user, f"{engine}/samples/logo.png").status_code == 302
    [job] = _wait_done(user, 40)
    assert job.state == S.SUCCESS, (job.fail_code, job.fail_msg)
    _charged_once_each(user, 1)


def test_a_worker_killed_with_sigkill_is_reported_dead_within_60_s(
    start_worker: Any, start_process: Any
) -> None:
    worker = start_worker()
    start_process("runcron")
    _seconds_until(_green, 30, "/healthz green at start")
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(10)
    took = _seconds_until(
        lambda: _healthz()[1]["checks"]["worker"] == "no worker with a recent heartbeat",
        60,
        "the dead worker reported",
    )
    print(f"\nkill -9'd worker reported dead after {took:.1f} s")
    assert _healthz()[0] == 503
    assert _healthz()[1]["reconciler"] == "ok"
