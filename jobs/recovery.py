"""Recovery: the reconciler that rebuilds the queue from the jobs' states.

The database is the source of truth. After a worker was killed, or Redis restarted or was
flushed, `reconcile` (run by `manage.py runcron`) re-enqueues each in-flight job's overdue
step, by its dotted path in jobs.tasks, and resends submits whose outcome is unknown.
Split from jobs/tasks.py, which holds the steps themselves: this module only decides which
of them are due again.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime, timedelta
from typing import Any

import django_rq
import redis
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from jobs import tasks
from jobs.models import Job

logger = logging.getLogger(__name__)

S = Job.State


WORKER_DIED_SUBMITTING = "the worker stopped while the request to APIXO was in flight"


def reconcile() -> dict[str, int]:
    """Re-enqueue the work of every in-flight job whose next step is overdue.

    Run every RECONCILE_INTERVAL s by `manage.py runcron`. The database is the source of
    truth: after a worker was killed, or Redis restarted or was flushed, this rebuilds the
    queue from the jobs' states. Only work whose RQ entry is really gone is enqueued again
    (_missing): an overdue job whose entry still waits in the queue is a busy worker's, and
    a second copy would only make it busier. Work enqueued twice would still be harmless:
    every task function re-reads the job and moves it by conditional UPDATE.

    A job stuck in `submitting` lost its worker in mid-request, so APIXO may or may not
    have the task: it is sent again, with the possible first charge recorded as the
    operator's (resend_unknown). A dead worker's claim says so within a minute
    (_reclaim_dead_claims); SUBMIT_STUCK_AFTER is the backstop when Redis lost the claim.
    Return counts per action, for the log.
    """
    now = timezone.now()
    counts = {"started": 0, "polled": 0, "resent": 0, "reclaimed": 0}
    counts["reclaimed"], counts["resent"] = _reclaim_dead_claims()
    queued_due = now - timedelta(seconds=settings.RECONCILE_QUEUED_GRACE)
    for job_id, seen in _missing(_overdue(Job.objects.filter(state=S.QUEUED), queued_due)):
        counts["started"] += _resume(tasks.start_job, job_id, seen, (S.QUEUED,))
    due = now - timedelta(seconds=settings.RECONCILE_GRACE)
    polling = (S.PENDING, S.PROCESSING)
    for job_id, seen in _missing(_overdue(Job.objects.filter(state__in=polling), due)):
        counts["polled"] += _resume(tasks.poll_job, job_id, seen, polling)
    stuck_since = now - timedelta(seconds=settings.SUBMIT_STUCK_AFTER)
    for job in Job.objects.filter(state=S.SUBMITTING, updated__lt=stuck_since):
        if tasks.resend_unknown(job, WORKER_DIED_SUBMITTING):
            counts["resent"] += 1
    if any(counts.values()):
        logger.info("Reconciler: %s", counts)
    return counts


def reconcile_from_cron() -> dict[str, int]:
    """The cron's entry (jobs/cron.py): reconcile, unless another run started less than
    most of an interval ago.

    The cron queues a run every RECONCILE_INTERVAL s on the queue the work is on, so while
    the worker is behind, runs pile up behind that work (66 in a minute, in the flushed-Redis
    test) and then run back to back. Those late copies return here at once.
    """
    window = max(1, int(settings.RECONCILE_INTERVAL * 800))  # ms: 80% of an interval
    try:
        conn = django_rq.get_connection("default")
        first = conn.set("upscaler:reconcile:ran", 1, nx=True, px=window)
    except (redis.ConnectionError, redis.TimeoutError):
        first = True  # reconcile() copes with a Redis that is away
    return reconcile() if first else {}


def _reclaim_dead_claims() -> tuple[int, int]:
    """Re-enqueue the work a worker took from the queue and then died with. Return how many
    claims went on, and how many of them were submits in flight that were sent again.

    A job RQ started on a worker with no heartbeat for heartbeat.MAX_AGE s will never end:
    its job goes on now rather than after the reconciler's grace (10 minutes for a queued
    job whose link was downloading). A submit in flight (`submitting` for longer than a
    request can last) has an unknown outcome: it is resent (resend_unknown).
    """
    from rq.job import Job as RQJob
    from rq.registry import StartedJobRegistry

    from jobs import heartbeat

    conn = django_rq.get_connection("default")
    try:
        alive = set(heartbeat.alive(conn, heartbeat.worker_role("default")))
        ids = StartedJobRegistry("default", connection=conn).get_job_ids()
        claims = [j for j in RQJob.fetch_many(ids, connection=conn) if j is not None]
    except (redis.ConnectionError, redis.TimeoutError):
        return 0, 0
    cutoff = timezone.now() - timedelta(seconds=heartbeat.MAX_AGE)
    # A live worker's request ends by APIXO_TIMEOUT: a submit older than that is not one.
    sent_before = timezone.now() - timedelta(seconds=settings.APIXO_TIMEOUT + 5)
    steps = {
        f"{tasks.__name__}.{f.__name__}"
        for f in (tasks.start_job, tasks.submit_job, tasks.poll_job)
    }
    reclaimed = resent = 0
    for claim in claims:
        if not claim.worker_name or claim.worker_name in alive:
            continue
        if claim.started_at is None or claim.started_at > cutoff or claim.func_name not in steps:
            continue
        # Once per claim: RQ keeps it in the registry until its own (long) TTL runs out.
        handled = f"reconcile:claim:{claim.id}"
        job = Job.objects.filter(pk=claim.args[0]).first()
        if job is None or cache.get(handled) is not None:
            continue
        if job.state == S.SUBMITTING:
            if job.updated >= sent_before or not tasks.resend_unknown(job, WORKER_DIED_SUBMITTING):
                continue
            resent += 1
        elif job.state == S.QUEUED:
            tasks.schedule(tasks.start_job, job.pk, 0)
        elif job.state in (S.PENDING, S.PROCESSING):
            tasks.schedule(tasks.poll_job, job.pk, 0)
        else:
            continue
        cache.set(handled, 1, 3600)
        logger.info("Job %s: its worker %s died; its work goes on", job.code, claim.worker_name)
        reclaimed += 1
    return reclaimed, resent


def _overdue(jobs: Any, before: Any) -> list[tuple[int, datetime | None]]:
    q = jobs.filter(next_check_at__lt=before) | jobs.filter(next_check_at__isnull=True)
    return list(q.order_by("next_check_at").values_list("pk", "next_check_at")[:1000])


def _missing(
    overdue: list[tuple[int, datetime | None]],
) -> list[tuple[int, datetime | None]]:
    """The overdue jobs whose next piece of work has no RQ entry that will still run.

    One pipelined read of the entries the rows name (rq_id). An entry still queued or
    started is left alone. A scheduled one that is overdue means RQ's scheduler isn't
    moving it (its holder died): it is moved to the queue here, once (the registry's ZREM
    decides between us and a scheduler that wakes up).
    """
    from rq.exceptions import InvalidJobOperation
    from rq.job import Job as RQJob
    from rq.registry import ScheduledJobRegistry

    if not overdue:
        return []
    conn = django_rq.get_connection("default")
    try:
        entries = RQJob.fetch_many([tasks.rq_id(pk, seen) for pk, seen in overdue], connection=conn)
    except (redis.ConnectionError, redis.TimeoutError):
        return overdue  # nothing can be enqueued now either; tasks.schedule() will say so
    scheduled = ScheduledJobRegistry("default", connection=conn)
    missing = []
    for (pk, seen), entry in zip(overdue, entries, strict=True):
        status = None if entry is None else entry.get_status(refresh=False)
        if status == "scheduled" and entry is not None:
            with contextlib.suppress(InvalidJobOperation):
                scheduled.requeue(entry)
            continue
        if status not in tasks.COMING:
            missing.append((pk, seen))
    return missing


def _resume(func: Any, job_id: int, seen: datetime | None, states: tuple[str, ...]) -> int:
    """Enqueue func for a job whose work Redis lost, unless the job moved on since the
    reconciler read it (its next_check_at or state changed): return 1 if enqueued."""
    claimed = Job.objects.filter(pk=job_id, state__in=states, next_check_at=seen).update(
        next_check_at=timezone.now()
    )
    if claimed:
        tasks.schedule(func, job_id, 0)
    return claimed
