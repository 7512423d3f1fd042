"""Submitting links and files from the gallery form (jobs.views.submit)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from jobs.models import Job
from tests.conftest import image_bytes
from tests.jobs.views_support import FakeQueue, _payload, _upload

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(30)]


def test_it_submits_urls_and_files_as_one_job_each(
    alice_client: Client,
    alice: Any,
    queue: FakeQueue,
    public_dns: None,
    django_capture_on_commit_callbacks: Any,
) -> None:
    payload = _payload(
        urls="https://images.example.com/a.jpg\n\nhttps://images.example.com/b.png\n",
        # Two different pictures: the same one twice would be one job.
        images=[_upload("one.png"), _upload("two.png", image_bytes("PNG", size=(65, 48)))],
        resolution="4k",
        output_format="webp",
    )
    with django_capture_on_commit_callbacks(execute=True):
        r = alice_client.post("/jobs/", payload)
    assert r.status_code == 302
    jobs = Job.objects.filter(user=alice)
    assert jobs.count() == 4
    assert {j.source_name for j in jobs} == {"a.jpg", "b.png", "one.png", "two.png"}
    assert all(
        j.state == "queued" and j.resolution == "4k" and j.output_format == "webp" for j in jobs
    )
    assert sorted(args[0] for _, args in queue.enqueued) == sorted(j.pk for j in jobs)
    alice.budget.refresh_from_db()
    assert (alice.budget.reserved_cents, alice.budget.spent_cents) == (4, 0)
    upload = jobs.get(source_name="one.png")
    assert upload.source_file and upload.source_width == 64


def test_it_returns_the_workspace_fragment_to_htmx(
    alice_client: Client, queue: FakeQueue, public_dns: None
) -> None:
    r = alice_client.post(
        "/jobs/", _payload(urls="https://images.example.com/a.jpg"), headers={"HX-Request": "true"}
    )
    assert r.status_code == 200
    assert b"<html" not in r.content
    assert b'id="workspace"' in r.content
    assert b"a.jpg" in r.content
    assert b'hx-swap-oob="true"' in r.content  # the spend badge in the header


def test_it_ignores_a_repeated_post_of_the_same_form(
    alice_client: Client, alice: Any, queue: FakeQueue, public_dns: None
) -> None:
    payload = _payload(urls="https://images.example.com/a.jpg")
    alice_client.post("/jobs/", payload)
    alice_client.post("/jobs/", payload)
    assert Job.objects.filter(user=alice).count() == 1
    alice.budget.refresh_from_db()
    assert alice.budget.reserved_cents == 1


def test_it_warns_when_the_source_is_already_large(alice_client: Client, queue: FakeQueue) -> None:
    big = _upload("big.png", image_bytes("PNG", size=(2100, 10)))
    r = alice_client.post("/jobs/", _payload(images=[big]), follow=True)
    assert b"already 2100 px" in r.content


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({}, "Add at least one image"),
        ({"urls": "ftp://example.com/a.jpg"}, "Only http:// and https:// links"),
        ({"urls": "http://127.0.0.1/a.jpg"}, "private or local network"),
        ({"urls": "http://169.254.169.254/latest/meta-data"}, "private or local network"),
        (
            {"resolution": "16k", "urls": "https://images.example.com/a.jpg"},
            "Select a valid choice",
        ),
        (
            {"output_format": "gif", "urls": "https://images.example.com/a.jpg"},
            "Select a valid choice",
        ),
    ],
)
def test_it_rejects_bad_input(
    alice_client: Client, alice: Any, public_dns: None, payload: dict[str, Any], message: str
) -> None:
    r = alice_client.post("/jobs/", _payload(**payload))
    assert r.status_code == 400
    assert message in r.content.decode()
    assert not Job.objects.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"<html><body>hello</body></html>", "not a JPG, PNG or WebP"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"></svg>', "SVG files are not supported"),
        (image_bytes("GIF"), "GIF files are not supported"),
        (image_bytes("JPEG")[:200], "damaged or incomplete"),
    ],
)
def test_it_rejects_bad_files(alice_client: Client, content: bytes, message: str) -> None:
    r = alice_client.post("/jobs/", _payload(images=[_upload("x.jpg", content)]))
    assert r.status_code == 400
    assert message in r.content.decode()
    assert not Job.objects.exists()


def test_it_rejects_a_file_over_the_size_limit(alice_client: Client, settings: Any) -> None:
    settings.UPLOAD_MAX_BYTES = 1000
    r = alice_client.post(
        "/jobs/",
        _payload(images=[_upload("big.png", image_bytes("PNG", (200, 200)) + b"\0" * 2000)]),
    )
    assert "larger than" in r.content.decode()
    assert not Job.objects.exists()


def test_it_rejects_the_whole_batch_for_one_bad_line(
    alice_client: Client, alice: Any, public_dns: None
) -> None:
    r = alice_client.post(
        "/jobs/", _payload(urls="https://images.example.com/a.jpg\nnot a url", images=[_upload()])
    )
    assert r.status_code == 400
    assert "Line 2" in r.content.decode()
    assert not Job.objects.exists()
    alice.budget.refresh_from_db()
    assert alice.budget.reserved_cents == 0


def test_it_rejects_more_than_fifty_images(alice_client: Client, public_dns: None) -> None:
    urls = "\n".join(f"https://images.example.com/{n}.jpg" for n in range(51))
    r = alice_client.post("/jobs/", _payload(urls=urls))
    assert "up to 50" in r.content.decode()
    assert not Job.objects.exists()


def test_it_refuses_a_batch_over_quota(alice_client: Client, alice: Any, public_dns: None) -> None:
    alice.budget.limit_cents = 2
    alice.budget.save()
    urls = "\n".join(f"https://images.example.com/{n}.jpg" for n in range(3))
    r = alice_client.post("/jobs/", _payload(urls=urls))
    assert r.status_code == 400
    assert "3 images = $0.03, but only $0.02 is left" in r.content.decode()
    assert not Job.objects.exists()


def test_it_refuses_uploads_when_apixo_cannot_reach_the_site(
    alice_client: Client, settings: Any
) -> None:
    settings.USING_ENGINE = False
    settings.SITE_URL = "http://localhost:8000"
    r = alice_client.post("/jobs/", _payload(images=[_upload()]))
    assert "Uploads are off" in r.content.decode()
    assert not Job.objects.exists()


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_it_takes_phone_photos_as_they_are_for_the_worker_to_convert(
    alice_client: Client, alice: Any, queue: FakeQueue, fmt: str
) -> None:
    import pillow_heif

    pillow_heif.register_heif_opener()
    photo = image_bytes(fmt)
    r = alice_client.post("/jobs/", _payload(images=[_upload("IMG_0001.HEIC", photo)]))
    assert r.status_code == 302
    job = Job.objects.get(user=alice)
    assert job.source_name == "IMG_0001.png"
    assert str(job.source_file.name).endswith(".heic" if fmt == "HEIF" else ".avif")
    with job.source_file.open("rb") as f:
        assert f.read() == photo  # converted by the worker (tests/test_phone_photos.py)


def test_it_explains_an_unreadable_heic(alice_client: Client) -> None:
    r = alice_client.post(
        "/jobs/", _payload(images=[_upload("x.heic", b"\0\0\0\x18ftypheic" + b"\0" * 100)])
    )
    assert r.status_code == 400
    assert "This HEIC photo could not be read" in r.content.decode()
    assert not Job.objects.exists()


def test_the_next_form_keeps_the_tier_and_format(
    alice_client: Client, queue: FakeQueue, public_dns: None
) -> None:
    r = alice_client.post(
        "/jobs/",
        _payload(urls="https://images.example.com/a.jpg", resolution="8k", output_format="webp"),
        headers={"HX-Request": "true"},
    )
    body = r.content.decode()
    assert '<option value="8k" selected>' in body
    assert '<option value="webp" selected>' in body
