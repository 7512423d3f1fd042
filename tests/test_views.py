from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from jobs import tasks, throttle, versions
from jobs.models import Charge, Job
from tests.conftest import cards, image_bytes, make_job, next_poll

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(30)]


class FakeQueue:
    def __init__(self) -> None:
        self.enqueued: list[tuple[Any, tuple[Any, ...]]] = []

    def enqueue(self, func: Any, *args: Any) -> None:
        self.enqueued.append((func, args))


@pytest.fixture
def queue(monkeypatch: pytest.MonkeyPatch) -> FakeQueue:
    q = FakeQueue()
    monkeypatch.setattr(tasks, "_queue", lambda: q)
    return q


def _payload(**overrides: Any) -> dict[str, Any]:
    data = {"urls": "", "resolution": "2k", "output_format": "jpg", "key": str(uuid.uuid4())}
    data.update(overrides)
    return data


def _upload(name: str = "cat.png", content: bytes | None = None) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content if content is not None else image_bytes("PNG"))


# --- gallery ------------------------------------------------------------------------------


def test_it_requires_login(client: Client) -> None:
    r = client.get("/")
    assert r.status_code == 302
    assert r["Location"].startswith("/accounts/login/")


def test_it_shows_the_gallery_with_spend(alice_client: Client, alice: Any) -> None:
    make_job(alice, Job.State.SUCCESS, source_name="beach.jpg")
    r = alice_client.get("/")
    assert r.status_code == 200
    assert b"beach.jpg" in r.content
    assert b"spent $0.00 of $1.00" in r.content
    assert b"sent to APIXO" in r.content


def test_it_shows_only_my_own_jobs(alice_client: Client, charlie: Any) -> None:
    make_job(charlie, source_name="charlies-secret.jpg")
    assert b"charlies-secret.jpg" not in alice_client.get("/").content


# --- submitting ---------------------------------------------------------------------------


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


# --- live poll ----------------------------------------------------------------------------


def test_poll_answers_204_when_nothing_changed(alice_client: Client, alice: Any) -> None:
    make_job(alice, Job.State.PENDING)
    r = alice_client.get(next_poll(alice_client.get("/")))
    assert r.status_code == 204
    assert r.content == b""


def test_poll_shows_a_change_made_after_the_page_loaded(alice_client: Client, alice: Any) -> None:
    job = make_job(alice, Job.State.PENDING)
    url = next_poll(alice_client.get("/"))
    job.move((Job.State.PENDING,), Job.State.PROCESSING)
    r = alice_client.get(url)
    assert cards(r) == {str(job.code)} and "Processing" in r.content.decode()
    assert alice_client.get(next_poll(r)).status_code == 204  # and then it's quiet again


def _banner(response: Any) -> str:
    """The pause banner a poll or submit answer swaps in (out-of-band), as text."""
    body = response.content.decode()
    assert '<div id="pause-banner" hx-swap-oob="true">' in body
    return str(body.split('<div id="pause-banner" hx-swap-oob="true">')[1].split("</div>")[0])


def test_poll_brings_the_pause_banner_and_takes_it_away(alice_client: Client, alice: Any) -> None:
    """The circuit breaker changes no job, yet open pages hear of it at their next poll."""
    make_job(alice, Job.State.QUEUED)
    path = next_poll(alice_client.get("/"))
    throttle.open_breaker(402, "Insufficient balance")
    r = alice_client.get(path)
    assert r.status_code == 200 and "Submissions are paused" in _banner(r)
    assert alice_client.get(next_poll(r)).status_code == 204  # then quiet again
    cache.delete(throttle.BREAKER_KEY)  # as the cache expiry does
    r = alice_client.get(next_poll(r))
    assert r.status_code == 200 and _banner(r).strip() == ""
    assert alice_client.get(next_poll(r)).status_code == 204


def test_the_job_page_poll_brings_the_pause_banner(alice_client: Client, alice: Any) -> None:
    job = make_job(alice, Job.State.QUEUED)
    path = next_poll(alice_client.get(job.get_absolute_url()))
    throttle.open_breaker(401, "Invalid or missing API key")
    assert "Submissions are paused" in _banner(alice_client.get(path))


def test_the_submit_answer_says_when_submissions_are_paused(
    alice_client: Client, queue: FakeQueue, public_dns: None
) -> None:
    throttle.open_breaker(402, "Insufficient balance")
    r = alice_client.post(
        "/jobs/", _payload(urls="https://images.example.com/a.jpg"), headers={"HX-Request": "true"}
    )
    body = r.content.decode()
    assert "Submitted 1 image ($0.01)." in body
    assert "Submissions to APIXO are paused until about" in body
    assert "sent automatically then; nothing is charged before APIXO accepts them" in body
    assert "Submissions are paused" in _banner(r)


def test_the_submit_answer_says_nothing_of_a_pause_when_there_is_none(
    alice_client: Client, queue: FakeQueue, public_dns: None
) -> None:
    r = alice_client.post(
        "/jobs/", _payload(urls="https://images.example.com/a.jpg"), headers={"HX-Request": "true"}
    )
    assert "paused" not in r.content.decode()
    assert _banner(r).strip() == ""


def test_poll_after_the_cache_was_flushed_asks_the_database_once(
    alice_client: Client, alice: Any
) -> None:
    job = make_job(alice, Job.State.PENDING)
    url = next_poll(alice_client.get("/"))
    cache.clear()  # Redis restarted: the version the page holds is gone
    job.move((Job.State.PENDING,), Job.State.PROCESSING)
    r = alice_client.get(url)
    assert cards(r) == {str(job.code)}
    quiet = alice_client.get(next_poll(r))
    assert quiet.status_code == 204


def test_a_change_whose_bump_was_lost_shows_within_a_minute(
    alice_client: Client, alice: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = make_job(alice, Job.State.PENDING)
    url = next_poll(alice_client.get("/"))

    def down(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("Redis is down")

    with monkeypatch.context() as m:
        m.setattr(cache, "incr", down)  # unreachable just while the worker moves it
        assert job.move((Job.State.PENDING,), Job.State.PROCESSING)  # the worker carries on
    assert alice_client.get(url).status_code == 204  # the lost bump hides it for now...
    with time_machine.travel(timezone.now() + timedelta(seconds=versions.MAX_AGE + 1)):
        assert cards(alice_client.get(url)) == {str(job.code)}  # ...but not for long


def test_poll_returns_changed_cards_out_of_band(alice_client: Client, alice: Any) -> None:
    job = make_job(alice, Job.State.PENDING)
    since = int(job.updated.timestamp() * 1_000_000)
    job.move((Job.State.PENDING,), Job.State.PROCESSING)
    r = alice_client.get(f"/gallery/poll/?since={since}&oldest=0")
    body = r.content.decode()
    assert r.status_code == 200
    assert f'id="job-{job.code}"' in body
    assert "Processing" in body
    assert 'hx-trigger="every 2s' in body  # still in flight: keep polling


def test_poll_prepends_new_cards_and_stops_when_idle(alice_client: Client, alice: Any) -> None:
    r = alice_client.get("/gallery/poll/?since=0&oldest=0")
    assert cards(r) == set()
    job = make_job(alice, Job.State.SUCCESS)
    body = alice_client.get("/gallery/poll/?since=1&oldest=0").content.decode()
    assert 'hx-swap-oob="afterbegin:#job-grid"' in body
    assert f'id="job-{job.code}"' in body
    assert "hx-trigger" not in body  # nothing in flight: the poller goes quiet


def test_poll_never_shows_other_peoples_jobs(alice_client: Client, charlie: Any) -> None:
    make_job(charlie)
    assert cards(alice_client.get("/gallery/poll/?since=0")) == set()


# --- one job ------------------------------------------------------------------------------


def test_job_page_works(alice_client: Client, job: Job) -> None:
    r = alice_client.get(job.get_absolute_url())
    assert r.status_code == 200
    assert job.source_name in r.content.decode()


def test_job_page_and_card_say_what_made_the_result(alice_client: Client, alice: Any) -> None:
    job = make_job(
        alice,
        Job.State.SUCCESS,
        task_id="task_1",
        result_file="results/x.jpg",
        result_width=2048,
        result_height=1365,
        made_by="Embedded engine: realesrgan-x4plus",
    )
    page = alice_client.get(job.get_absolute_url()).content.decode()
    assert "<dt>Made by</dt><dd>Embedded engine: realesrgan-x4plus</dd>" in page
    gallery = alice_client.get("/").content.decode()
    assert "Embedded engine: realesrgan-x4plus" in gallery


def test_job_page_is_404_for_someone_else(client: Client, charlie: Any, job: Job) -> None:
    client.force_login(charlie)
    assert client.get(job.get_absolute_url()).status_code == 404
    assert client.post(reverse("job_cancel", args=[job.code])).status_code == 404
    assert client.post(reverse("job_retry", args=[job.code])).status_code == 404
    assert client.get(reverse("job_result", args=[job.code])).status_code == 404


def test_cancel_releases_the_reservation(alice_client: Client, alice: Any, job: Job) -> None:
    r = alice_client.post(reverse("job_cancel", args=[job.code]))
    assert r.status_code == 302
    job.refresh_from_db()
    alice.budget.refresh_from_db()
    assert job.state == "canceled"
    assert alice.budget.reserved_cents == 0


def test_cancel_is_refused_once_sent(alice_client: Client, alice: Any) -> None:
    job = make_job(alice, Job.State.PENDING)
    r = alice_client.post(reverse("job_cancel", args=[job.code]), follow=True)
    assert "Too late to cancel" in r.content.decode()
    job.refresh_from_db()
    assert job.state == "pending"


def test_retry_makes_a_new_job_for_a_new_cent(
    alice_client: Client, alice: Any, queue: FakeQueue, django_capture_on_commit_callbacks: Any
) -> None:
    failed = make_job(alice, Job.State.FAILED, fail_code="Timeout")
    with django_capture_on_commit_callbacks(execute=True):
        r = alice_client.post(reverse("job_retry", args=[failed.code]))
    new = Job.objects.get(retry_of=failed)
    assert r.status_code == 302 and r["Location"] == new.get_absolute_url()
    assert new.state == "queued" and new.source_url == failed.source_url
    assert queue.enqueued == [(tasks.start_job, (new.pk,))]
    alice.budget.refresh_from_db()
    assert alice.budget.reserved_cents == 1


@pytest.mark.parametrize(
    "next_url", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:x"]
)
@pytest.mark.parametrize("action", ["job_cancel", "job_retry"])
def test_cancel_and_retry_refuse_a_next_on_another_site(
    alice_client: Client, alice: Any, job: Job, queue: FakeQueue, action: str, next_url: str
) -> None:
    if action == "job_retry":
        job = make_job(alice, Job.State.FAILED)
    r = alice_client.post(reverse(action, args=[job.code]), {"next": next_url})
    assert r.status_code == 302
    assert r["Location"].startswith("/jobs/")


def test_cancel_and_retry_go_back_to_a_next_on_this_site(
    alice_client: Client, alice: Any, job: Job
) -> None:
    r = alice_client.post(reverse("job_cancel", args=[job.code]), {"next": "/?state=failed"})
    assert r["Location"] == "/?state=failed"
    htmx = alice_client.post(
        reverse("job_cancel", args=[job.code]),
        headers={"HX-Request": "true", "HX-Current-URL": "https://evil.example/"},
    )
    # HTMX gets the card back (tests/test_card_answers.py): no redirect at all.
    assert htmx.status_code == 200 and not htmx.has_header("HX-Redirect")


def test_retrying_twice_makes_one_new_job(
    alice_client: Client, alice: Any, queue: FakeQueue, django_capture_on_commit_callbacks: Any
) -> None:
    """A second POST (a double click, another tab) goes to the first retry: no second
    job, no second reservation, nothing queued again."""
    failed = make_job(alice, Job.State.FAILED, fail_code="Timeout")
    url = reverse("job_retry", args=[failed.code])
    with django_capture_on_commit_callbacks(execute=True):
        first = alice_client.post(url)
    with django_capture_on_commit_callbacks(execute=True):
        second = alice_client.post(url, follow=True)
    new = Job.objects.get(retry_of=failed)
    assert first["Location"] == new.get_absolute_url()
    assert second.redirect_chain == [(new.get_absolute_url(), 302)]
    assert "photo.jpg was already retried: this is the new job." in second.content.decode()
    assert queue.enqueued == [(tasks.start_job, (new.pk,))]
    alice.budget.refresh_from_db()
    assert alice.budget.reserved_cents == 1


def test_a_retried_card_links_to_the_new_job_instead_of_a_retry_button(
    alice_client: Client, alice: Any, queue: FakeQueue
) -> None:
    failed = make_job(alice, Job.State.FAILED, fail_code="Timeout")
    path = next_poll(alice_client.get("/"))
    alice_client.post(reverse("job_retry", args=[failed.code]))
    new = Job.objects.get(retry_of=failed)
    link = f'<a href="{new.get_absolute_url()}">Retried → new job</a>'
    polled = alice_client.get(path).content.decode()  # open galleries see it live
    old_card = polled.split(f'id="job-{failed.code}"')[1].split("</article>")[0]
    assert link in old_card and "Retry (new job" not in old_card
    body = alice_client.get("/").content.decode()
    assert body.count("Retry (new job") == 0 and link in body
    page = alice_client.get(failed.get_absolute_url()).content.decode()
    assert link in page and "Retry (new job" not in page
    assert f'<dt>Retried as</dt><dd><a href="{new.get_absolute_url()}">' in page


def test_retry_button_says_it_costs(alice_client: Client, alice: Any) -> None:
    make_job(alice, Job.State.FAILED, fail_code="SensitiveContent")
    body = alice_client.get("/").content.decode()
    assert "Retry (new job, $0.01)" in body
    assert "Use a different image" in body


def test_result_download_uses_a_recognisable_name(alice_client: Client, alice: Any) -> None:
    from django.core.files.base import ContentFile

    job = make_job(alice, Job.State.SUCCESS, source_name="holiday.jpg", resolution="4k")
    job.result_file.save("r.jpg", ContentFile(image_bytes()), save=True)
    r = alice_client.get(reverse("job_result", args=[job.code]) + "?download=1")
    assert r.status_code == 200
    assert 'filename="holiday_4k.jpg"' in r["Content-Disposition"]
    assert r["X-Content-Type-Options"] == "nosniff"


# --- signed source URLs -------------------------------------------------------------------


def test_signed_source_url_needs_no_login(client: Client, alice: Any) -> None:
    from django.core.files.base import ContentFile

    job = make_job(alice, source_url="", source_name="up.png")
    job.source_file.save("s.png", ContentFile(b"png-bytes"), save=True)
    url = tasks.signed_source_url(job).removeprefix("http://127.0.0.1:8000")
    r = client.get(url)
    assert r.status_code == 200
    assert b"".join(r.streaming_content) == b"png-bytes"  # type: ignore[attr-defined]


def test_signed_source_url_rejects_a_forged_token(client: Client, job: Job) -> None:
    assert client.get(f"/s/{job.code}/").status_code == 404


def test_signed_source_url_expires(client: Client, alice: Any, settings: Any) -> None:
    import time_machine
    from django.core.files.base import ContentFile

    job = make_job(alice, source_url="")
    job.source_file.save("s.png", ContentFile(b"x"), save=True)
    url = tasks.signed_source_url(job).removeprefix(settings.SITE_URL)
    with time_machine.travel(job.created.timestamp() + settings.SOURCE_URL_MAX_AGE + 60):
        assert client.get(url).status_code == 404


# --- accounts -----------------------------------------------------------------------------


def test_signup_logs_in_with_the_default_quota(client: Client) -> None:
    r = client.post(
        "/accounts/signup/",
        {
            "username": "dora",
            "email": "dora@example.org",
            "password1": "a-Long-pass-123",
            "password2": "a-Long-pass-123",
        },
        follow=True,
    )
    assert r.status_code == 200
    assert "spent $0.00 of $1.00" in r.content.decode()


def test_login_page_is_public(client: Client) -> None:
    assert client.get("/accounts/login/").status_code == 200


def test_the_ledger_is_append_only(alice: Any) -> None:
    assert alice.budget.reserve(1)
    job = make_job(alice, Job.State.SUBMITTING)
    assert job.accept("task_1")
    charge = Charge.objects.get(job=job)
    charge.amount_cents = 0
    with pytest.raises(ValueError, match="append-only"):
        charge.save()


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_it_converts_phone_photos_to_png(
    alice_client: Client, alice: Any, queue: FakeQueue, fmt: str
) -> None:
    import pillow_heif

    pillow_heif.register_heif_opener()
    r = alice_client.post("/jobs/", _payload(images=[_upload("IMG_0001.HEIC", image_bytes(fmt))]))
    assert r.status_code == 302
    job = Job.objects.get(user=alice)
    assert job.source_name == "IMG_0001.png"
    assert str(job.source_file.name).endswith(".png")
    with job.source_file.open("rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_it_explains_an_unreadable_heic(alice_client: Client) -> None:
    r = alice_client.post(
        "/jobs/", _payload(images=[_upload("x.heic", b"\0\0\0\x18ftypheic" + b"\0" * 100)])
    )
    assert r.status_code == 400
    assert "This HEIC photo could not be read" in r.content.decode()
    assert not Job.objects.exists()


def test_password_reset_sends_a_link(client: Client, alice: Any, mailoutbox: list[Any]) -> None:
    r = client.post("/accounts/password_reset/", {"email": alice.email}, follow=True)
    assert r.status_code == 200
    assert "Check your email" in r.content.decode()
    assert len(mailoutbox) == 1 and "/accounts/reset/" in mailoutbox[0].body


def test_password_change_requires_login(client: Client) -> None:
    assert client.get("/accounts/password_change/").status_code == 302


def test_logout_logs_out(alice_client: Client) -> None:
    r = alice_client.post("/accounts/logout/", follow=True)
    assert "You are logged out" in r.content.decode()
    assert alice_client.get("/").status_code == 302


def test_job_page_poll_follows_one_job_and_reloads_when_done(
    alice_client: Client, alice: Any
) -> None:
    job = make_job(alice, Job.State.PENDING)
    other = make_job(alice, Job.State.PENDING)
    since = int(job.updated.timestamp() * 1_000_000)
    url = f"/gallery/poll/?since={since}&oldest=0&job={job.code}"
    other.move((Job.State.PENDING,), Job.State.PROCESSING)
    quiet = alice_client.get(url)  # another job changed: no card, but the gallery's version
    assert cards(quiet) == set()
    url = next_poll(quiet)
    assert alice_client.get(url).status_code == 204
    job.move((Job.State.PENDING,), Job.State.PROCESSING)
    assert f'id="job-{job.code}"' in alice_client.get(url).content.decode()
    job.move((Job.State.PROCESSING,), Job.State.SUCCESS)
    assert alice_client.get(url).headers["HX-Refresh"] == "true"


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


def test_a_failed_card_does_not_repeat_apixos_message(alice_client: Client, alice: Any) -> None:
    make_job(
        alice,
        Job.State.FAILED,
        fail_code="SensitiveContent",
        fail_msg="The input or output was rejected by safety checks.",
    )
    body = alice_client.get("/").content.decode()
    assert body.count("rejected by safety checks") == 1


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


def test_a_failed_card_says_it_was_charged(alice_client: Client, alice: Any) -> None:
    """APIXO bills every image it accepted: a task that then failed still cost money."""
    job = make_job(alice, Job.State.FAILED, fail_code="Timeout", task_id="task_1")
    _charge(job)
    note = "Charged $0.01: APIXO bills every accepted image"
    assert note in alice_client.get("/").content.decode()
    page = alice_client.get(job.get_absolute_url()).content.decode()
    assert note in page
    assert "$0.01 (charged when APIXO accepted it" in page


def test_a_failed_card_says_when_nothing_was_charged(alice_client: Client, alice: Any) -> None:
    job = make_job(alice, Job.State.FAILED, fail_code="SourceUnavailable")
    body = alice_client.get("/").content.decode()
    assert "Not charged" in body and "Charged $0.01" not in body
    page = alice_client.get(job.get_absolute_url()).content.decode()
    assert "Not charged" in page and "<dt>Cost</dt><dd>nothing</dd>" in page


def test_a_failed_card_says_when_the_charge_was_refunded(alice_client: Client, alice: Any) -> None:
    job = make_job(alice, Job.State.FAILED, fail_code="Timeout", task_id="task_1")
    _charge(job, refunded=True)
    body = alice_client.get("/").content.decode()
    assert "Not charged: the charge was refunded" in body and "Charged $0.01" not in body
    page = alice_client.get(job.get_absolute_url()).content.decode()
    assert "nothing: the charge was refunded" in page


def test_a_polled_failed_card_says_it_was_charged(alice_client: Client, alice: Any) -> None:
    job = make_job(alice, Job.State.PROCESSING, task_id="task_1")
    _charge(job)
    path = next_poll(alice_client.get("/"))
    job.move((Job.State.PROCESSING,), Job.State.FAILED, fail_code="Timeout")
    body = alice_client.get(path).content.decode()
    assert "Charged $0.01: APIXO bills every accepted image" in body


def test_a_missing_page_has_the_site_around_it(alice_client: Client) -> None:
    r = alice_client.get("/jobs/00000000-0000-0000-0000-000000000000/")
    assert r.status_code == 404
    assert "Back to your gallery" in r.content.decode()
