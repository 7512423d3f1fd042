"""Nothing lost, nothing charged twice: real Redis, real RQ workers, the real engine.

Each scenario kills, flushes or floods something real and checks the user-visible outcome:
every job reaches its final state, and each job APIXO accepted is charged exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import redis
import requests
import rq
from django.db.models import Sum
from django.test import Client

from jobs.models import Budget, Charge, Job
from lib import fetch
from tests.conftest import make_user
from tests.integration.books import assert_books_balance

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(150),
]
S = Job.State
# The reconciler, compressed: every second, for work a couple of seconds overdue. The cron
# process enqueues it, a worker runs it: both need these.
FAST_RECONCILE = {
    "RECONCILE_INTERVAL": "1",
    "RECONCILE_GRACE": "2",
    "RECONCILE_QUEUED_GRACE": "4",
}


def _submit(user: Any, urls: list[str], **form: str) -> None:
    client = Client()
    client.force_login(user)
    data = {
        "urls": "\n".join(urls),
        "resolution": "2k",
        "output_format": "jpg",
        "key": str(uuid.uuid4()),
    }
    data.update(form)
    r = client.post("/jobs/", data)
    assert r.status_code == 302, r.content[:3000]


def _wait_for(predicate: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


def _charged_once_each(user: Any, n: int) -> None:
    assert Charge.objects.filter(user=user).count() == n
    assert Charge.objects.filter(user=user).values("job").distinct().count() == n
    budget = Budget.objects.get(user=user)
    assert (budget.spent_cents, budget.reserved_cents) == (n, 0)
    assert_books_balance()  # the engine billed what the ledger says


def test_callback_mode_finishes_with_one_submit_and_one_status_read(
    start_worker: Any, engine: str, wait_until_done: Any
) -> None:
    start_worker(APIXO_CALLBACKS="on", APIXO_SAFETY_POLL="120")
    user = make_user("cora")
    _submit(user, [f"{engine}/samples/landscape.jpg"])
    [job] = wait_until_done(Job.objects.filter(user=user), seconds=40)
    assert job.state == S.SUCCESS, (job.fail_code, job.fail_msg)
    assert job.via_callback
    assert (job.submit_attempts, job.poll_count) == (1, 1)  # the confirmation only
    _charged_once_each(user, 1)


def test_five_concurrent_deliveries_of_a_callback_change_the_job_once(
    start_worker: Any, engine: str, live_server: Any, redis_url: str, wait_until_done: Any
) -> None:
    callbacks = {"APIXO_CALLBACKS": "on", "APIXO_SAFETY_POLL": "120"}
    first = start_worker(**callbacks)
    user = make_user("dave")
    _submit(user, [f"{engine}/samples/logo.png?engine_delay=3"])
    _wait_for(lambda: Job.objects.get(user=user).task_id != "", 20, "the task id")
    job = Job.objects.get(user=user)
    url = f"{live_server.url}/webhooks/apixo/{job.callback_secret}/"
    body = json.dumps(
        {"code": 200, "message": "success", "data": {"taskId": job.task_id, "state": "success"}}
    )

    def deliver_five() -> list[int]:
        codes: list[int] = []
        barrier = threading.Barrier(5)

        def one() -> None:
            barrier.wait()
            codes.append(requests.post(url, data=body, timeout=10).status_code)

        threads = [threading.Thread(target=one) for _ in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        return codes

    # With no worker running, a delivery arriving after the confirmation has *started* can't
    # slip in (that one rightly gets its own read), so the coalescing is what's measured.
    os.killpg(first.pid, signal.SIGTERM)
    first.wait(10)
    assert deliver_five() == [200] * 5  # early: the task is still processing
    queued = rq.Queue("default", connection=redis.Redis.from_url(redis_url)).jobs
    assert [j.func_name for j in queued] == ["jobs.tasks.confirm_callback"]
    start_worker(**callbacks)
    [job] = wait_until_done(Job.objects.filter(user=user), seconds=40)
    assert job.state == S.SUCCESS
    finished = job.updated
    assert deliver_five() == [200] * 5  # late: the job is already done
    time.sleep(1)
    job.refresh_from_db()
    assert job.updated == finished
    # 5 early deliveries share one confirmation; the engine's own callback may need another
    # if that one read "processing".
    assert job.poll_count <= 2
    _charged_once_each(user, 1)


def test_a_worker_killed_mid_flight_does_not_lose_the_job(
    start_worker: Any, start_process: Any, engine: str, wait_until_done: Any
) -> None:
    first = start_worker(**FAST_RECONCILE)
    start_process("runcron", **FAST_RECONCILE)
    user = make_user("ella")
    _submit(user, [f"{engine}/samples/landscape.jpg?engine_delay=4&n={n}" for n in range(3)])
    _wait_for(
        lambda: Job.objects.filter(user=user, state__in=(S.PENDING, S.PROCESSING)).count() == 3,
        30,
        "all three tasks accepted",
    )
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(10)
    start_worker(**FAST_RECONCILE)
    jobs = wait_until_done(Job.objects.filter(user=user), seconds=60)
    assert [j.state for j in jobs] == [S.SUCCESS] * 3
    _charged_once_each(user, 3)


def test_a_flushed_redis_with_100_images_in_flight_is_rebuilt_from_the_database(
    start_worker: Any, start_process: Any, engine: str, redis_url: str, wait_until_done: Any
) -> None:
    start_worker(**FAST_RECONCILE)
    user = make_user("fay", quota=500)
    for batch in range(2):
        # Every link serves the same bytes: force_new, or the first result would be reused.
        _submit(
            user,
            [f"{engine}/samples/logo.png?engine_delay=1&b={batch}&n={n}" for n in range(50)],
            force_new="on",
        )
    _wait_for(
        lambda: Job.objects.filter(user=user, state__in=(S.PENDING, S.PROCESSING)).count() >= 10,
        60,
        "some tasks in flight",
    )
    redis.Redis.from_url(redis_url).flushall()
    in_flight = Job.objects.filter(user=user, state__in=Job.IN_FLIGHT).count()
    assert in_flight > 0
    start_process("runcron", **FAST_RECONCILE)
    jobs = wait_until_done(Job.objects.filter(user=user), seconds=120)
    assert [j.state for j in jobs].count(S.SUCCESS) == 100, {j.state for j in jobs}
    _charged_once_each(user, 100)


def test_a_stretch_of_429s_fails_no_job_and_bounds_the_calls(
    start_worker: Any, engine: str, wait_until_done: Any
) -> None:
    start_worker(APIXO_BACKOFF_BASE="0.5", APIXO_BACKOFF_MAX="2", APIXO_MAX_SUBMITS_IN_FLIGHT="2")
    user = make_user("gail")
    links = [f"{engine}/samples/logo.png?engine_429=3&n={n}" for n in range(6)]
    _submit(user, links, force_new="on")  # the same bytes: each must still run
    jobs = wait_until_done(Job.objects.filter(user=user), seconds=90)
    assert [j.state for j in jobs] == [S.SUCCESS] * 6, [(j.fail_code, j.fail_msg) for j in jobs]
    # 3 refusals then the accepted submit, per job; the shared pause adds no extra calls.
    assert sum(j.submit_attempts for j in jobs) == 6 * 4
    _charged_once_each(user, 6)


def test_a_refused_key_fails_one_job_pauses_the_rest_and_alerts_admins(
    start_worker: Any, engine: str, wait_until_done: Any
) -> None:
    start_worker(APIXO_ENGINE_KEY="not-the-engine-key", APIXO_MAX_SUBMITS_IN_FLIGHT="1")
    user = make_user("hope")
    _submit(user, [f"{engine}/samples/logo.png?n={n}" for n in range(3)])
    _wait_for(lambda: Job.objects.filter(user=user, state=S.FAILED).exists(), 30, "a failure")
    time.sleep(2)
    states = sorted(Job.objects.filter(user=user).values_list("state", flat=True))
    assert states == [S.FAILED, S.QUEUED, S.QUEUED]
    failed = Job.objects.get(user=user, state=S.FAILED)
    assert failed.fail_code == "Unauthorized"
    assert "Invalid or missing API key" in failed.fail_msg
    assert not Charge.objects.filter(user=user).exists()
    budget = Budget.objects.get(user=user)
    assert (budget.spent_cents, budget.reserved_cents) == (0, 2)  # the waiting two
    assert assert_books_balance().accepted == 0
    user.is_staff = True
    user.save()
    client = Client()
    client.force_login(user)
    assert "APIXO is refusing our requests" in client.get("/").content.decode()


def test_fifty_concurrent_submits_with_one_cent_left_accept_exactly_one(
    live_server: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.SUBMIT_RATE_LIMIT = 1000
    monkeypatch.setattr(fetch, "_resolve", lambda host, port: ["93.184.216.34"])
    user = make_user("ivy", quota=1)
    session = requests.Session()
    client = Client()
    client.force_login(user)
    cookie = client.cookies["sessionid"].value

    def submit(n: int) -> int:
        page = requests.get(f"{live_server.url}/", cookies={"sessionid": cookie}, timeout=20)
        token = page.cookies.get("csrftoken") or session.cookies.get("csrftoken")
        data = {
            "urls": f"https://images.example.com/x{n}.jpg",
            "resolution": "2k",
            "output_format": "jpg",
            "key": str(uuid.uuid4()),
            "csrfmiddlewaretoken": token,
        }
        r = requests.post(
            f"{live_server.url}/jobs/",
            data=data,
            cookies={"sessionid": cookie, "csrftoken": token or ""},
            headers={"Referer": live_server.url},
            allow_redirects=False,
            timeout=30,
        )
        return r.status_code

    results: list[int] = []
    barrier = threading.Barrier(50)

    def run(n: int) -> None:
        barrier.wait()
        results.append(submit(n))

    threads = [threading.Thread(target=run, args=(n,)) for n in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(results) == [302] + [400] * 49, results
    budget = Budget.objects.get(user=user)
    assert budget.reserved_cents + budget.spent_cents == 1
    assert Job.objects.filter(user=user).count() == 1
    assert (Charge.objects.filter(user=user).aggregate(s=Sum("amount_cents"))["s"] or 0) <= 1
