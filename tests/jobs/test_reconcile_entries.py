"""The reconciler enqueues a job's work again only when Redis really lost its entry, and a
job's polls never run in two chains (the flushed-Redis test of tests/integration/
test_recovery.py, where a busy worker used to collect up to 9 copies of one poll)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import django_rq
import pytest
import responses
from rq.registry import ScheduledJobRegistry

from jobs import recovery, tasks
from jobs.models import Job
from tests.apixo_support import status_url
from tests.conftest import make_job

# Real enqueues: django-rq enqueues when the transaction commits.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(30)]
S = Job.State


@pytest.fixture
def queue(settings: Any) -> Iterator[Any]:
    """The test Redis's queue, empty, with every in-flight job overdue for the reconciler
    (as when the worker is far behind)."""
    settings.RECONCILE_GRACE = -600
    settings.RECONCILE_QUEUED_GRACE = -600
    conn = django_rq.get_connection("default")
    conn.flushdb()
    yield django_rq.get_queue("default")
    conn.flushdb()


def _entries(queue: Any, job: Job) -> list[str]:
    """The RQ job ids waiting in the queue for this job."""
    return [i for i in queue.get_job_ids() if i.startswith(f"upscaler-job-{job.pk}-")]


def test_a_poll_still_waiting_in_the_queue_is_not_enqueued_again(alice: Any, queue: Any) -> None:
    job = make_job(alice, S.PROCESSING, task_id="t1")
    tasks.schedule(tasks.poll_job, job.pk, 0)
    for _ in range(3):
        assert recovery.reconcile()["polled"] == 0
    assert len(_entries(queue, job)) == 1


def test_a_poll_redis_lost_is_enqueued_again_once(alice: Any, queue: Any) -> None:
    job = make_job(alice, S.PROCESSING, task_id="t1")
    tasks.schedule(tasks.poll_job, job.pk, 0)
    queue.connection.flushall()
    assert recovery.reconcile()["polled"] == 1
    assert recovery.reconcile()["polled"] == 0
    assert len(_entries(queue, job)) == 1


def test_a_lost_start_is_enqueued_again_once(alice: Any, queue: Any) -> None:
    job = make_job(alice, S.QUEUED)
    tasks.enqueue_start(job.pk)
    assert recovery.reconcile()["started"] == 0
    queue.connection.flushall()
    assert recovery.reconcile()["started"] == 1
    assert recovery.reconcile()["started"] == 0
    assert len(_entries(queue, job)) == 1


def test_an_overdue_scheduled_poll_is_moved_to_the_queue_not_copied(alice: Any, queue: Any) -> None:
    # RQ's scheduler isn't moving it (its holder died): the reconciler moves that entry.
    job = make_job(alice, S.PROCESSING, task_id="t1")
    tasks.schedule(tasks.poll_job, job.pk, 30)
    scheduled = ScheduledJobRegistry("default", connection=queue.connection)
    assert len(scheduled) == 1 and not _entries(queue, job)
    assert recovery.reconcile()["polled"] == 0
    assert len(scheduled) == 0
    assert len(_entries(queue, job)) == 1


def test_a_stale_copy_of_a_poll_returns_without_reading_the_status(alice: Any, queue: Any) -> None:
    job = make_job(alice, S.PROCESSING, task_id="t1")
    tasks.schedule(tasks.poll_job, job.pk, 0)
    stale = queue.fetch_job(_entries(queue, job)[0])
    tasks.schedule(tasks.poll_job, job.pk, 0)  # say, a callback's confirmation
    with responses.RequestsMock() as mock:  # no status read may happen
        stale.perform()
        assert not mock.calls
    job.refresh_from_db()
    assert job.poll_count == 0


def test_a_stale_copy_goes_on_when_the_later_entry_was_lost(alice: Any, queue: Any) -> None:
    job = make_job(alice, S.PROCESSING, task_id="t1")
    tasks.schedule(tasks.poll_job, job.pk, 0)
    stale = queue.fetch_job(_entries(queue, job)[0])
    tasks.schedule(tasks.poll_job, job.pk, 0)
    queue.connection.flushall()
    with responses.RequestsMock() as mock:
        mock.add(
            responses.GET,
            status_url(),
            json={"code": 200, "data": {"taskId": "t1", "state": "processing"}},
        )
        stale.perform()
    job.refresh_from_db()
    assert job.poll_count == 1
