from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.db import OperationalError, connection
from django.test import Client

from jobs import heartbeat
from tests.conftest import free_port

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(30)]


@pytest.fixture
def conn(settings: Any, redis_url: str) -> Iterator[redis.Redis]:
    """A Redis database of its own, so workers left by other tests don't count."""
    url = redis_url.rsplit("/", 1)[0] + "/7"
    settings.RQ_QUEUES = {"default": {"URL": url}}
    conn = redis.Redis.from_url(url)
    conn.flushdb()
    yield conn
    conn.flushdb()


def _worker(conn: redis.Redis, queue: str = "default") -> str:
    heartbeat.beat(conn, heartbeat.worker_role(queue), "w1")
    return "w1"


def test_it_works(client: Client, conn: redis.Redis) -> None:
    _worker(conn)
    heartbeat.beat(conn, "cron", "c1")
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {
        "status": "ok",
        "checks": {"database": "ok", "redis": "ok", "worker": "ok"},
        "reconciler": "ok",
    }
    assert "no-cache" in r["Cache-Control"]


def test_it_needs_no_login(client: Client, conn: redis.Redis) -> None:
    r = client.get("/healthz")
    # No worker beats here: the check's own 503, not a redirect to the login page.
    assert r.status_code == 503
    assert r["Content-Type"] == "application/json"


def test_it_fails_without_a_worker(client: Client, conn: redis.Redis) -> None:
    r = client.get("/healthz")
    assert r.status_code == 503
    assert r.json()["status"] == "fail"
    assert r.json()["checks"] == {
        "database": "ok",
        "redis": "ok",
        "worker": "no worker with a recent heartbeat",
    }


def test_it_ignores_a_stale_worker(client: Client, conn: redis.Redis) -> None:
    name = _worker(conn)
    conn.zadd(heartbeat.key("worker:default"), {name: time.time() - heartbeat.MAX_AGE - 1})
    r = client.get("/healthz")
    assert r.status_code == 503
    assert r.json()["checks"]["worker"] == "no worker with a recent heartbeat"


def test_it_ignores_workers_of_other_queues(client: Client, conn: redis.Redis) -> None:
    _worker(conn, "other")
    r = client.get("/healthz")
    assert r.status_code == 503


def test_it_forgets_a_worker_that_stopped_cleanly(client: Client, conn: redis.Redis) -> None:
    name = _worker(conn)
    heartbeat.forget(conn, "worker:default", name)
    assert client.get("/healthz").status_code == 503


def test_it_reports_a_missing_reconciler_without_failing(client: Client, conn: redis.Redis) -> None:
    # Without it the site serves and jobs run; only recovery waits: no reason to pull hosts.
    _worker(conn)
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json()["reconciler"] == "no reconciler (cron) with a recent heartbeat"


def test_a_beater_thread_beats_until_stopped(conn: redis.Redis) -> None:
    beater = heartbeat.Beater(conn, ["cron"], "c9").start()
    deadline = time.monotonic() + 5
    while not heartbeat.alive(conn, "cron") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert heartbeat.alive(conn, "cron") == ["c9"]
    beater.stop()
    assert heartbeat.alive(conn, "cron") == []


def test_it_fails_when_redis_is_down(client: Client, settings: Any) -> None:
    settings.RQ_QUEUES = {"default": {"URL": f"redis://:hunter2@127.0.0.1:{free_port()}/0"}}
    r = client.get("/healthz")
    assert r.status_code == 503
    assert r.json()["checks"] == {
        "database": "ok",
        "redis": "error: ConnectionError",
        "worker": "error: ConnectionError",
    }
    assert r.json()["reconciler"] == "error: ConnectionError"
    assert b"hunter2" not in r.content


def test_it_fails_when_the_database_is_down(
    client: Client, conn: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    _worker(conn)

    def broken() -> None:
        raise OperationalError("connection to server at db:5432 failed")

    monkeypatch.setattr(connection, "cursor", broken)
    r = client.get("/healthz")
    assert r.status_code == 503
    assert r.json()["checks"]["database"] == "error: OperationalError"
    assert b"5432" not in r.content


def test_it_rejects_post(client: Client, conn: redis.Redis) -> None:
    assert client.post("/healthz").status_code == 405
