"""The whole path with real parts: web form -> Redis -> RQ worker -> engine -> result."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from jobs.models import Charge, Job
from tests.conftest import make_user
from tests.engine.support import sharpness

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(90),
]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _form(**overrides: Any) -> dict[str, Any]:
    data = {"urls": "", "resolution": "2k", "output_format": "jpg", "key": str(uuid.uuid4())}
    data.update(overrides)
    return data


def test_a_photo_and_a_link_are_upscaled_and_charged_once_each(
    worker: Any, engine: str, wait_until_done: Any, settings: Any
) -> None:
    user = make_user("erin")
    photo = SimpleUploadedFile("chelsea.jpg", (FIXTURES / "chelsea.jpg").read_bytes())
    r = _client_for(user).post(
        "/jobs/", _form(images=[photo], urls=f"{engine}/samples/landscape.jpg")
    )
    assert r.status_code == 302, r.content[:2000]

    jobs = wait_until_done(Job.objects.filter(user=user))
    assert [j.state for j in jobs] == ["success", "success"], [
        (j.fail_code, j.fail_msg) for j in jobs
    ]
    for job in jobs:
        with Image.open(job.result_file.path) as result:
            assert result.format == "JPEG"
            assert max(result.size) == 2048
        assert job.thumbnail and job.task_id and job.apixo_cost_time is not None
    cat = next(j for j in jobs if j.source_name == "chelsea.jpg")
    assert (cat.result_width, cat.result_height) == (2048, round(300 * 2048 / 451))

    user.budget.refresh_from_db()
    assert (user.budget.spent_cents, user.budget.reserved_cents) == (2, 0)
    assert Charge.objects.filter(user=user).count() == 2


def test_a_failed_task_shows_its_code_and_can_be_retried(
    worker: Any, engine: str, wait_until_done: Any
) -> None:
    user = make_user("fred")
    client = _client_for(user)
    client.post("/jobs/", _form(urls=f"{engine}/samples/logo.png?engine_fail=SensitiveContent"))
    [failed] = wait_until_done(Job.objects.filter(user=user))
    assert (failed.state, failed.fail_code) == ("failed", "SensitiveContent")
    page = client.get("/").content.decode()
    assert "Use a different image" in page
    assert "Retry (new job, $0.01)" in page

    # APIXO billed the submitted image, so the failed job stays charged; the retry is new.
    client.post(f"/jobs/{failed.code}/retry/")
    jobs = wait_until_done(Job.objects.filter(user=user))
    assert len(jobs) == 2
    user.budget.refresh_from_db()
    assert user.budget.spent_cents == 2


def test_a_rejected_request_costs_nothing(worker: Any, engine: str, wait_until_done: Any) -> None:
    user = make_user("gina")
    _client_for(user).post("/jobs/", _form(urls=f"{engine}/samples/logo.png?engine_http=400"))
    [job] = wait_until_done(Job.objects.filter(user=user))
    assert (job.state, job.fail_code) == ("failed", "Rejected")
    user.budget.refresh_from_db()
    assert (user.budget.spent_cents, user.budget.reserved_cents) == (0, 0)
    assert not Charge.objects.exists()


def test_rate_limits_are_waited_out(worker: Any, engine: str, wait_until_done: Any) -> None:
    user = make_user("hank")
    _client_for(user).post(
        "/jobs/", _form(urls=f"{engine}/samples/logo.png?engine_429=2", output_format="png")
    )
    [job] = wait_until_done(Job.objects.filter(user=user))
    assert job.state == "success", (job.fail_code, job.fail_msg)
    with Image.open(job.result_file.path) as result:
        assert result.format == "PNG"
    user.budget.refresh_from_db()
    assert user.budget.spent_cents == 1


def test_the_engine_upscales_with_a_model_and_the_page_says_which(
    worker: Any, engine: str, wait_until_done: Any
) -> None:
    from apixo_engine import weights

    weights.ensure()  # the engine reads the shared cache (ENGINE_MODEL_DIR's default)
    user = make_user("mona")
    client = _client_for(user)
    model = "realesr-animevideov3-x4"
    links = f"{engine}/samples/landscape.jpg?engine_model={model}\n"
    links += f"{engine}/samples/landscape.jpg?engine_model=lanczos"
    r = client.post("/jobs/", _form(urls=links))
    assert r.status_code == 302, r.content[:2000]

    jobs = wait_until_done(Job.objects.filter(user=user))
    by_model = {j.made_by: j for j in jobs}
    assert set(by_model) == {
        f"Embedded engine: {model}",
        "Embedded engine: Lanczos resize (no model)",
    }, [(j.state, j.fail_msg) for j in jobs]
    sharp = by_model[f"Embedded engine: {model}"]
    soft = by_model["Embedded engine: Lanczos resize (no model)"]
    assert (sharp.result_width, sharp.result_height) == (soft.result_width, soft.result_height)
    with Image.open(sharp.result_file.path) as a, Image.open(soft.result_file.path) as b:
        assert sharpness(a) > 2 * sharpness(b)
    page = client.get(sharp.get_absolute_url()).content.decode()
    assert f"<dt>Made by</dt><dd>Embedded engine: {model}</dd>" in page
