from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.db import OperationalError
from django.test import Client
from rq import Queue, Worker

from jobs import health
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


def _worker(conn: redis.Redis) -> Worker:
    worker = Worker([Queue("default", connection=conn)], connection=conn)
    worker.register_birth()
    return worker


def test_it_works(client: Client, conn: redis.Redis) -> None:
    _worker(conn)
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {
        "status": "ok",
        "checks": {"database": "ok", "redis": "ok", "worker": "ok"},
    }
    assert "no-cache" in r["Cache-Control"]


def test_it_needs_no_login(client: Client, conn: redis.Redis) -> None:
    r = client.get("/healthz")
    assert r.status_code in (200, 503)
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
    worker = _worker(conn)
    conn.hset(worker.key, "last_heartbeat", "2020-01-01T00:00:00.000000Z")
    r = client.get("/healthz")
    assert r.status_code == 503
    assert r.json()["checks"]["worker"] == "no worker with a recent heartbeat"


def test_it_ignores_workers_of_other_queues(client: Client, conn: redis.Redis) -> None:
    Worker([Queue("other", connection=conn)], connection=conn).register_birth()
    r = client.get("/healthz")
    assert r.status_code == 503


def test_it_fails_when_redis_is_down(client: Client, settings: Any) -> None:
    settings.RQ_QUEUES = {"default": {"URL": f"redis://:hunter2@127.0.0.1:{free_port()}/0"}}
    r = client.get("/healthz")
    assert r.status_code == 503
    assert r.json()["checks"] == {
        "database": "ok",
        "redis": "error: ConnectionError",
        "worker": "error: ConnectionError",
    }
    assert b"hunter2" not in r.content


def test_it_fails_when_the_database_is_down(
    client: Client, conn: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    _worker(conn)

    def broken() -> None:
        raise OperationalError("connection to server at db:5432 failed")

    monkeypatch.setattr(health.connection, "cursor", broken)
    r = client.get("/healthz")
    assert r.status_code == 503
    assert r.json()["checks"]["database"] == "error: OperationalError"
    assert b"5432" not in r.content


def test_it_rejects_post(client: Client, conn: redis.Redis) -> None:
    assert client.post("/healthz").status_code == 405
