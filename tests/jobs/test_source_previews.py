"""Source previews: the compare's before side shows a 2048 px WebP of a source larger (or
heavier) than that, made by the worker from the decode it does anyway (lib.images
decode_source, convert_phone_photo; jobs.tasks); a small source is shown as is. Jobs from
before source previews show the full source, as they always did."""

from __future__ import annotations

import io
import uuid
from typing import Any

import pillow_heif
import pytest
import responses
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image

from jobs import retention, submit, tasks
from jobs.batches import delete_jobs
from jobs.models import Job, ShareLink
from lib import images
from tests.conftest import image_bytes, make_job, with_files
from tests.jobs.tasks_support import SOURCE_URL, reload
from tests.jobs.views_support import FakeQueue

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.timeout(60),
    pytest.mark.usefixtures("apixo_settings", "scheduled", "public_hosts"),
]
pillow_heif.register_heif_opener()
ORIENTATION = 0x0112


@pytest.fixture(autouse=True)
def no_submit(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The worker stops where it would submit to APIXO (these tests are about before that)."""
    submitted: list[int] = []
    monkeypatch.setattr(tasks, "submit_job", submitted.append)
    monkeypatch.setattr(tasks, "enqueue_start", lambda job_id: None)
    return submitted


def _encoded(size: tuple[int, int], fmt: str, noise: bool = False, **options: Any) -> bytes:
    img = (
        Image.effect_noise(size, 80).convert("RGB")
        if noise
        else Image.new("RGB", size, (40, 90, 200))
    )
    out = io.BytesIO()
    img.save(out, fmt, **options)
    return out.getvalue()


def _upload(client: Client, name: str, content: bytes) -> Job:
    r = client.post(
        "/jobs/",
        {
            "images": [SimpleUploadedFile(name, content)],
            "resolution": "4k",
            "output_format": "jpg",
            "key": str(uuid.uuid4()),
        },
    )
    assert r.status_code == 302, r.content.decode()[:500]
    return Job.objects.latest("pk")


def _size(field: Any) -> tuple[str, tuple[int, int]]:
    with field.open("rb") as f, Image.open(f) as img:
        return str(img.format), img.size


def _previews() -> list[str]:
    return default_storage.listdir("previews")[1] if default_storage.exists("previews") else []


# --- the worker makes one for a large source, and none for a small one -------------------


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_the_worker_makes_a_preview_of_a_large_upload(
    alice_client: Client, no_submit: list[int], fmt: str
) -> None:
    job = _upload(alice_client, f"big.{fmt.lower()}", _encoded((4000, 3000), fmt))
    tasks.start_job(job.pk)
    job = reload(job)
    assert _size(job.source_preview) == ("WEBP", (2048, 1536))
    assert str(job.source_preview.name).startswith("previews/")
    assert _size(job.source_file) == (fmt, (4000, 3000))  # APIXO still gets the file itself
    assert no_submit == [job.pk]


def test_a_large_png_is_decoded_once_for_its_check_and_its_preview(
    alice_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyvips
    from PIL import ImageFile

    job = _upload(alice_client, "big.png", _encoded((4000, 3000), "PNG"))
    decodes: list[str] = []
    real = pyvips.Image.new_from_buffer

    def counted(*args: Any, **kwargs: Any) -> Any:
        decodes.append("libvips")
        return real(*args, **kwargs)

    def pillow_load(self: Any) -> Any:
        decodes.append("Pillow")
        return real_load(self)

    real_load = ImageFile.ImageFile.load
    monkeypatch.setattr(pyvips.Image, "new_from_buffer", counted)
    monkeypatch.setattr(pyvips.Image, "thumbnail", lambda *a, **k: pytest.fail("decoded again"))
    monkeypatch.setattr(ImageFile.ImageFile, "load", pillow_load)
    tasks.start_job(job.pk)
    assert decodes == ["libvips"]
    assert _size(reload(job).source_preview) == ("WEBP", (2048, 1536))


def test_a_large_damaged_png_fails_with_no_preview_and_no_charge(
    alice_client: Client, no_submit: list[int]
) -> None:
    # The request's checks pass (every chunk's CRC is right); the pixels don't decode.
    job = _upload(alice_client, "big.png", _damaged_png(4000, 3000))
    tasks.start_job(job.pk)
    job = reload(job)
    assert (job.state, job.fail_code) == (Job.State.FAILED, "SourceInvalid")
    assert "damaged or incomplete" in job.fail_msg
    assert not job.source_preview and _previews() == [] and no_submit == []
    assert not job.charges.exists()


def _damaged_png(width: int, height: int) -> bytes:
    """Every chunk intact (CRCs right), but the pixel data inflates to garbage."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\x07" * 5000)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def test_a_small_upload_is_shown_as_is(alice_client: Client, no_submit: list[int]) -> None:
    job = _upload(alice_client, "small.png", _encoded((1600, 1200), "PNG"))
    tasks.start_job(job.pk)
    job = reload(job)
    assert no_submit == [job.pk]
    assert not job.source_preview and _previews() == []


def test_a_small_but_heavy_png_gets_a_preview(alice_client: Client) -> None:
    heavy = _encoded((1600, 1200), "PNG", noise=True)
    assert len(heavy) > images.SOURCE_AS_IS_BYTES  # a photo as PNG: ~3 bytes a pixel
    job = _upload(alice_client, "screenshot.png", heavy)
    tasks.start_job(job.pk)
    assert _size(reload(job).source_preview) == ("WEBP", (1600, 1200))


def test_the_preview_of_a_source_is_upright(alice_client: Client) -> None:
    exif = Image.Exif()
    exif[ORIENTATION] = 6  # "turn 90 degrees"
    job = _upload(alice_client, "side.jpg", _encoded((4000, 3000), "JPEG", exif=exif.tobytes()))
    tasks.start_job(job.pk)
    assert _size(reload(job).source_preview) == ("WEBP", (1536, 2048))


def test_the_worker_makes_a_preview_of_a_large_link_source(
    mock: responses.RequestsMock, job: Job
) -> None:
    mock.add(responses.GET, SOURCE_URL, body=_encoded((3000, 4000), "PNG"))
    tasks.start_job(job.pk)
    job = reload(job)
    assert (job.source_width, job.source_height) == (3000, 4000)
    assert _size(job.source_preview) == ("WEBP", (1536, 2048))


def test_a_small_link_source_is_shown_as_is(mock: responses.RequestsMock, job: Job) -> None:
    mock.add(responses.GET, SOURCE_URL, body=image_bytes(), content_type="image/jpeg")
    tasks.start_job(job.pk)
    job = reload(job)
    assert job.source_file and not job.source_preview and _previews() == []


def test_a_phone_photo_gets_its_preview_from_its_conversion(alice_client: Client) -> None:
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    heic = _encoded((3000, 2000), "HEIF", exif=exif.tobytes())
    job = _upload(alice_client, "IMG_1.HEIC", heic)
    tasks.start_job(job.pk)
    job = reload(job)
    assert _size(job.source_file) == ("PNG", (2000, 3000))
    assert _size(job.source_preview) == ("WEBP", (1365, 2048))


def test_a_retry_shares_the_preview_of_its_source(alice_client: Client, alice: User) -> None:
    job = _upload(alice_client, "big.jpg", _encoded((4000, 3000), "JPEG"))
    tasks.start_job(job.pk)
    job = reload(job)
    Job.objects.filter(pk=job.pk).update(state=Job.State.FAILED)
    new, created = submit.retry(reload(job))
    assert created
    tasks.start_job(new.pk)
    assert reload(new).source_preview.name == job.source_preview.name
    assert len(_previews()) == 1


# --- deleting it with the job's files -----------------------------------------------------


def _with_source_preview(job: Job) -> Job:
    job.source_preview.save("s.webp", ContentFile(image_bytes("WEBP", size=(80, 60))))
    return job


def test_retention_removes_the_source_preview(alice: User, settings: Any) -> None:
    settings.RETENTION_DAYS = 1
    job = _with_source_preview(with_files(make_job(alice, Job.State.SUCCESS)))
    name = str(job.source_preview.name)
    Job.objects.filter(pk=job.pk).update(created=job.created.replace(year=2020))
    assert retention.purge_expired() == 1
    assert not reload(job).source_preview
    assert not default_storage.exists(name)


def test_a_job_with_only_a_source_preview_left_is_purged_too(alice: User, settings: Any) -> None:
    settings.RETENTION_DAYS = 1
    job = _with_source_preview(make_job(alice, Job.State.CANCELED))
    Job.objects.filter(pk=job.pk).update(created=job.created.replace(year=2020))
    assert retention.purge_expired() == 1
    assert not default_storage.exists(str(job.source_preview.name))


def test_deleting_a_job_keeps_a_source_preview_its_retry_still_shows(alice: User) -> None:
    job = _with_source_preview(with_files(make_job(alice, Job.State.FAILED, source_url="")))
    name = str(job.source_preview.name)
    retry = make_job(
        alice,
        Job.State.FAILED,
        source_url="",
        source_file=job.source_file.name,
        source_preview=name,
    )
    assert delete_jobs(Job.objects.filter(pk=job.pk)) == (1, 0)
    assert default_storage.exists(name)
    assert delete_jobs(Job.objects.filter(pk=retry.pk)) == (1, 0)
    assert not default_storage.exists(name)


# --- the pages ------------------------------------------------------------------------------


def _done(user: User, source_preview: bool = True) -> Job:
    job = with_files(make_job(user, Job.State.SUCCESS, result_width=128, source_width=4000))
    job.preview.save("p.webp", ContentFile(image_bytes("WEBP", size=(100, 75))))
    return _with_source_preview(job) if source_preview else job


def test_it_serves_the_source_preview(alice_client: Client, alice: User) -> None:
    job = _done(alice)
    r = alice_client.get(reverse("job_source_preview", args=[job.code]))
    assert r.status_code == 200 and r["Content-Type"] == "image/webp"
    assert Image.open(io.BytesIO(b"".join(r.streaming_content))).size == (80, 60)  # type: ignore[attr-defined]


def test_it_serves_nobody_else_the_source_preview(alice: User, bob: User) -> None:
    job = _done(alice)
    client = Client()
    client.force_login(bob)
    assert client.get(reverse("job_source_preview", args=[job.code])).status_code == 404


def test_it_has_no_source_preview_for_a_small_source(alice_client: Client, alice: User) -> None:
    job = _done(alice, source_preview=False)
    assert alice_client.get(reverse("job_source_preview", args=[job.code])).status_code == 404


def test_the_compare_shows_the_source_preview_and_the_source_on_zoom(
    alice_client: Client, alice: User
) -> None:
    job = _done(alice)
    html = alice_client.get(job.get_absolute_url()).content.decode()
    assert f'class="compare-before" src="/jobs/{job.code}/source-preview/"' in html
    assert f'data-before-full="/jobs/{job.code}/source/" data-before-full-width="4000"' in html


def _older(user: User) -> Job:
    """A job from before source previews: a large JPEG source stored, no preview of it."""
    job = _done(user, source_preview=False)
    job.source_file.save("s.jpg", ContentFile(_encoded((3000, 2000), "JPEG")), save=False)
    job.source_width, job.source_height, job.source_bytes = 3000, 2000, job.source_file.size
    job.save()
    return job


def test_an_older_job_compares_with_its_full_source(
    alice_client: Client, alice: User, queue: FakeQueue
) -> None:
    job = _older(alice)
    html = alice_client.get(job.get_absolute_url()).content.decode()
    assert f'class="compare-before" src="/jobs/{job.code}/source/"' in html
    assert "data-before-full" not in html


def test_an_older_job_gets_its_source_preview_for_the_next_visit(
    alice_client: Client, client: Client, alice: User, queue: FakeQueue
) -> None:
    job = _older(alice)
    retry = make_job(
        alice, Job.State.QUEUED, source_file=job.source_file.name, retry_of=job, source_width=3000
    )
    link = ShareLink.objects.create(job=job, expires=job.created.replace(year=2100))
    for _ in range(2):  # asked three times, made once
        alice_client.get(job.get_absolute_url())
    client.get(link.get_absolute_url())
    assert queue.enqueued == [(tasks.make_source_preview, (job.pk,))]

    tasks.make_source_preview(job.pk)
    job, retry = reload(job), reload(retry)
    assert _size(job.source_preview) == ("WEBP", (2048, 1365))
    assert retry.source_preview.name == job.source_preview.name  # one file for the source
    html = alice_client.get(job.get_absolute_url()).content.decode()
    assert f'class="compare-before" src="/jobs/{job.code}/source-preview/"' in html


def test_a_small_older_source_needs_no_preview(
    alice_client: Client, alice: User, queue: FakeQueue
) -> None:
    job = _done(alice, source_preview=False)
    Job.objects.filter(pk=job.pk).update(source_width=800, source_height=600, source_bytes=90_000)
    alice_client.get(job.get_absolute_url())
    assert queue.enqueued == []


def test_an_unreadable_older_source_gets_no_preview(alice: User, caplog: Any) -> None:
    job = _older(alice)
    with job.source_file.open("wb") as f:
        f.write(b"not a jpeg at all")
    tasks.make_source_preview(job.pk)
    assert not reload(job).source_preview


def test_the_share_page_compares_with_the_source_preview(client: Client, alice: User) -> None:
    job = _done(alice)
    link = ShareLink.objects.create(
        job=job, created_by=alice, expires=job.created.replace(year=2100)
    )
    html = client.get(link.get_absolute_url()).content.decode()
    preview_url = reverse("share_source_preview", args=[link.token])
    assert f'class="compare-before" src="{preview_url}"' in html
    assert f'data-before-full="{reverse("share_source", args=[link.token])}"' in html
    r = client.get(preview_url)
    assert r["Content-Type"] == "image/webp" and r["Referrer-Policy"] == "no-referrer"


def test_without_libvips_pillow_checks_and_previews_a_source(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "pyvips", None)  # as on a machine without libvips
    made = images.decode_source(io.BytesIO(_encoded((4000, 3000), "PNG")), "png", preview=True)
    assert made is not None
    assert Image.open(io.BytesIO(made)).size == (2048, 1536)
    with pytest.raises(images.ImageRejected):
        images.decode_source(io.BytesIO(_damaged_png(4000, 3000)), "png", preview=True)


def test_an_upload_reused_at_submit_shows_the_source_preview_of_the_job_it_copies(
    alice_client: Client,
) -> None:
    big = _encoded((4000, 3000), "JPEG")
    job = _upload(alice_client, "big.jpg", big)
    tasks.start_job(job.pk)
    job = reload(job)
    job.result_file.save("r.jpg", ContentFile(image_bytes(size=(128, 96))), save=False)
    job.state = Job.State.SUCCESS
    job.save()
    copy = _upload(alice_client, "again.jpg", big)
    assert copy.reused_from == job
    assert copy.source_preview.name == job.source_preview.name
