"""Tests for lib/metadata.py: EXIF, ICC profile and orientation carried onto results.

Real Pillow images: a source photo with EXIF (camera, date, GPS), an sRGB ICC profile and
orientation 6 ("turn 90 degrees clockwise to view"), and results as an upscaler returns them.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import responses
from django.core.files.base import ContentFile
from PIL import Image, ImageCms, ImageDraw, ImageFile, ImageOps

from jobs import tasks
from jobs.models import Job
from lib import fetch, metadata
from tests.jobs.tasks_support import RESULT_URL, accepted_job, add_status

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(30)]

ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
GPS = 0x8825


def picture(size: tuple[int, int] = (60, 40)) -> Image.Image:
    """An asymmetric picture, so a turned copy doesn't look like the original."""
    img = Image.new("RGB", size, (240, 240, 240))
    draw = ImageDraw.Draw(img)
    w, h = size
    draw.rectangle((0, 0, w // 2, h // 2), fill=(200, 20, 20))
    draw.rectangle((w * 3 // 4, h * 2 // 3, w, h), fill=(20, 20, 200))
    return img


def photo_exif(orientation: int = 6) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x0112] = orientation
    exif.get_ifd(0x8769)[0x9003] = "2026:05:01 10:00:00"
    gps = exif.get_ifd(GPS)
    gps[1], gps[2] = "N", (48.0, 51.0, 24.0)
    return exif


def source_photo(orientation: int = 6) -> bytes:
    out = io.BytesIO()
    picture().save(out, "JPEG", exif=photo_exif(orientation), icc_profile=ICC, quality=95)
    return out.getvalue()


def result_file(tmp_path: Path, fmt: str, upright: bool = False) -> str:
    """A 3x result without metadata, as stored (upright=False) or already turned."""
    with Image.open(io.BytesIO(source_photo())) as src:
        img = ImageOps.exif_transpose(src) if upright else src.copy()
    img = img.resize((img.width * 3, img.height * 3))
    path = tmp_path / f"result.{fmt}"
    img.save(path, {"jpg": "JPEG", "png": "PNG", "webp": "WEBP"}[fmt])
    return str(path)


def carry(tmp_path: Path, result: str, strip_gps: bool = False, source: bytes | None = None):
    out = tmp_path / "out"
    with open(out, "wb") as dst:
        kept = metadata.carry_over(io.BytesIO(source or source_photo()), result, dst, strip_gps)
    return kept, out


def test_it_copies_exif_and_icc_onto_a_jpeg_result(tmp_path):
    kept, out = carry(tmp_path, result_file(tmp_path, "jpg"))
    assert kept
    with Image.open(out) as img:
        exif = img.getexif()
        assert exif[0x010F] == "Canon"
        assert exif.get_ifd(0x8769)[0x9003] == "2026:05:01 10:00:00"
        assert img.info["icc_profile"] == ICC


def test_it_keeps_gps_unless_asked_not_to(tmp_path):
    _, out = carry(tmp_path, result_file(tmp_path, "jpg"))
    with Image.open(out) as img:
        assert img.getexif().get_ifd(GPS)[1] == "N"


def test_it_removes_gps_when_the_user_opted_out(tmp_path):
    _, out = carry(tmp_path, result_file(tmp_path, "jpg"), strip_gps=True)
    with Image.open(out) as img:
        exif = img.getexif()
        assert GPS not in exif
        assert exif.get_ifd(GPS) == {}
        assert exif[0x010F] == "Canon"


def test_it_does_not_reencode_a_jpeg(tmp_path):
    result = result_file(tmp_path, "jpg")
    _, out = carry(tmp_path, result)
    before, after = Path(result).read_bytes(), out.read_bytes()
    # Everything from the first quantisation table on (tables and scan) is the same bytes.
    assert after[after.index(b"\xff\xdb") :] == before[before.index(b"\xff\xdb") :]


def test_it_keeps_the_orientation_of_a_result_stored_like_its_source(tmp_path):
    _, out = carry(tmp_path, result_file(tmp_path, "jpg"))
    with Image.open(out) as img:
        assert img.getexif()[0x0112] == 6
        assert ImageOps.exif_transpose(img).size == (120, 180)  # shown upright


def test_it_drops_the_orientation_of_a_result_already_turned_upright(tmp_path):
    _, out = carry(tmp_path, result_file(tmp_path, "jpg", upright=True))
    with Image.open(out) as img:
        assert img.getexif().get(0x0112, 1) == 1
        assert img.size == (120, 180)  # not turned twice


def test_it_sets_the_exif_size_to_the_result_size(tmp_path):
    _, out = carry(tmp_path, result_file(tmp_path, "jpg"))
    with Image.open(out) as img:
        sub = img.getexif().get_ifd(0x8769)
        assert (sub[0xA002], sub[0xA003]) == (180, 120)


def test_it_keeps_icc_and_exif_on_a_png_result(tmp_path):
    result = result_file(tmp_path, "png")
    _, out = carry(tmp_path, result)
    with Image.open(out) as img, Image.open(result) as original:
        assert img.info["icc_profile"] == ICC
        assert img.getexif()[0x010F] == "Canon"
        assert img.tobytes() == original.tobytes()


def test_it_keeps_icc_and_exif_on_a_webp_result(tmp_path):
    result = result_file(tmp_path, "webp")
    _, out = carry(tmp_path, result)
    with Image.open(out) as img, Image.open(result) as original:
        assert img.info["icc_profile"] == ICC
        assert img.getexif()[0x010F] == "Canon"
        assert img.tobytes() == original.tobytes()  # the VP8 data was copied, not re-encoded


def test_it_keeps_nothing_from_a_source_without_metadata(tmp_path):
    out = io.BytesIO()
    picture().save(out, "JPEG")
    kept, dst = carry(tmp_path, result_file(tmp_path, "jpg"), source=out.getvalue())
    assert not kept
    assert dst.read_bytes() == b""


def test_it_never_decodes_the_result_of_an_upright_source(tmp_path, monkeypatch):
    """The result is copied in pieces: its pixels are never decoded (low memory at 8k)."""
    result = result_file(tmp_path, "png")
    loads: list[Any] = []
    real_load = ImageFile.ImageFile.load

    def load(self: ImageFile.ImageFile) -> Any:
        loads.append(self.size)
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    kept, _ = carry(tmp_path, result, source=source_photo(orientation=1))
    assert kept
    assert (180, 120) not in loads


# --- in the pipeline -----------------------------------------------------------------------


@pytest.fixture
def mock():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield rsps


@pytest.fixture(autouse=True)
def _no_scheduling(monkeypatch: pytest.MonkeyPatch, settings: Any) -> None:
    monkeypatch.setattr(tasks, "schedule", lambda *args: None)
    monkeypatch.setattr(fetch, "_resolve", lambda host, port: ["93.184.216.34"])
    settings.APIXO_CALLBACKS = "off"


def finished(mock: Any, alice: Any, tmp_path: Path, **fields: Any) -> Job:
    job = accepted_job(alice, **fields)
    job.source_file.save("s.jpg", ContentFile(source_photo()))
    add_status(mock, "success", resultJson=json.dumps({"resultUrls": [RESULT_URL]}))
    body = Path(result_file(tmp_path, "jpg", upright=True)).read_bytes()
    mock.add(responses.GET, RESULT_URL, body=body, content_type="image/jpeg")
    tasks.poll_job(job.pk)
    return Job.objects.get(pk=job.pk)


def test_it_stores_the_result_with_the_source_metadata(mock, alice, tmp_path):
    job = finished(mock, alice, tmp_path)
    assert job.state == Job.State.SUCCESS and job.metadata_kept
    with job.result_file.open("rb") as f, Image.open(f) as img:
        assert img.info["icc_profile"] == ICC
        assert img.getexif()[0x010F] == "Canon"
    assert job.result_bytes == job.result_file.size


def test_it_stores_the_result_without_gps_for_a_job_that_opted_out(mock, alice, tmp_path):
    job = finished(mock, alice, tmp_path, strip_gps=True)
    with job.result_file.open("rb") as f, Image.open(f) as img:
        assert GPS not in img.getexif()


def test_it_shows_metadata_kept_on_the_card(mock, alice, alice_client, tmp_path):
    finished(mock, alice, tmp_path)
    assert b"metadata kept" in alice_client.get("/").content


def test_it_keeps_a_result_whose_source_metadata_is_unreadable(mock, alice, tmp_path):
    job = accepted_job(alice)
    job.source_file.save("s.jpg", ContentFile(b"\xff\xd8 not really a jpeg"))
    add_status(mock, "success", resultJson=json.dumps({"resultUrls": [RESULT_URL]}))
    mock.add(responses.GET, RESULT_URL, body=source_photo(), content_type="image/jpeg")
    tasks.poll_job(job.pk)
    job = Job.objects.get(pk=job.pk)
    assert job.state == Job.State.SUCCESS and not job.metadata_kept
