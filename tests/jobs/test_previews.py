"""Previews: the worker makes a 2048 px WebP of every result beside its thumbnail; the job
page, the tier strip and the share page show it instead of the full file. A job that
finished before previews existed is served its full result once, while the worker makes
the missing preview."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import reverse
from PIL import Image

from jobs import dedupe, retention, tasks
from jobs.models import Job, ShareLink
from lib import fetch, images
from tests.conftest import image_bytes, make_job, with_files
from tests.jobs.tasks_support import accepted_job, add_success, reload
from tests.jobs.views_support import FakeQueue

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(30)]
ORIENTATION = 0x0112
URL = "https://images.example.com/cat.jpg"


@pytest.fixture(params=["libvips", "pillow"])
def maker(request: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "pillow":  # as on a machine without libvips
        monkeypatch.setattr(images, "_vips_renditions", lambda path: None)
    return str(request.param)


def _saved(tmp_path: Path, size: tuple[int, int], fmt: str, orientation: int = 1) -> str:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    path = tmp_path / f"result.{fmt.lower()}"
    Image.new("RGB", size, (40, 90, 200)).save(path, fmt, exif=exif.tobytes())
    return str(path)


def _size(data: bytes) -> tuple[str, tuple[int, int]]:
    with Image.open(io.BytesIO(data)) as img:
        return str(img.format), img.size


# --- making them -------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_it_makes_a_2048_px_webp_preview_and_a_thumbnail(
    tmp_path: Path, maker: str, fmt: str
) -> None:
    made = images.make_renditions(_saved(tmp_path, (4096, 2730), fmt))
    assert _size(made.preview) == ("WEBP", (2048, 1365))
    assert _size(made.thumbnail) == ("WEBP", (480, 320))
    assert (made.width, made.height) == (4096, 2730)


def test_it_turns_the_preview_upright(tmp_path: Path, maker: str) -> None:
    made = images.make_renditions(_saved(tmp_path, (3000, 2000), "PNG", orientation=6))
    assert _size(made.preview) == ("WEBP", (1365, 2048))


def test_it_never_enlarges_a_small_result(tmp_path: Path, maker: str) -> None:
    made = images.make_renditions(_saved(tmp_path, (1200, 800), "PNG"))
    assert _size(made.preview) == ("WEBP", (1200, 800))


def test_it_falls_back_to_pillow_when_libvips_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    import pyvips

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise pyvips.Error("out of order")

    monkeypatch.setattr(pyvips.Image, "thumbnail", broken)
    made = images.make_renditions(_saved(tmp_path, (4096, 2730), "PNG"))
    assert "libvips could not make a thumbnail" in caplog.text
    assert _size(made.preview) == ("WEBP", (2048, 1365))


# --- the worker --------------------------------------------------------------------------


@pytest.fixture
def mock(monkeypatch: pytest.MonkeyPatch, settings: Any) -> Iterator[responses.RequestsMock]:
    settings.APIXO_CALLBACKS = "off"
    monkeypatch.setattr(tasks, "schedule", lambda *args: None)
    monkeypatch.setattr(fetch, "_resolve", lambda host, port: ["93.184.216.34"])
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield rsps


def test_the_worker_stores_a_preview_beside_the_thumbnail(mock: Any, alice: User) -> None:
    job = accepted_job(alice)
    add_success(mock, body=image_bytes(size=(4096, 2730)))
    tasks.poll_job(job.pk)
    job = reload(job)
    assert job.state == Job.State.SUCCESS
    name = str(job.preview.name)
    assert name.startswith("previews/") and name.endswith(".webp")
    with job.preview.open("rb") as f:
        assert _size(f.read()) == ("WEBP", (2048, 1365))


def test_a_reused_copy_shares_the_preview(alice: User) -> None:
    job = with_files(make_job(alice, Job.State.SUCCESS))
    job.preview.save("p.webp", ContentFile(image_bytes("WEBP")))
    assert dedupe.copy_fields(job)["preview"] == job.preview.name


def test_retention_removes_the_preview(alice: User, settings: Any) -> None:
    settings.RETENTION_DAYS = 1
    job = with_files(make_job(alice, Job.State.SUCCESS))
    job.preview.save("p.webp", ContentFile(image_bytes("WEBP")))
    name = str(job.preview.name)
    Job.objects.filter(pk=job.pk).update(created=job.created.replace(year=2020))
    assert retention.purge_expired() == 1
    assert not reload(job).preview
    assert not job.preview.storage.exists(name)


# --- serving them, and the older jobs without one ---------------------------------------


def done(user: User, preview: bool = True) -> Job:
    job = with_files(make_job(user, Job.State.SUCCESS, source_url=URL, result_width=128))
    if preview:
        job.preview.save("p.webp", ContentFile(image_bytes("WEBP", size=(100, 75))))
    return job


def test_the_job_page_shows_previews_not_results(alice_client: Client, alice: User) -> None:
    job = done(alice)
    other = done(alice)
    Job.objects.filter(pk=other.pk).update(resolution="4k")
    html = alice_client.get(job.get_absolute_url()).content.decode()
    tiers = html.split('id="tiers"')[1]
    assert f'src="/jobs/{other.code}/preview/"' in tiers
    assert f'src="/jobs/{job.code}/result/"' not in html
    assert "js/compare.js" in html


def test_it_serves_the_preview(alice_client: Client, alice: User) -> None:
    job = done(alice)
    r = alice_client.get(reverse("job_preview", args=[job.code]))
    assert r["Content-Type"] == "image/webp"
    assert _size(b"".join(r.streaming_content)) == ("WEBP", (100, 75))  # type: ignore[attr-defined]


def test_it_serves_nobody_else_the_preview(alice: User, bob: User) -> None:
    job = done(alice)
    client = Client()
    client.force_login(bob)
    assert client.get(reverse("job_preview", args=[job.code])).status_code == 404


def test_an_older_job_gets_its_result_while_the_worker_makes_a_preview(
    alice_client: Client, alice: User, queue: FakeQueue
) -> None:
    job = done(alice, preview=False)
    copy = make_job(
        alice, Job.State.SUCCESS, source_url=URL, reused_from=job, result_file=job.result_file.name
    )
    for _ in range(2):  # asked twice, made once
        r = alice_client.get(reverse("job_preview", args=[job.code]))
        assert r.status_code == 302 and r["Location"] == reverse("job_result", args=[job.code])
        assert r["Cache-Control"] == "no-store"  # the next visit gets the preview
    assert queue.enqueued == [(tasks.make_preview, (job.pk,))]

    tasks.make_preview(job.pk)
    job, copy = reload(job), reload(copy)
    assert job.preview and copy.preview.name == job.preview.name
    with job.preview.open("rb") as f:
        assert _size(f.read()) == ("WEBP", (128, 96))
    r = alice_client.get(reverse("job_preview", args=[job.code]))
    assert r.status_code == 200 and r["Content-Type"] == "image/webp"


def test_a_preview_of_an_unreadable_result_is_not_made(alice: User, caplog: Any) -> None:
    job = make_job(alice, Job.State.SUCCESS)
    job.result_file.save("r.jpg", ContentFile(b"not an image"))
    tasks.make_preview(job.pk)
    assert not reload(job).preview
    assert "no preview" in caplog.text


def test_the_share_page_compares_with_the_preview(client: Client, alice: User) -> None:
    job = done(alice)
    link = ShareLink.objects.create(
        job=job, created_by=alice, expires=job.created.replace(year=2100)
    )
    html = client.get(link.get_absolute_url()).content.decode()
    assert f'src="{reverse("share_preview", args=[link.token])}"' in html
    assert f'data-full="{reverse("share_result", args=[link.token])}"' in html
    assert 'id="compare-range"' in html and "js/compare.js" in html
    r = client.get(reverse("share_preview", args=[link.token]))
    assert r["Content-Type"] == "image/webp" and r["Referrer-Policy"] == "no-referrer"


def test_an_older_shared_job_falls_back_to_the_result(
    client: Client, alice: User, queue: FakeQueue
) -> None:
    job = done(alice, preview=False)
    link = ShareLink.objects.create(
        job=job, created_by=alice, expires=job.created.replace(year=2100)
    )
    r = client.get(reverse("share_preview", args=[link.token]))
    assert r.status_code == 302 and r["Location"] == reverse("share_result", args=[link.token])
    assert r["Referrer-Policy"] == "no-referrer"
    assert queue.enqueued == [(tasks.make_preview, (job.pk,))]


def test_a_result_without_a_source_shows_its_preview_and_links_the_file(
    alice_client: Client, alice: User
) -> None:
    job = done(alice)
    job.source_file = ""
    job.save()
    html = alice_client.get(job.get_absolute_url()).content.decode()
    assert (
        f'<a href="/jobs/{job.code}/result/"><img class="result" src="/jobs/{job.code}/preview/"'
        in html
    )
