"""The API's models moved from jobs to api by state-only migrations: no row is lost.

A database at the head before the move (jobs 0007, no api app) with a token, an endpoint,
a job and a delivery is migrated to the new head and back again.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from api.models import ApiToken, WebhookDelivery
from lib.tokens import hash_token

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]

Target = tuple[str, str | None]
BEFORE: list[Target] = [("jobs", "0007_job_made_by"), ("api", None)]
AFTER: list[Target] = [("jobs", "0008_move_api_models"), ("api", "0001_initial")]
RAW = "ups_" + "m" * 43


def _migrate(targets: Sequence[Target]) -> Any:
    """Migrate to targets (other apps stay at their head); return the apps of that state."""
    MigrationExecutor(connection).migrate(list(targets))
    graph = MigrationExecutor(connection).loader.graph
    named = {app for app, _ in targets}
    nodes = [node for node in graph.leaf_nodes() if node[0] not in named]
    for app, name in targets:
        if name is not None:
            nodes.append((app, name))
    return MigrationExecutor(connection).loader.project_state(nodes).apps


@pytest.fixture
def before() -> Iterator[Any]:
    apps = _migrate(BEFORE)
    try:
        yield apps
    finally:
        _migrate(list(MigrationExecutor(connection).loader.graph.leaf_nodes()))


def _seed(apps: Any) -> dict[str, Any]:
    """A token, an endpoint, a job and a delivery for it, as the old jobs app had them."""
    user = apps.get_model("auth", "User").objects.create(username="mia", email="mia@example.org")
    budget = apps.get_model("jobs", "Budget").objects.create(user=user, limit_cents=100)
    batch = apps.get_model("jobs", "Batch").objects.create(code=uuid.uuid4(), user=user)
    job = apps.get_model("jobs", "Job").objects.create(
        user=user, budget=budget, batch=batch, source_name="a.jpg", state="success"
    )
    token = apps.get_model("jobs", "ApiToken").objects.create(
        user=user, name="script", prefix=RAW[:8], token_hash=hash_token(RAW)
    )
    endpoint = apps.get_model("jobs", "WebhookEndpoint").objects.create(
        user=user, url="https://hooks.example.com/upscaler", secret="whsec_x"
    )
    delivery = apps.get_model("jobs", "WebhookDelivery").objects.create(
        endpoint=endpoint,
        event_id=uuid.uuid4(),
        event="job.succeeded",
        job=job,
        attempt=1,
        url=endpoint.url,
        ok=True,
    )
    content_types = apps.get_model("contenttypes", "ContentType").objects
    token_type, _ = content_types.get_or_create(app_label="jobs", model="apitoken")
    permission = apps.get_model("auth", "Permission").objects.create(
        content_type=token_type, codename="view_apitoken_x", name="Can view API tokens (x)"
    )
    return {
        "job": job.pk,
        "token": token.pk,
        "delivery": delivery.pk,
        "permission": permission.pk,
    }


def test_the_token_still_authenticates_and_the_delivery_keeps_its_job(before: Any) -> None:
    ids = _seed(before)
    _migrate(AFTER)
    token = ApiToken.authenticate(RAW)
    assert token is not None and token.pk == ids["token"]
    delivery = WebhookDelivery.objects.get(pk=ids["delivery"])
    assert delivery.job_id == ids["job"]
    assert delivery.endpoint.user == token.user


def test_permissions_follow_the_models(before: Any) -> None:
    ids = _seed(before)
    apps = _migrate(AFTER)
    permission = apps.get_model("auth", "Permission").objects.get(pk=ids["permission"])
    assert permission.content_type.app_label == "api"


def test_it_migrates_back_without_losing_a_row(before: Any) -> None:
    ids = _seed(before)
    _migrate(AFTER)
    apps = _migrate(BEFORE)
    token = apps.get_model("jobs", "ApiToken").objects.get(pk=ids["token"])
    assert token.token_hash == hash_token(RAW)
    delivery = apps.get_model("jobs", "WebhookDelivery").objects.get(pk=ids["delivery"])
    assert delivery.job_id == ids["job"]
    permission = apps.get_model("auth", "Permission").objects.get(pk=ids["permission"])
    assert permission.content_type.app_label == "jobs"
