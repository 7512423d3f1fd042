"""Django's Redis cache, but a Redis outage reads as an empty cache instead of a 500.

Everything we keep in the cache can be lost: sessions (cached_db falls back to the
database), the gallery's change stamps, rate-limit counts, the circuit breaker. So while
Redis is away, reads miss, writes are dropped (logged), and pages that need no Redis work.
Known cost: rate limits count nothing during an outage (submits are refused anyway, see
jobs.tasks.queue_is_up).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache

logger = logging.getLogger(__name__)
ERRORS = (redis.ConnectionError, redis.TimeoutError)
_last_logged = 0.0


def _down(op: str, e: Exception) -> None:
    global _last_logged
    # One line per 10 s, not one per request, while Redis is away.
    if time.monotonic() - _last_logged > 10:
        _last_logged = time.monotonic()
        logger.warning("Cache unavailable (%s): %s", op, e)


class TolerantRedisCache(RedisCache):
    def get(self, key: Any, default: Any = None, version: Any = None) -> Any:
        try:
            return super().get(key, default, version)
        except ERRORS as e:
            _down("get", e)
            return default

    def get_many(self, keys: Any, version: Any = None) -> Any:
        try:
            return super().get_many(keys, version)
        except ERRORS as e:
            _down("get_many", e)
            return {}

    def has_key(self, key: Any, version: Any = None) -> bool:
        try:
            return bool(super().has_key(key, version))
        except ERRORS as e:
            _down("has_key", e)
            return False

    def add(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> bool:
        try:
            return bool(super().add(key, value, timeout, version))
        except ERRORS as e:
            _down("add", e)
            return False

    def set(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> None:
        try:
            super().set(key, value, timeout, version)
        except ERRORS as e:
            _down("set", e)

    def set_many(self, data: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> Any:
        try:
            return super().set_many(data, timeout, version)
        except ERRORS as e:
            _down("set_many", e)
            return list(data)

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        try:
            return bool(super().touch(key, timeout, version))
        except ERRORS as e:
            _down("touch", e)
            return False

    def delete(self, key: Any, version: Any = None) -> bool:
        try:
            return bool(super().delete(key, version))
        except ERRORS as e:
            _down("delete", e)
            return False

    def delete_many(self, keys: Any, version: Any = None) -> None:
        try:
            super().delete_many(keys, version)
        except ERRORS as e:
            _down("delete_many", e)

    def incr(self, key: Any, delta: int = 1, version: Any = None) -> int:
        try:
            return int(super().incr(key, delta, version))
        except ERRORS as e:
            _down("incr", e)
            return 0  # counts as the first of its kind: limits open while Redis is away

    def clear(self) -> None:
        try:
            super().clear()
        except ERRORS as e:
            _down("clear", e)
