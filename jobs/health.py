"""`/healthz` for load balancers and Docker: the database, Redis and a live RQ worker.

No login (load balancers have none), no secrets in the answer: each check is "ok" or the
name of what went wrong; details go to the log.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import django_rq
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from redis import Redis
from rq import Worker
from rq.defaults import DEFAULT_WORKER_TTL
from rq.utils import now

logger = logging.getLogger(__name__)

# An idle worker blocks on Redis for its TTL less 15 s between heartbeats, and rq drops a
# worker's key TTL + 60 s after its last one: older than that, it is gone.
WORKER_MAX_AGE = timedelta(seconds=DEFAULT_WORKER_TTL + 60)
# Without a timeout, an unreachable (not refusing) Redis would hang the probe.
REDIS_TIMEOUT = 2.0


def _failed(name: str, e: Exception) -> str:
    logger.warning("healthz: %s check failed: %s", name, e)
    return f"error: {type(e).__name__}"


def _worker(conn: Redis) -> str:
    """Return "ok" if a worker on the default queue sent a heartbeat lately."""
    queue = django_rq.get_queue("default", connection=conn)
    cutoff = now() - WORKER_MAX_AGE
    for worker in Worker.all(queue=queue):
        if worker.last_heartbeat and worker.last_heartbeat >= cutoff:
            return "ok"
    return "no worker with a recent heartbeat"


@login_not_required
@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when every check is "ok", else 503, so a load balancer takes the host out."""
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as e:
        checks["database"] = _failed("database", e)
    try:
        conn = django_rq.get_connection("default")
        conn.connection_pool.connection_kwargs.update(
            socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT
        )
        conn.ping()
        checks["redis"] = "ok"
        checks["worker"] = _worker(conn)
    except Exception as e:
        checks["redis"] = checks["worker"] = _failed("redis", e)
    ok = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ok" if ok else "fail", "checks": checks}, status=200 if ok else 503
    )
