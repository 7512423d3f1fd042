"""Fixtures and helpers shared by the tests split out of tests/test_tasks.py."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
import responses
from django.conf import settings as django_settings
from responses import matchers

from jobs import tasks
from jobs.models import Budget, Job
from lib import fetch
from tests.apixo_support import auth, status_url, submit_url
from tests.conftest import image_bytes, make_job

S = Job.State


TASK_ID = "task_abc123"


SOURCE_URL = "https://images.example.com/photo.jpg"


RESULT_URL = "https://cdn.example.test/out.jpg"


# Every module split out of tests/test_tasks.py takes these as its pytestmark: the three
# fixtures that were test_tasks.py's autouse ones, named so they apply to those modules only.
TASK_MARKS = [
    pytest.mark.django_db,
    pytest.mark.timeout(30),
    pytest.mark.usefixtures("apixo_settings", "scheduled", "public_hosts"),
]


def add_submit(mock: responses.RequestsMock, **kwargs: Any) -> None:
    if "body" not in kwargs:
        kwargs.setdefault("json", {"code": 200, "message": "success", "data": {"taskId": TASK_ID}})
    mock.add(responses.POST, submit_url(), **kwargs)


def add_submit_error(mock: responses.RequestsMock, status: int, message: str = "no") -> None:
    add_submit(mock, status=status, json={"code": status, "message": message})


def add_status(mock: responses.RequestsMock, state: str, **fields: Any) -> None:
    data = {"taskId": TASK_ID, "state": state, "createTime": 1764000000000, **fields}
    mock.add(
        responses.GET,
        status_url(),
        match=[matchers.query_param_matcher({"taskId": TASK_ID}), auth()],
        json={"code": 200, "message": "success", "data": data},
    )


def add_success(
    mock: responses.RequestsMock, body: bytes | None = None, **result_json: Any
) -> bytes:
    """APIXO reports success, and its CDN serves a 2048x1365 JPEG. Return the JPEG."""
    result = image_bytes(size=(2048, 1365)) if body is None else body
    add_status(
        mock,
        "success",
        resultJson=json.dumps({"resultUrls": [RESULT_URL], **result_json}),
        completeTime=1764000021000,
        costTime=21000,
    )
    mock.add(responses.GET, RESULT_URL, body=result, content_type="image/jpeg")
    return result


def accepted_job(user: Any, **fields: Any) -> Job:
    """A job APIXO accepted (task TASK_ID), charged its 1 cent as submit_job leaves it."""
    assert user.budget.reserve(1)
    job = make_job(user, state=S.SUBMITTING, **fields)
    assert job.accept(TASK_ID)
    return job


def budget_of(job: Job) -> Budget:
    return Budget.objects.get(pk=job.budget_id)


def stored(folder: str) -> list[str]:
    path = os.path.join(django_settings.MEDIA_ROOT, folder)
    return os.listdir(path) if os.path.isdir(path) else []


def reload(job: Job) -> Job:
    return Job.objects.get(pk=job.pk)


@pytest.fixture  # every test of the split modules uses it (pytestmark)
def apixo_settings(settings: Any) -> Any:
    # Distinct values, so an assertion can tell which one a task used.
    settings.APIXO_FIRST_POLL = 12
    settings.APIXO_POLL_INTERVAL = 7
    settings.APIXO_POLL_INTERVAL_8K = 15
    settings.APIXO_BACKOFF_BASE = 5
    settings.APIXO_BACKOFF_MAX = 120
    settings.APIXO_DEADLINE = 1800
    settings.APIXO_SUBMIT_ATTEMPTS = 3
    settings.SITE_URL = "https://upscaler.example.test"
    settings.APIXO_CALLBACKS = "off"  # polling mode; callback mode has tests of its own
    return settings


@pytest.fixture  # every test of the split modules uses it (pytestmark)
def scheduled(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, int, float, tuple[Any, ...]]]:
    """What the tasks scheduled for later: (function, job id, delay, extra args)."""
    calls: list[tuple[Any, int, float, tuple[Any, ...]]] = []

    def record(func: Any, job_id: int, delay: float, *args: Any) -> None:
        calls.append((func, job_id, delay, args))

    monkeypatch.setattr(tasks, "schedule", record)
    return calls


@pytest.fixture  # every test of the split modules uses it (pytestmark)
def public_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every image host resolves to a global address, so downloads pass the SSRF check."""
    monkeypatch.setattr(fetch, "_resolve", lambda host, port: ["93.184.216.34"])


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield rsps
