from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from jobs import tasks
from jobs.models import Job
from tests.conftest import make_job

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(30)]
TASK_ID = "task_abc123"


@pytest.fixture
def scheduled(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, int, float]]:
    calls: list[tuple[Any, int, float]] = []
    monkeypatch.setattr(
        tasks, "schedule", lambda f, job_id, delay, *a: calls.append((f, job_id, delay))
    )
    return calls


@pytest.fixture
def pending(alice: Any) -> Job:
    assert alice.budget.reserve(1)
    job = make_job(alice, Job.State.SUBMITTING)
    assert job.accept(TASK_ID, via_callback=True)
    return job


def _post(job_or_secret: Job | str, body: Any = None, **kwargs: Any) -> Any:
    secret = job_or_secret if isinstance(job_or_secret, str) else job_or_secret.callback_secret
    client = Client(enforce_csrf_checks=True)  # APIXO has no CSRF token
    if body is None:
        body = {"code": 200, "message": "success", "data": {"taskId": TASK_ID, "state": "success"}}
    data = body if isinstance(body, str) else json.dumps(body)
    return client.post(
        f"/webhooks/apixo/{secret}/", data, content_type="application/json", **kwargs
    )


def _fixture(name: str) -> dict[str, Any]:
    from pathlib import Path

    path = Path(__file__).parents[1] / "fixtures" / f"webhook_{name}.json"
    return dict(json.loads(path.read_text()))


def test_it_confirms_a_callback_with_a_status_read(pending: Job, scheduled: list[Any]) -> None:
    r = _post(pending, _fixture("success"))
    assert r.status_code == 200
    assert scheduled == [(tasks.confirm_callback, pending.pk, 0.0)]
    pending.refresh_from_db()
    assert pending.state == "pending"  # the body alone changes nothing


def test_it_confirms_a_failure_callback_too(pending: Job, scheduled: list[Any]) -> None:
    assert _post(pending, _fixture("failed")).status_code == 200
    assert len(scheduled) == 1


def test_it_confirms_repeated_deliveries_once(pending: Job, scheduled: list[Any]) -> None:
    for _ in range(5):
        assert _post(pending).status_code == 200
    assert len(scheduled) == 1


def test_it_answers_200_for_an_unknown_secret(scheduled: list[Any], db: None) -> None:
    assert _post("not-a-secret").status_code == 200
    assert scheduled == []


def test_it_ignores_a_callback_for_another_task(pending: Job, scheduled: list[Any]) -> None:
    body = {"code": 200, "data": {"taskId": "task_forged", "state": "success"}}
    assert _post(pending, body).status_code == 200
    assert scheduled == []


def test_it_ignores_an_unreadable_body(
    pending: Job, scheduled: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    assert _post(pending, "<html>not json</html>").status_code == 200
    assert scheduled == []
    assert "unreadable body" in caplog.text


def test_it_ignores_a_finished_job(alice: Any, scheduled: list[Any]) -> None:
    job = make_job(alice, Job.State.SUCCESS, task_id=TASK_ID)
    assert _post(job).status_code == 200
    assert scheduled == []


def test_it_confirms_later_when_the_callback_beats_our_task_id(
    alice: Any, scheduled: list[Any]
) -> None:
    assert alice.budget.reserve(1)
    job = make_job(alice, Job.State.SUBMITTING)
    assert _post(job).status_code == 200
    [(func, job_id, delay)] = scheduled
    assert (func, job_id) == (tasks.confirm_callback, job.pk) and delay > 0


def test_it_only_takes_post(pending: Job) -> None:
    assert Client().get(f"/webhooks/apixo/{pending.callback_secret}/").status_code == 405


def test_callback_urls_carry_an_unguessable_secret(alice: Any, settings: Any) -> None:
    settings.SITE_URL = "https://upscaler.example.org"
    first, second = make_job(alice), make_job(alice)
    url = tasks.callback_url(first)
    assert url.startswith("https://upscaler.example.org/webhooks/apixo/")
    assert str(first.code) not in url
    assert len(first.callback_secret) >= 40 and first.callback_secret != second.callback_secret


@pytest.mark.parametrize(
    ("mode", "site", "expected"),
    [
        ("auto", "https://upscaler.example.org", True),
        ("auto", "http://upscaler.example.org", False),
        ("auto", "https://127.0.0.1:8000", False),
        ("auto", "https://localhost", False),
        ("auto", "https://10.0.0.5", False),
        ("on", "http://127.0.0.1:8000", True),
        ("off", "https://upscaler.example.org", False),
    ],
)
def test_callback_mode_is_used_only_where_apixo_can_reach_us(
    settings: Any, mode: str, site: str, expected: bool
) -> None:
    settings.APIXO_CALLBACKS = mode
    settings.SITE_URL = site
    assert tasks.use_callbacks() is expected


def test_callback_mode_submits_with_our_webhook_and_polls_only_as_a_safety_net(
    alice: Any, settings: Any, scheduled: list[Any]
) -> None:
    import responses
    from responses import matchers

    settings.APIXO_CALLBACKS = "on"
    assert alice.budget.reserve(1)
    job = make_job(alice)
    with responses.RequestsMock() as mock:
        mock.add(
            responses.POST,
            f"{settings.APIXO_BASE_URL}/generateTask/image-upscaler",
            json={"code": 200, "message": "success", "data": {"taskId": TASK_ID}},
            match=[
                matchers.json_params_matcher(
                    {
                        "request_type": "callback",
                        "callback_url": tasks.callback_url(job),
                        "input": {
                            "mode": "image-to-image",
                            "image_urls": [job.source_url],
                            "resolution": "2k",
                            "output_format": "jpg",
                        },
                    }
                )
            ],
        )
        tasks.submit_job(job.pk)
    job.refresh_from_db()
    assert job.state == "pending" and job.via_callback
    assert scheduled == [(tasks.poll_job, job.pk, settings.APIXO_SAFETY_POLL)]


def test_it_ignores_a_body_nested_too_deep_to_parse(
    pending: Job, scheduled: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    deep = '{"data": ' + "[" * 100_000 + "]" * 100_000 + "}"
    assert _post(pending, deep).status_code == 200
    assert scheduled == []
    assert "unreadable body" in caplog.text


def test_it_finds_the_job_by_its_secret_through_an_index(db: None) -> None:
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # a few rows: make the planner show its index
            cursor.execute("SET LOCAL enable_seqscan = off")
    plan = Job.objects.filter(callback_secret="forged").only("pk").explain()
    assert "job_callback_secret" in plan, plan
