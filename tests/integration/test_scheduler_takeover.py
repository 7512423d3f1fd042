"""RQ's scheduler moves delayed work (polls, backoff retries) onto the queue, and only the
worker holding its lock runs it. Kill that worker with kill -9 and another takes over
within 60 s, not when the dead lock expires (jobs.heartbeat.clear_stale_scheduler_lock).

Real Redis, two real workers, the real engine; no reconciler, so nothing but the
scheduler can run the retry. Prints what it measured (`pytest -s`).
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis
from django.test import Client

from jobs.models import Charge, Job
from tests.conftest import make_user
from tests.integration.books import assert_books_balance
from tests.integration.support import kill_with_children, seconds_until

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(150),
]
S = Job.State
LOCK = "rq:scheduler-lock:default"


def test_a_delayed_retry_runs_within_60_s_of_the_scheduler_holder_being_killed(
    start_worker: Any, engine: str, redis_url: str, tmp_path: Path
) -> None:
    conn = redis.Redis.from_url(redis_url)
    holder = start_worker()
    seconds_until(lambda: conn.exists(LOCK), 30, "the first worker's scheduler lock")
    dead_lock = conn.get(LOCK)
    start_worker()
    time.sleep(3)  # the second worker is up, its scheduler refused the lock
    assert conn.get(LOCK) == dead_lock
    kill_with_children(holder.pid)  # the worker, its scheduler and any work horse
    holder.wait(10)
    killed_at = time.monotonic()

    # The first submit gets a 429: its retry is scheduled (enqueue_at), not queued.
    user = make_user("rita")
    client = Client()
    client.force_login(user)
    data = {
        "urls": f"{engine}/samples/logo.png?engine_429=1",
        "resolution": "2k",
        "output_format": "jpg",
        "key": str(uuid.uuid4()),
    }
    assert client.post("/jobs/", data).status_code == 302
    seconds_until(
        lambda: Job.objects.filter(user=user, submit_attempts=1, state=S.QUEUED).exists(),
        30,
        "the first submit refused with a 429",
    )
    seconds_until(
        lambda: Job.objects.get(user=user).state not in (S.QUEUED, S.SUBMITTING),
        60,
        "the delayed retry",
    )
    since_kill = time.monotonic() - killed_at
    print(f"\ndelayed retry ran {since_kill:.1f} s after the scheduler's worker was killed")
    assert since_kill < 60
    assert conn.get(LOCK) not in (None, dead_lock)  # the second worker's scheduler has it
    seconds_until(
        lambda: Job.objects.get(user=user).state not in Job.IN_FLIGHT, 30, "the job finished"
    )
    job = Job.objects.get(user=user)
    assert job.state == S.SUCCESS, (job.fail_code, job.fail_msg)
    assert Charge.objects.filter(job=job).count() == 1
    books = assert_books_balance(tmp_path / "engine")
    assert (books.accepted, books.user_cents, books.operator_cents) == (1, 1, 0)
