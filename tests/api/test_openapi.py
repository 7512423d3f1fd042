"""The OpenAPI document against the live API: schemathesis generates requests from it, sends
them through Django's WSGI app, and checks every answer against the document (status codes,
content types, headers, bodies) and that the API refuses bad input and missing tokens.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api.models import ApiToken
from api.schema import openapi_document
from jobs.models import Charge, Job
from lib import fetch
from lib.tokens import hash_token
from tests.conftest import image_bytes, make_job, make_team_job, with_files
from upscaler_site.wsgi import application

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(120)]


@pytest.fixture
def wsgi_app() -> Iterator[Any]:
    """Django's WSGI app, without closing the test's database connection after each
    request (what Django's own test client does too)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield application
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def token(alice: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    # Generated links resolve to a public address, so valid ones make real (queued) jobs.
    monkeypatch.setattr(fetch, "_resolve", lambda host, port: ["93.184.216.34"])
    with_files(make_job(alice, Job.State.SUCCESS))
    make_job(alice, Job.State.FAILED, fail_code="SourceInvalid", fail_msg="Not an image.")
    ApiToken.objects.create(user=alice, name="schemathesis", token_hash=hash_token(TOKEN))
    return TOKEN


# The document the view serves (test_it_serves_this_document checks they are the same).
# Loaded at import, not through schemathesis.pytest.from_fixture: its lazy loader doesn't
# work with pytest 9 yet (it sets the removed `Function._nodeid`).
schema = schemathesis.openapi.from_dict(openapi_document())
schema.app = application  # requests go through Django's WSGI app, in this process
# The token the `token` fixture stores for Alice. Given as configuration (not per call) so
# schemathesis knows the requests are authenticated and tests missing auth on its own.
TOKEN = "ups_schemathesis-test-token"
schema.config.update(headers={"Authorization": f"Bearer {TOKEN}"})


@schema.parametrize()
@settings(
    max_examples=50,
    derandomize=True,  # the same cases every run: `make test` must not flake
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_keeps_to_its_document(case: Any, token: str, wsgi_app: Any) -> None:
    # Valid by the document is not always acceptable: a well-formed link may still be
    # private or unresolvable, and the form's messages say so with a 400. Everything
    # else is checked, including that invalid input and a missing token are refused.
    case.call_and_validate(excluded_checks=[positive_data_acceptance])


def test_real_jobs_keep_to_the_document(
    alice: Any, team: Any, wsgi_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Generated ids are never real ones: check the 200 and 201 answers on real jobs."""
    monkeypatch.setattr(fetch, "_resolve", lambda host, port: ["93.184.216.34"])
    token = ApiToken.issue(alice, "schemathesis")[1]
    auth = {"Authorization": f"Bearer {token}"}
    done = with_files(make_job(alice, Job.State.SUCCESS, result_width=128, result_height=96))
    failed = make_job(alice, Job.State.FAILED, fail_code="Timeout", retry_of=done, task_id="t")
    Charge.objects.create(job=failed, job_code=failed.code, budget=alice.budget, amount_cents=1)
    copy = make_job(alice, Job.State.SUCCESS, reused_from=done)
    make_team_job(team, alice)
    cases = [
        schema["/api/v1/jobs/{id}"]["GET"].Case(path_parameters={"id": str(done.code)}),
        schema["/api/v1/jobs/{id}"]["GET"].Case(path_parameters={"id": str(failed.code)}),
        schema["/api/v1/jobs/{id}"]["GET"].Case(path_parameters={"id": str(copy.code)}),
        schema["/api/v1/jobs/{id}/result"]["GET"].Case(path_parameters={"id": str(done.code)}),
        schema["/api/v1/jobs"]["GET"].Case(query={"team": str(team.code), "per_page": 1}),
        schema["/api/v1/jobs"]["POST"].Case(
            body={"urls": ["https://images.example.com/a.jpg"], "team": str(team.code)},
            media_type="application/json",
        ),
        schema["/api/v1/jobs"]["POST"].Case(
            body={"images": [image_bytes("PNG")], "resolution": "2k"},  # type: ignore[list-item]
            media_type="multipart/form-data",
        ),
    ]
    answers = [case.call_and_validate(headers=auth) for case in cases]
    assert [r.status_code for r in answers] == [200, 200, 200, 200, 200, 201, 201]
    assert [(r.json()["charged_cents"], r.json()["reused"]) for r in answers[:3]] == [
        (0, False),
        (1, False),
        (0, True),
    ]


def test_the_document_is_public_and_valid_openapi_3_1(client: Client) -> None:
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["openapi"].startswith("3.1")
    assert set(doc["paths"]) == {
        "/api/v1/jobs",
        "/api/v1/jobs/{id}",
        "/api/v1/jobs/{id}/result",
        "/api/v1/openapi.json",
    }
    assert "jobFinished" in doc["webhooks"]
    job = doc["components"]["schemas"]["Job"]
    assert {"charged_cents", "reused"} <= set(job["required"])
    assert job["properties"]["charged_cents"]["type"] == "integer"
    assert job["properties"]["reused"]["type"] == "boolean"
    assert doc == json.loads(json.dumps(openapi_document()))
    assert len(list(schema.get_all_operations())) == 5
