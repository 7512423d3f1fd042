"""HEIC/AVIF uploads: the request reads their header only; the worker converts them to PNG
before APIXO fetches them (lib.images, jobs.tasks)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pillow_heif
import pytest
import responses
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from jobs import tasks
from jobs.models import Budget, Charge, Job
from lib import images
from tests.apixo_support import submit_url
from tests.conftest import image_bytes

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(60)]
S = Job.State
BOMBS = Path(__file__).resolve().parents[2] / "bench" / "fixtures"
pillow_heif.register_heif_opener()


@pytest.fixture(autouse=True)
def polling(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.APIXO_CALLBACKS = "off"
    monkeypatch.setattr(tasks, "schedule", lambda *a: None)


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add(
            responses.POST,
            submit_url(),
            json={"code": 200, "message": "success", "data": {"taskId": "task_1"}},
        )
        yield rsps


def _post(client: Client, name: str, content: bytes) -> Any:
    return client.post(
        "/jobs/",
        {
            "resolution": "2k",
            "output_format": "jpg",
            "key": "5e0c2d4a-9f62-4b39-9a4e-7d8f2c1b3a40",
            "images": [SimpleUploadedFile(name, content)],
        },
    )


def _rotated_heic() -> bytes:
    """A 60x40 HEIC whose EXIF says "turn 90 degrees": upright it is 40x60."""
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    Image.new("RGB", (60, 40), (10, 200, 30)).save(out, "HEIF", exif=exif.tobytes())
    return out.getvalue()


@pytest.mark.parametrize("name", ["flat_49mp.heic", "flat_49mp.avif"])
def test_a_49_megapixel_phone_photo_is_checked_from_its_header(
    alice_client: Client, alice: Any, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pillow_heif.as_plugin
    from PIL import AvifImagePlugin

    def no_decode(self: Any) -> Any:
        raise AssertionError("a phone photo was decoded in the request")

    # The two decoders' entry points: a request that decodes a pixel fails here.
    monkeypatch.setattr(pillow_heif.as_plugin._LibHeifImageFile, "load", no_decode)
    monkeypatch.setattr(AvifImagePlugin.AvifImageFile, "load", no_decode)
    r = _post(alice_client, name, (BOMBS / name).read_bytes())
    assert r.status_code == 302
    job = Job.objects.get(user=alice)
    assert (job.source_width, job.source_height) == (7000, 7000)


def test_a_phone_photo_over_the_pixel_limit_is_refused_from_its_header(
    alice_client: Client, settings: Any
) -> None:
    settings.UPLOAD_MAX_PIXELS = 40_000_000
    r = _post(alice_client, "IMG_1.HEIC", (BOMBS / "flat_49mp.heic").read_bytes())
    assert r.status_code == 400
    assert "7000x7000 pixels; the limit is 40 megapixels" in r.content.decode()
    assert not Job.objects.exists()


def test_the_worker_converts_a_heic_to_png_before_submitting(
    alice_client: Client, alice: Any, mock: responses.RequestsMock
) -> None:
    assert _post(alice_client, "IMG_2.HEIC", _rotated_heic()).status_code == 302
    job = Job.objects.get(user=alice)
    original = job.source_file.name
    tasks.start_job(job.pk)
    job.refresh_from_db()
    assert job.state == S.PENDING
    assert str(job.source_file.name).endswith(".png")
    assert (job.source_width, job.source_height) == (40, 60)  # turned upright
    with job.source_file.open("rb") as f, Image.open(f) as png:
        assert (png.format, png.size) == ("PNG", (40, 60))
    assert not job.source_file.storage.exists(original or "")
    # APIXO is sent the signed URL of the PNG.
    [call] = mock.calls
    sent = json.loads(call.request.body or b"{}")["input"]["image_urls"][0]
    assert sent == tasks.signed_source_url(job)
    served = Client().get(urlsplit(sent).path)
    assert served.status_code == 200 and served["Content-Type"] == "image/png"


def test_a_heic_that_does_not_decode_fails_alone_with_no_charge(
    alice_client: Client, alice: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    heic = image_bytes("HEIF")
    assert _post(alice_client, "IMG_3.HEIC", heic).status_code == 302
    job = Job.objects.get(user=alice)

    def broken(f: Any) -> bytes:
        raise images.ImageRejected("This HEIC photo could not be read. Export it as JPEG.")

    monkeypatch.setattr(tasks, "convert_phone_photo", broken)
    tasks.start_job(job.pk)
    job.refresh_from_db()
    assert (job.state, job.fail_code) == (S.FAILED, "SourceInvalid")
    assert "could not be read" in job.fail_msg
    assert not Charge.objects.exists()
    assert Budget.objects.get(pk=job.budget_id).reserved_cents == 0


def test_a_phone_photo_too_big_as_png_fails_with_advice(
    alice_client: Client, alice: Any, settings: Any
) -> None:
    heic = (BOMBS / "flat_49mp.heic").read_bytes()
    assert _post(alice_client, "IMG_4.HEIC", heic).status_code == 302
    settings.UPLOAD_MAX_BYTES = 100_000  # its PNG is ~156 KB
    job = Job.objects.get(user=alice)
    tasks.start_job(job.pk)
    job.refresh_from_db()
    assert (job.state, job.fail_code) == (S.FAILED, "SourceInvalid")
    assert "Export it as JPEG" in job.fail_msg
