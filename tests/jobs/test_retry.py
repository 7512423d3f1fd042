"""Retrying a job happens once: concurrent clicks make one new job (and one reservation),
on real transactions; and jobs retried before the link existed get it from the migration."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from jobs.models import Budget, Job
from jobs.submit import retry
from tests.conftest import make_job, make_user
from tests.jobs.test_quota import _race
from tests.test_migrations import _migrate

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


def test_concurrent_retries_of_one_job_make_one_new_job() -> None:
    user = make_user("clicker")
    failed = make_job(user, Job.State.FAILED, fail_code="Timeout")
    results = _race(4, lambda i: retry(Job.objects.get(pk=failed.pk)))
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert sorted(created for _, created in results) == [False, False, False, True]
    new = Job.objects.get(retry_of=failed)
    assert {job.pk for job, _ in results} == {new.pk}
    failed.refresh_from_db()
    assert failed.retried_as_id == new.pk
    assert Budget.objects.get(user=user).reserved_cents == 1


def test_the_migration_links_jobs_retried_before_it() -> None:
    apps = _migrate([("jobs", "0009_job_callback_secret_index")])
    try:
        user = apps.get_model("auth", "User").objects.create(username="old")
        budget = apps.get_model("jobs", "Budget").objects.create(user=user)
        Batch = apps.get_model("jobs", "Batch")
        OldJob = apps.get_model("jobs", "Job")

        def job(**fields: Any) -> Any:
            batch = Batch.objects.create(code=uuid.uuid4(), user=user)
            return OldJob.objects.create(user=user, budget=budget, batch=batch, **fields)

        failed = job(source_name="a.jpg", state="failed")
        first = job(source_name="a.jpg", retry_of=failed)
        job(source_name="a.jpg", retry_of=failed)  # retried twice, before the link existed
        alone = job(source_name="b.jpg", state="failed")
    finally:
        _migrate(list(MigrationExecutor(connection).loader.graph.leaf_nodes()))
    assert Job.objects.get(pk=failed.pk).retried_as_id == first.pk
    assert Job.objects.get(pk=alone.pk).retried_as_id is None
