"""A dead worker's RQ scheduler lock is cleared, a live one's never (jobs.heartbeat)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from jobs import heartbeat

pytestmark = [pytest.mark.timeout(30)]
LOCK = "rq:scheduler-lock:default"


@pytest.fixture
def conn(redis_url: str) -> Iterator[redis.Redis]:
    conn = redis.Redis.from_url(redis_url.rsplit("/", 1)[0] + "/8")
    conn.flushdb()
    yield conn
    conn.flushdb()


def test_a_lock_its_scheduler_refreshes_is_kept(conn: redis.Redis) -> None:
    conn.set(LOCK, "live", ex=61)  # what RQ's scheduler sets every second
    assert not heartbeat.clear_stale_scheduler_lock(conn, "default")
    assert conn.get(LOCK) == b"live"


def test_a_lock_nobody_refreshed_for_20_s_is_cleared(conn: redis.Redis) -> None:
    conn.set(LOCK, "dead", ex=61 - 21)
    assert heartbeat.clear_stale_scheduler_lock(conn, "default")
    assert conn.get(LOCK) is None


def test_the_floor_follows_the_schedulers_interval(conn: redis.Redis) -> None:
    conn.set(LOCK, "slow", ex=49)  # a 10 s interval refreshes to 70 s
    assert heartbeat.clear_stale_scheduler_lock(conn, "default", interval=10)
    conn.set(LOCK, "slow", ex=55)
    assert not heartbeat.clear_stale_scheduler_lock(conn, "default", interval=10)


def test_no_lock_and_a_lock_without_ttl_are_left_alone(conn: redis.Redis) -> None:
    assert not heartbeat.clear_stale_scheduler_lock(conn, "default")
    conn.set(LOCK, "forever")
    assert not heartbeat.clear_stale_scheduler_lock(conn, "default")
    assert conn.get(LOCK) == b"forever"
