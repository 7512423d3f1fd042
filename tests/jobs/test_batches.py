"""Many images at once (jobs/batches.py, jobs/views_batches.py): batch progress, ZIP
downloads streamed with recognisable names, deleting a selection, retrying all failed."""

from __future__ import annotations

import io
import os
import uuid
import zipfile
from typing import Any

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.http import StreamingHttpResponse
from django.test import Client

from jobs import batches, tasks
from jobs.models import Batch, Charge, Job, Membership
from tests.conftest import make_job, make_team_job, with_files

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(30)]


@pytest.fixture(autouse=True)
def _no_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tasks, "enqueue_start", lambda job_id: None)


def batch_of(user: Any, *states: str, name: str = "photo.jpg", **fields: Any) -> Batch:
    batch = Batch.objects.create(code=uuid.uuid4(), user=user)
    for state in states:
        job = Job.objects.create(
            user=user,
            budget=user.budget,
            batch=batch,
            state=state,
            source_name=name,
            resolution="4k",
            output_format="webp",
            **fields,
        )
        if state == Job.State.SUCCESS:
            with_files(job)
    return batch


def unzip(response: Any) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


# --- names --------------------------------------------------------------------------------


def test_it_names_results_as_users_recognise_them(alice):
    job = make_job(alice, Job.State.SUCCESS, source_name="Beach Day.JPG", resolution="4k")
    job.output_format = "webp"
    assert job.download_name == "Beach Day_4k.webp"


def test_it_numbers_repeated_names_in_a_zip(alice):
    jobs = [
        with_files(make_job(alice, Job.State.SUCCESS, source_name=n))
        for n in ("photo.jpg", "photo.png", "PHOTO.jpg", "other.jpg")
    ]
    names = [name for _, name in batches.zip_names(jobs)]
    assert names == ["photo_2k.jpg", "photo_2k (2).jpg", "PHOTO_2k (3).jpg", "other_2k.jpg"]


def test_it_leaves_jobs_without_a_result_out_of_a_zip(alice):
    jobs = [make_job(alice, Job.State.FAILED), with_files(make_job(alice, Job.State.SUCCESS))]
    assert [job for job, _ in batches.zip_names(jobs)] == [jobs[1]]


# --- ZIP downloads --------------------------------------------------------------------------


def test_it_streams_a_batch_as_a_zip(alice_client, alice):
    batch = batch_of(alice, Job.State.SUCCESS, Job.State.SUCCESS, Job.State.FAILED)
    r = alice_client.get(f"/batches/{batch.code}/zip/")
    assert r.status_code == 200
    assert isinstance(r, StreamingHttpResponse)
    assert r["Content-Type"] == "application/zip"
    assert "attachment" in r["Content-Disposition"]
    archive = unzip(r)
    assert archive.namelist() == ["photo_4k.webp", "photo_4k (2).webp"]


def test_it_stores_results_in_the_zip_as_they_are(alice_client, alice):
    batch = batch_of(alice, Job.State.SUCCESS)
    job = batch.jobs.get()
    archive = unzip(alice_client.get(f"/batches/{batch.code}/zip/"))
    info = archive.infolist()[0]
    assert info.compress_type == zipfile.ZIP_STORED
    with job.result_file.open("rb") as f:
        assert archive.read(info) == f.read()


def test_it_zips_a_big_result_in_small_pieces(alice):
    """No piece of the stream is much bigger than the copy buffer, whatever the file."""
    job = make_job(alice, Job.State.SUCCESS)
    big = os.urandom(5 * batches.CHUNK + 123)
    job.result_file.save("r.webp", ContentFile(big))
    pieces = list(batches.stream_zip([(job, "big.webp")]))
    assert max(len(p) for p in pieces) <= batches.CHUNK + 1024
    assert len(pieces) > 5
    assert zipfile.ZipFile(io.BytesIO(b"".join(pieces))).read("big.webp") == big


def test_it_zips_a_selection(alice_client, alice):
    one = with_files(make_job(alice, Job.State.SUCCESS, source_name="one.jpg"))
    two = with_files(make_job(alice, Job.State.SUCCESS, source_name="two.jpg"))
    with_files(make_job(alice, Job.State.SUCCESS, source_name="not-me.jpg"))
    r = alice_client.post(
        "/jobs/selection/", {"action": "zip", "job": [str(one.code), str(two.code)]}
    )
    assert isinstance(r, StreamingHttpResponse)
    assert sorted(unzip(r).namelist()) == ["one_2k.jpg", "two_2k.jpg"]


def test_it_refuses_an_outsider_a_batch_zip(alice, charlie):
    batch = batch_of(alice, Job.State.SUCCESS)
    client = Client()
    client.force_login(charlie)
    assert client.get(f"/batches/{batch.code}/zip/").status_code == 404


def test_it_requires_login_for_a_batch_zip(client, alice):
    batch = batch_of(alice, Job.State.SUCCESS)
    assert client.get(f"/batches/{batch.code}/zip/").status_code == 302


def test_it_leaves_someone_elses_job_out_of_a_selection_zip(alice, charlie):
    theirs = with_files(make_job(alice, Job.State.SUCCESS))
    client = Client()
    client.force_login(charlie)
    r = client.post("/jobs/selection/", {"action": "zip", "job": [str(theirs.code)]})
    assert r.status_code == 302 and not isinstance(r, StreamingHttpResponse)


# --- delete a selection ---------------------------------------------------------------------


def test_it_deletes_a_selection_and_its_files(alice_client, alice):
    job = with_files(make_job(alice, Job.State.SUCCESS))
    path = job.result_file.path
    alice_client.post("/jobs/selection/", {"action": "delete", "job": [str(job.code)]})
    assert not Job.objects.filter(pk=job.pk).exists()
    assert not os.path.exists(path)


def test_it_keeps_the_ledger_when_deleting(alice_client, alice):
    assert alice.budget.reserve(1)
    job = make_job(alice, Job.State.SUBMITTING)
    assert job.accept("task-1")
    job.move((Job.State.PENDING,), Job.State.SUCCESS)
    alice_client.post("/jobs/selection/", {"action": "delete", "job": [str(job.code)]})
    charge = Charge.objects.get()
    assert charge.job is None and charge.job_code == job.code


def test_it_keeps_jobs_in_flight_when_deleting(alice_client, alice):
    busy = make_job(alice, Job.State.PROCESSING)
    r = alice_client.post(
        "/jobs/selection/", {"action": "delete", "job": [str(busy.code)]}, follow=True
    )
    assert Job.objects.filter(pk=busy.pk).exists()
    assert b"1 still in progress was kept" in r.content


def test_it_keeps_files_a_reused_copy_still_uses(alice_client, alice):
    original = with_files(make_job(alice, Job.State.SUCCESS))
    copy = make_job(
        alice, Job.State.SUCCESS, reused_from=original, result_file=original.result_file.name
    )
    alice_client.post("/jobs/selection/", {"action": "delete", "job": [str(original.code)]})
    copy.refresh_from_db()
    assert os.path.exists(copy.result_file.path)


def test_it_lets_a_viewer_delete_nothing(alice, bob, team):
    Membership.objects.filter(team=team, user=bob).update(role=Membership.Role.VIEWER)
    job = with_files(make_team_job(team, alice, Job.State.SUCCESS))
    client = Client()
    client.force_login(bob)
    client.post("/jobs/selection/", {"action": "delete", "job": [str(job.code)]})
    assert Job.objects.filter(pk=job.pk).exists()


def test_it_redirects_only_within_the_site(alice_client, alice):
    job = make_job(alice, Job.State.FAILED)
    r = alice_client.post(
        "/jobs/selection/",
        {"action": "delete", "job": [str(job.code)], "next": "https://evil.example/"},
    )
    assert r["Location"] == "/"


# --- retry all failed -----------------------------------------------------------------------


def test_it_retries_every_failed_image_of_a_batch(alice_client, alice):
    batch = batch_of(alice, Job.State.FAILED, Job.State.FAILED, Job.State.SUCCESS)
    r = alice_client.post(f"/batches/{batch.code}/retry-failed/", follow=True)
    new = Job.objects.filter(retry_of__batch=batch)
    assert new.count() == 2 and all(j.state == Job.State.QUEUED for j in new)
    alice.budget.refresh_from_db()
    assert alice.budget.reserved_cents == 2 * settings.PRICE_CENTS
    assert b"Retrying 2 failed images as new jobs ($0.02)" in r.content


def test_it_says_what_retrying_all_failed_costs(alice_client, alice):
    batch_of(alice, Job.State.FAILED, Job.State.FAILED, Job.State.SUCCESS)
    r = alice_client.get("/")
    assert b"Retry 2 failed (new jobs, $0.02)" in r.content


def test_it_retries_none_when_the_quota_cannot_cover_all(alice_client, alice):
    alice.budget.limit_cents = 1
    alice.budget.save()
    batch = batch_of(alice, Job.State.FAILED, Job.State.FAILED)
    r = alice_client.post(f"/batches/{batch.code}/retry-failed/", follow=True)
    assert not Job.objects.filter(retry_of__batch=batch).exists()
    alice.budget.refresh_from_db()
    assert alice.budget.reserved_cents == 0
    assert b"2 images = $0.02, but only $0.01 is left" in r.content


def test_it_retries_a_batch_once(alice_client, alice):
    """Failed images already retried are left out: the button goes, and a second post (an
    old tab) makes no new job and no new charge."""
    batch = batch_of(alice, Job.State.FAILED, Job.State.FAILED, Job.State.SUCCESS)
    alice_client.post(f"/batches/{batch.code}/retry-failed/")
    r = alice_client.post(f"/batches/{batch.code}/retry-failed/", follow=True)
    assert Job.objects.filter(retry_of__batch=batch).count() == 2
    alice.budget.refresh_from_db()
    assert alice.budget.reserved_cents == 2 * settings.PRICE_CENTS
    assert b"There was no failed image to retry." in r.content
    assert b"Retry 2 failed" not in alice_client.get("/").content


def test_it_retries_the_failed_images_of_a_selection(alice_client, alice):
    failed = make_job(alice, Job.State.FAILED)
    done = with_files(make_job(alice, Job.State.SUCCESS))
    alice_client.post(
        "/jobs/selection/", {"action": "retry", "job": [str(failed.code), str(done.code)]}
    )
    assert list(Job.objects.filter(retry_of__isnull=False).values_list("retry_of", flat=True)) == [
        failed.pk
    ]


# --- progress -------------------------------------------------------------------------------


def test_it_shows_batch_progress(alice_client, alice):
    batch_of(alice, Job.State.SUCCESS, Job.State.FAILED, Job.State.PROCESSING)
    r = alice_client.get("/")
    assert b"2 of 3 done" in r.content
    assert b"1 failed" in r.content


def test_it_updates_batch_progress_in_the_live_poll(alice_client, alice):
    batch = batch_of(alice, Job.State.SUCCESS, Job.State.PROCESSING)
    since = alice_client.get("/").context["since"]
    batch.jobs.get(state=Job.State.PROCESSING).move((Job.State.PROCESSING,), Job.State.FAILED)
    r = alice_client.get(f"/gallery/poll/?since={since}&oldest=0")
    assert b'id="batches"' in r.content and b"2 of 2 done" in r.content


# --- notes ----------------------------------------------------------------------------------


def test_it_saves_a_note(alice_client, alice):
    job = make_job(alice, Job.State.SUCCESS)
    before = job.updated
    alice_client.post(f"/jobs/{job.code}/note/", {"note": "  print   client-x "})
    job.refresh_from_db()
    assert job.note == "print client-x"
    assert job.updated > before  # the card changes live for teammates


def test_it_refuses_a_viewer_a_note(alice, bob, team):
    Membership.objects.filter(team=team, user=bob).update(role=Membership.Role.VIEWER)
    job = make_team_job(team, alice, Job.State.SUCCESS)
    client = Client()
    client.force_login(bob)
    assert client.post(f"/jobs/{job.code}/note/", {"note": "x"}).status_code == 403


def test_it_refuses_an_outsider_a_note(alice, charlie):
    job = make_job(alice, Job.State.SUCCESS)
    client = Client()
    client.force_login(charlie)
    assert client.post(f"/jobs/{job.code}/note/", {"note": "x"}).status_code == 404


def test_it_lets_a_member_act_on_the_teams_batch(alice, bob, team):
    job = make_team_job(team, alice, Job.State.FAILED)
    client = Client()
    client.force_login(bob)
    client.post(f"/batches/{job.batch.code}/retry-failed/")
    assert Job.objects.filter(retry_of=job, user=bob).exists()
