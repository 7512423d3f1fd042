"""`/healthz` for load balancers and Docker: the database, Redis and a live RQ worker, and
beside them the cron process (the reconciler); both heartbeats are our own (jobs.heartbeat).

The reconciler is reported but doesn't decide the status: without it the site still
serves and the worker still works, only recovery from lost queue entries waits, and a
load balancer must not pull every web host for that.

No login (load balancers have none), no secrets in the answer: each check is "ok" or the
name of what went wrong; details go to the log.
"""

from __future__ import annotations

import logging

import django_rq
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from redis import Redis

from jobs import heartbeat

logger = logging.getLogger(__name__)

# Without a timeout, an unreachable (not refusing) Redis would hang the probe.
REDIS_TIMEOUT = 2.0


def _failed(name: str, e: Exception) -> str:
    logger.warning("healthz: %s check failed: %s", name, e)
    return f"error: {type(e).__name__}"


def _worker(conn: Redis) -> str:
    """Return "ok" if a worker on the default queue sent a heartbeat lately."""
    if heartbeat.alive(conn, heartbeat.worker_role("default")):
        return "ok"
    return "no worker with a recent heartbeat"


def _reconciler(conn: Redis) -> str:
    """Return "ok" if the cron process (`manage.py runcron`) sent a heartbeat lately."""
    if heartbeat.alive(conn, "cron"):
        return "ok"
    return "no reconciler (cron) with a recent heartbeat"


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
        reconciler = _reconciler(conn)
    except Exception as e:
        checks["redis"] = checks["worker"] = reconciler = _failed("redis", e)
    ok = all(value == "ok" for value in checks.values())
    body = {"status": "ok" if ok else "fail", "checks": checks, "reconciler": reconciler}
    return JsonResponse(body, status=200 if ok else 503)
