"""A Redis outage, seen from the web process: pages that need no Redis work, a submit is
refused plainly and leaves nothing behind (real Django, a Redis port nobody listens on;
tests/integration/test_heal.py pulls a real Redis away from a real worker)."""

from __future__ import annotations

import html
import json
from typing import Any

import pytest
from django.core.cache import cache, caches
from django.test import Client

from api.models import ApiToken
from jobs import recovery, tasks
from jobs.cache import TolerantRedisCache
from jobs.models import Budget, Job
from tests.conftest import free_port, make_job

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(30)]
S = Job.State


@pytest.fixture
def redis_down(settings: Any) -> str:
    url = f"redis://127.0.0.1:{free_port()}/0"
    settings.RQ_QUEUES = {"default": {"URL": url}}
    settings.CACHES = {"default": {"BACKEND": "jobs.cache.TolerantRedisCache", "LOCATION": url}}
    return url


def _form(**overrides: str) -> dict[str, str]:
    data = {
        "urls": "https://images.example.com/a.jpg",
        "resolution": "2k",
        "output_format": "jpg",
        "key": "9d2b6c1e-8a4f-4c39-9a57-0d6a1f2b3c4d",
    }
    data.update(overrides)
    return data


def test_it_serves_logged_in_pages(alice: Any, redis_down: str) -> None:
    client = Client()
    client.force_login(alice)  # the session lands in the database only
    assert client.get("/").status_code == 200
    assert client.get("/").status_code == 200


def test_it_refuses_a_form_submit_and_keeps_nothing(
    alice: Any, redis_down: str, public_dns: None
) -> None:
    client = Client()
    client.force_login(alice)
    r = client.post("/jobs/", _form())
    assert r.status_code == 503
    assert tasks.QUEUE_DOWN in html.unescape(r.content.decode())
    assert not Job.objects.exists()
    budget = Budget.objects.get(user=alice)
    assert (budget.reserved_cents, budget.spent_cents) == (0, 0)


def test_it_refuses_an_api_submit_with_503(alice: Any, redis_down: str, public_dns: None) -> None:
    _, raw = ApiToken.issue(alice, "script")
    api = Client(headers={"Authorization": f"Bearer {raw}"})
    body = {"urls": ["https://images.example.com/a.jpg"], "resolution": "2k"}
    r = api.post("/api/v1/jobs", json.dumps(body), content_type="application/json")
    assert r.status_code == 503
    assert r["Retry-After"] == "30"
    assert tasks.QUEUE_DOWN in json.dumps(r.json())
    assert not Job.objects.exists()


def test_a_job_it_could_not_enqueue_is_left_for_the_reconciler(
    alice: Any, redis_down: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Redis went away between the check and the commit.
    job = make_job(alice, S.QUEUED)
    tasks.enqueue_start(job.pk)
    job.refresh_from_db()
    assert job.next_check_at is None
    started: list[Any] = []
    monkeypatch.setattr(tasks, "schedule", lambda f, job_id, delay: started.append((f, job_id)))
    recovery.reconcile()
    assert started == [(tasks.start_job, job.pk)]


def test_the_cache_reads_as_empty_and_drops_writes(redis_down: str) -> None:
    assert isinstance(caches["default"], TolerantRedisCache)
    assert cache.get("k", "default") == "default"
    cache.set("k", 1)
    assert cache.add("k", 1) is False
    assert cache.incr("k") == 0
    assert cache.get_many(["a", "b"]) == {}
    assert cache.delete("k") is False
    assert "k" not in cache


def test_healthz_says_redis_is_down(client: Client, redis_down: str) -> None:
    r = client.get("/healthz")
    assert r.status_code == 503
    assert r.json()["checks"]["redis"] == "error: ConnectionError"
    assert r.json()["reconciler"] == "error: ConnectionError"
