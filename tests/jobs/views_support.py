"""Fixtures and helpers shared by the tests split out of tests/test_views.py."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from jobs import tasks
from jobs.models import Charge, Job
from tests.conftest import image_bytes


class FakeQueue:
    def __init__(self) -> None:
        self.enqueued: list[tuple[Any, tuple[Any, ...]]] = []

    def enqueue(self, func: Any, *args: Any, **options: Any) -> None:
        self.enqueued.append((func, args))


def _payload(**overrides: Any) -> dict[str, Any]:
    data = {"urls": "", "resolution": "2k", "output_format": "jpg", "key": str(uuid.uuid4())}
    data.update(overrides)
    return data


def _upload(name: str = "cat.png", content: bytes | None = None) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content if content is not None else image_bytes("PNG"))


def _banner(response: Any) -> str:
    """The pause banner a poll or submit answer swaps in (out-of-band), as text."""
    body = response.content.decode()
    assert '<div id="pause-banner" hx-swap-oob="true">' in body
    return str(body.split('<div id="pause-banner" hx-swap-oob="true">')[1].split("</div>")[0])


def _charge(job: Job, refunded: bool = False) -> None:
    """The ledger rows accept() (and an admin's refund) leave for a job APIXO accepted."""
    charge = Charge.objects.create(
        job=job, job_code=job.code, budget=job.budget, user=job.user, amount_cents=1
    )
    if refunded:
        Charge.objects.create(
            job=job,
            job_code=job.code,
            budget=job.budget,
            kind=Charge.Kind.REFUND,
            amount_cents=-1,
            refund_of=charge,
        )


@pytest.fixture
def queue(monkeypatch: pytest.MonkeyPatch) -> FakeQueue:
    q = FakeQueue()
    monkeypatch.setattr(tasks, "_queue", lambda: q)
    return q
