"""Login throttling, submission rate limits and upload limits."""

from __future__ import annotations

import contextlib
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from jobs.models import Job
from tests.conftest import image_bytes

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(30)]


def _login(client: Client, password: str) -> Any:
    return client.post("/accounts/login/", {"username": "alice", "password": password})


def test_it_locks_out_a_login_after_five_wrong_passwords(alice: Any, settings: Any) -> None:
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _login(client, "wrong").status_code == 200
    r = _login(client, "wrong")
    assert r.status_code == 429
    assert "Too many attempts" in r.content.decode()
    assert _login(client, "password").status_code == 429  # even the right one, for now


def test_the_lockout_ends_after_the_cool_off(alice: Any, settings: Any) -> None:
    import time_machine
    from django.utils import timezone

    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(client, "wrong")
    later = timezone.now() + settings.AXES_COOLOFF_TIME + timedelta(seconds=5)
    with time_machine.travel(later):
        assert _login(client, "password").status_code == 302


def test_a_lockout_from_one_address_does_not_lock_the_user_out_elsewhere(
    alice: Any, settings: Any
) -> None:
    attacker = Client(REMOTE_ADDR="203.0.113.9")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(attacker, "wrong")
    assert _login(Client(REMOTE_ADDR="198.51.100.7"), "password").status_code == 302


def _behind_proxy(client_address: str, forwarded: str = "") -> Client:
    """A browser at client_address, reached through the TLS proxy on 127.0.0.1."""
    return Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=forwarded or client_address)


def test_behind_the_trusted_proxy_a_lockout_holds_only_for_the_attackers_address(
    alice: Any, settings: Any
) -> None:
    settings.TRUSTED_PROXIES = ["127.0.0.1", "::1"]
    attacker = _behind_proxy("203.0.113.9")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(attacker, "wrong")
    assert _login(attacker, "password").status_code == 429
    assert _login(_behind_proxy("198.51.100.7"), "password").status_code == 302


def test_it_takes_the_address_the_proxy_saw_not_one_the_client_wrote(
    alice: Any, settings: Any
) -> None:
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    for n in range(settings.AXES_FAILURE_LIMIT):  # a forged first entry each time
        _login(_behind_proxy("", f"10.0.0.{n}, 203.0.113.9"), "wrong")
    assert _login(_behind_proxy("203.0.113.9"), "password").status_code == 429


def test_it_ignores_x_forwarded_for_from_an_untrusted_address(alice: Any, settings: Any) -> None:
    settings.TRUSTED_PROXIES = []
    for n in range(settings.AXES_FAILURE_LIMIT):
        _login(Client(REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR=f"10.0.0.{n}"), "wrong")
    assert _login(Client(REMOTE_ADDR="203.0.113.9"), "password").status_code == 429


def test_a_password_reset_gets_a_locked_out_owner_in(
    alice: Any, settings: Any, mailoutbox: list[Any]
) -> None:
    import re

    same_address = Client(REMOTE_ADDR="198.51.100.7")  # no proxy header trusted: all alike
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(Client(REMOTE_ADDR="198.51.100.7"), "wrong")
    assert _login(same_address, "password").status_code == 429
    same_address.post("/accounts/password_reset/", {"email": alice.email})
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", mailoutbox[0].body)
    assert link is not None
    form = same_address.get(link.group(1), follow=True)  # Django swaps the token for a session
    new = {"new_password1": "a-Fresh-pass-456", "new_password2": "a-Fresh-pass-456"}
    r = same_address.post(form.redirect_chain[-1][0], new, follow=True)
    assert r.redirect_chain[-1][0] == "/"
    assert "you are logged in" in r.content.decode()
    again = Client(REMOTE_ADDR="198.51.100.7")
    r = again.post("/accounts/login/", {"username": "alice", "password": "a-Fresh-pass-456"})
    assert r.status_code == 302  # the pause is lifted, not only bypassed once


def test_it_rate_limits_submissions_per_user(
    alice_client: Client, alice: Any, settings: Any
) -> None:
    settings.SUBMIT_RATE_LIMIT = 3
    codes = [
        alice_client.post("/jobs/", {"urls": "", "key": str(uuid.uuid4())}).status_code
        for _ in range(4)
    ]
    assert codes == [400, 400, 400, 429]
    r = alice_client.post("/jobs/", {"urls": "", "key": str(uuid.uuid4())})
    assert "Wait a minute" in r.content.decode()


def test_it_stops_reading_an_oversized_upload(alice_client: Client, settings: Any) -> None:
    settings.UPLOAD_MAX_BYTES = 200_000
    big = SimpleUploadedFile("huge.png", image_bytes("PNG") + b"\0" * 600_000)
    r = alice_client.post(
        "/jobs/",
        {"images": [big], "resolution": "2k", "output_format": "jpg", "key": str(uuid.uuid4())},
    )
    assert r.status_code == 400
    assert "huge.png: The file is larger than 0.190735 MB." in r.content.decode()
    assert not Job.objects.exists()


def test_it_refuses_a_20k_by_20k_png(alice_client: Client) -> None:
    import zlib

    # A valid 20000x20000 greyscale PNG, a few hundred KB compressed: a decompression bomb.
    width = height = 20_000
    raw = zlib.compress(b"".join(b"\0" + b"\0" * width for _ in range(height)), 9)

    def chunk(kind: bytes, data: bytes) -> bytes:
        import struct

        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    import struct

    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", raw)
        + chunk(b"IEND", b"")
    )
    r = alice_client.post(
        "/jobs/",
        {
            "images": [SimpleUploadedFile("bomb.png", png)],
            "resolution": "2k",
            "output_format": "jpg",
            "key": str(uuid.uuid4()),
        },
    )
    assert r.status_code == 400
    assert "megapixels" in r.content.decode()
    assert not Job.objects.exists()


def test_a_png_html_polyglot_is_stored_under_a_random_name_and_served_as_an_image(
    alice_client: Client, alice: Any
) -> None:
    polyglot = image_bytes("PNG") + b"<html><script>alert(1)</script></html>"
    r = alice_client.post(
        "/jobs/",
        {
            "images": [SimpleUploadedFile("page.html", polyglot)],
            "resolution": "2k",
            "output_format": "jpg",
            "key": str(uuid.uuid4()),
        },
    )
    assert r.status_code == 302
    job = Job.objects.get(user=alice)
    name = str(job.source_file.name)
    assert name.endswith(".png") and "page" not in name
    served = alice_client.get(f"/jobs/{job.code}/source/")
    assert served["X-Content-Type-Options"] == "nosniff"
    assert served["Content-Type"] == "image/png"


def test_it_answers_the_form_message_for_another_users_batch_key(
    alice_client: Client, bob: Any, public_dns: None
) -> None:
    from jobs.models import Batch

    taken = Batch.objects.create(code=uuid.uuid4(), user=bob)
    r = alice_client.post(
        "/jobs/",
        {"urls": "https://example.com/a.jpg", "resolution": "2k", "output_format": "jpg"}
        | {"key": str(taken.code)},
    )
    assert r.status_code == 400
    assert "This form was already used. Nothing was submitted" in r.content.decode()
    assert str(taken.code) not in r.content.decode()  # the form shown again has a new key
    assert not Job.objects.exists()


def test_it_answers_the_form_message_for_more_files_than_django_would_take(
    alice: Any, settings: Any
) -> None:
    # A browser's post, CSRF checked: the middleware reads the body before the view does.
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    client.get("/")
    token = client.cookies["csrftoken"].value
    png = image_bytes("PNG")
    n = settings.BATCH_MAX_IMAGES + 30  # past the old DATA_UPLOAD_MAX_NUMBER_FILES of 60
    files = [SimpleUploadedFile(f"{i}.png", png) for i in range(n)]
    r = client.post(
        "/jobs/",
        {"images": files, "resolution": "2k", "output_format": "jpg"}
        | {"key": str(uuid.uuid4()), "csrfmiddlewaretoken": token},
    )
    assert r.status_code == 400
    assert f"That is {n} images; one batch takes up to {settings.BATCH_MAX_IMAGES}." in (
        r.content.decode()
    )
    assert not Job.objects.exists()


def test_it_keeps_only_a_batch_worth_of_files_and_skips_the_rest_unread(settings: Any) -> None:
    from django.core.files.uploadhandler import SkipFile
    from django.test import RequestFactory

    from lib.uploads import SizeCappedUploadHandler

    request = RequestFactory().post("/")
    handler = SizeCappedUploadHandler(request)
    kept = []
    for i in range(settings.BATCH_MAX_IMAGES + 2):
        handler.new_file("images", f"{i}.png", "image/png", None)
        with contextlib.suppress(SkipFile):
            kept.append(handler.receive_data_chunk(b"data", 0))
    assert len(kept) == settings.BATCH_MAX_IMAGES
    assert request.files_sent == settings.BATCH_MAX_IMAGES + 2  # type: ignore[attr-defined]


def _png(width: int, height: int, *, bits: int = 16, rows: bytes | None = None) -> bytes:
    """A valid RGB PNG of zeros (or of `rows`' filtered scanlines), streamed through zlib:
    at 7000x7000 and 16 bits, 49 megapixels in a few hundred KB."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    if rows is None:
        z = zlib.compressobj(9)
        line = b"\0" * (1 + width * 3 * bits // 8)
        rows = b"".join(z.compress(line) for _ in range(height)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, bits, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def test_it_checks_a_49_megapixel_png_without_decoding_it(monkeypatch: Any) -> None:
    import io

    from PIL import ImageFile

    from lib.images import inspect_image

    bomb = _png(7000, 7000)
    assert len(bomb) < 400_000

    def no_decode(self: Any) -> None:
        raise AssertionError("a PNG was decoded in the request")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decode)
    info = inspect_image(io.BytesIO(bomb), len(bomb))
    assert (info.format, info.width, info.height) == ("png", 7000, 7000)


@pytest.mark.parametrize("damage", ["truncated", "bad crc", "no IEND"])
def test_it_still_refuses_a_damaged_png_in_the_request(alice_client: Client, damage: str) -> None:
    png = image_bytes("PNG", size=(300, 200))
    if damage == "truncated":
        png = png[: len(png) // 2]
    elif damage == "bad crc":
        png = png[:-20] + bytes([png[-20] ^ 0xFF]) + png[-19:]
    else:
        png = png[:-12]
    r = alice_client.post(
        "/jobs/",
        {"images": [SimpleUploadedFile("cat.png", png)], "resolution": "2k"}
        | {"output_format": "jpg", "key": str(uuid.uuid4())},
    )
    assert r.status_code == 400
    assert "cat.png: The image file is damaged or incomplete." in r.content.decode()


def test_the_worker_fails_an_upload_that_does_not_decode_without_charging(
    alice_client: Client, alice: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import zlib

    from jobs import tasks

    monkeypatch.setattr(tasks, "enqueue_start", lambda job_id: None)
    # Every chunk intact (CRCs right), but the pixel data inflates to garbage.
    broken = _png(64, 48, bits=8, rows=zlib.compress(b"\x07" * 5000))
    r = alice_client.post(
        "/jobs/",
        {"images": [SimpleUploadedFile("odd.png", broken)], "resolution": "2k"}
        | {"output_format": "jpg", "key": str(uuid.uuid4())},
    )
    assert r.status_code == 302
    job = Job.objects.get()
    monkeypatch.setattr(tasks, "submit_job", lambda job_id: pytest.fail("submitted"))
    tasks.start_job(job.pk)
    job.refresh_from_db()
    alice.budget.refresh_from_db()
    assert (job.state, job.fail_code) == ("failed", "SourceInvalid")
    assert "damaged or incomplete" in job.fail_msg
    assert alice.budget.reserved_cents == 0 and not job.charges.exists()


def test_a_users_second_upload_at_once_is_refused_before_its_body_is_read(
    alice: Any, alice_client: Client
) -> None:
    from django.core.cache import cache

    from lib import uploads

    def form() -> dict[str, Any]:
        files = {"images": [SimpleUploadedFile("cat.png", image_bytes("PNG"))]}
        return {"resolution": "2k", "output_format": "jpg", "key": str(uuid.uuid4())} | files

    cache.set(f"upload-slot:u:{alice.pk}", "another request", 60)  # one in flight
    r = alice_client.post("/jobs/", form())
    assert r.status_code == 429 and r.content.decode() == uploads.BUSY_MESSAGE
    assert not Job.objects.exists()
    cache.delete(f"upload-slot:u:{alice.pk}")
    assert alice_client.post("/jobs/", form()).status_code == 302
    assert cache.get(f"upload-slot:u:{alice.pk}") is None  # released after the request
    assert alice_client.post("/jobs/", {"urls": "", "key": str(uuid.uuid4())}).status_code == 400
