"""How hard we may push APIXO right now, shared by every worker through Redis.

- The circuit breaker opens when APIXO refuses our key or account (401, 402, 403): every
  job then waits instead of repeating a request that cannot succeed, until the breaker's
  cool-off ends and one request tries again.
- A slow-down window follows a 429: all workers hold back, not just the one that was told.
- A semaphore caps the submissions in flight at once (APIXO_MAX_SUBMITS_IN_FLIGHT).

All of it lives in Redis with expiry times, so a flushed Redis only forgets a pause.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import django_rq
from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)
BREAKER_KEY = "apixo:breaker"
SLOWDOWN_KEY = "apixo:slowdown"
SLOTS_KEY = "upscaler:apixo:submit-slots"
# A slot whose holder died is reclaimed after this long (longer than any submit request).
SLOT_LEASE_SECONDS = 120


def open_breaker(status: int | None, message: str) -> None:
    """Stop calls to APIXO for APIXO_BREAKER_SECONDS. Logged at ERROR: an admin must act."""
    seconds = settings.APIXO_BREAKER_SECONDS
    state = {"status": status, "message": message, "until": time.time() + seconds}
    cache.set(BREAKER_KEY, state, seconds)
    logger.error(
        "APIXO refused us (%s: %s); pausing submissions for %s s", status, message, seconds
    )


def breaker() -> dict[str, Any] | None:
    """The open breaker's state (status, message, until), or None when closed."""
    state = cache.get(BREAKER_KEY)
    return state if isinstance(state, dict) else None


def pause_stamp(state: dict[str, Any] | None) -> str:
    """Which pause `state` (from `breaker()`) is: its end as whole seconds, "" for none."""
    return str(int(state["until"])) if state else ""


def within_submit_rate(user_id: int) -> bool:
    """At most SUBMIT_RATE_LIMIT submissions (form or API) per user per minute, counted in
    Redis (shared by every web process, unlike a local-memory cache)."""
    key = f"submit-rate:{user_id}:{int(time.time() // 60)}"
    cache.add(key, 0, 70)
    return cache.incr(key) <= settings.SUBMIT_RATE_LIMIT


def slow_down(seconds: float) -> None:
    """Ask every worker to hold back submissions for `seconds` (keeps the longer pause)."""
    until = time.time() + seconds
    current = cache.get(SLOWDOWN_KEY)
    if not isinstance(current, float) or current < until:
        cache.set(SLOWDOWN_KEY, until, max(1, int(seconds) + 1))


def wait_seconds() -> float:
    """How long submissions should wait before calling APIXO; 0 means go ahead."""
    now = time.time()
    waits = [0.0]
    state = breaker()
    if state:
        waits.append(float(state["until"]) - now)
    slowdown = cache.get(SLOWDOWN_KEY)
    if isinstance(slowdown, float):
        waits.append(slowdown - now)
    return max(waits)


def acquire_slot() -> str | None:
    """Take one of the in-flight submission slots. Return its token, or None if all are taken."""
    redis = django_rq.get_connection("default")
    token = uuid.uuid4().hex
    now = time.time()
    pipe = redis.pipeline()
    pipe.zremrangebyscore(SLOTS_KEY, 0, now - SLOT_LEASE_SECONDS)
    pipe.zadd(SLOTS_KEY, {token: now})
    pipe.zrank(SLOTS_KEY, token)
    pipe.expire(SLOTS_KEY, SLOT_LEASE_SECONDS)
    rank = pipe.execute()[2]
    # Ties in score are ordered by member, so two racers can both see a rank past the
    # limit and both back off: safe, and the next try sorts it out.
    if rank is not None and rank < settings.APIXO_MAX_SUBMITS_IN_FLIGHT:
        return token
    redis.zrem(SLOTS_KEY, token)
    return None


def release_slot(token: str) -> None:
    django_rq.get_connection("default").zrem(SLOTS_KEY, token)
