"""One job: its page, its files, Cancel and Retry (jobs.views.job_detail, job_file, job_cancel, job_retry)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from jobs import tasks
from jobs.models import Job
from tests.conftest import image_bytes, make_job, next_poll
from tests.jobs.views_support import FakeQueue

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(30)]


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
    # HTMX gets the card back (tests/jobs/test_card_answers.py): no redirect at all.
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


def test_previews_are_served_under_their_own_type_and_name(
    alice_client: Client, alice: Any
) -> None:
    """A preview is WebP whatever the source or result: "Save image as" on the compare must
    not write WebP bytes into holiday.jpg."""
    from django.core.files.base import ContentFile

    job = make_job(alice, Job.State.SUCCESS, source_name="holiday.jpg", resolution="4k")
    job.preview.save("p.webp", ContentFile(image_bytes("WEBP")), save=False)
    job.source_preview.save("s.webp", ContentFile(image_bytes("WEBP")), save=False)
    job.source_file.save("s.jpg", ContentFile(image_bytes()), save=True)
    expected = {
        "job_preview": ("image/webp", "holiday_4k_preview.webp"),
        "job_source_preview": ("image/webp", "holiday_preview.webp"),
        "job_source": ("image/jpeg", "holiday.jpg"),
    }
    for view, (content_type, name) in expected.items():
        r = alice_client.get(reverse(view, args=[job.code]))
        assert r.status_code == 200, view
        assert r["Content-Type"] == content_type, view
        assert f'filename="{name}"' in r["Content-Disposition"], view
