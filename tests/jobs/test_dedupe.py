"""Don't pay twice: a source already upscaled the same way is reused, free (jobs/dedupe.py)."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import pytest
import responses
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from api import outgoing
from api.models import WebhookEndpoint
from jobs import submit, tasks
from jobs.models import Charge, Job
from lib import fetch
from tests.conftest import add_member, image_bytes, make_job, make_team, make_team_job, with_files

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(30)]

PNG = image_bytes("PNG")
SHA = hashlib.sha256(PNG).hexdigest()


@pytest.fixture
def enqueued(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    started: list[int] = []
    monkeypatch.setattr(tasks, "enqueue_start", started.append)
    return started


def _post(client: Client, team: Any = None, **overrides: Any) -> Any:
    data: dict[str, Any] = {
        "urls": "",
        "resolution": "2k",
        "output_format": "jpg",
        "key": str(uuid.uuid4()),
        "images": [SimpleUploadedFile("cat.png", PNG)],
    }
    if team is not None:
        data["team"] = str(team.code)
    data.update(overrides)
    return client.post("/jobs/", data, follow=True)


def paid(user: Any, **fields: Any) -> Job:
    """A finished, charged job of this source (2k JPG), with its files."""
    fields.setdefault("source_sha256", SHA)
    fields.setdefault("output_format", "jpg")
    return with_files(make_job(user, Job.State.SUCCESS, result_width=128, **fields))


def newest(user: Any) -> Job:
    return Job.objects.filter(user=user).latest("id")


def test_it_stores_the_hash_of_an_upload(
    alice_client, alice, enqueued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _post(alice_client)
    assert newest(alice).source_sha256 == SHA


def test_it_reuses_a_result_the_user_already_has(alice_client, alice, enqueued):
    original = paid(alice)
    _post(alice_client)
    copy = newest(alice)
    assert copy.state == Job.State.SUCCESS
    assert copy.reused_from == original
    assert copy.result_file.name == original.result_file.name


def test_it_does_not_charge_or_reserve_for_a_reused_result(alice_client, alice, enqueued):
    paid(alice)
    _post(alice_client)
    alice.budget.refresh_from_db()
    assert (alice.budget.spent_cents, alice.budget.reserved_cents) == (0, 0)
    assert not Charge.objects.filter(job=newest(alice)).exists()


def test_it_sends_no_task_for_a_reused_result(
    alice_client, alice, enqueued, django_capture_on_commit_callbacks
):
    paid(alice)
    with django_capture_on_commit_callbacks(execute=True):
        _post(alice_client)
    assert enqueued == []


def test_a_reused_upload_is_announced_to_the_users_webhook(
    alice_client, alice, enqueued, django_capture_on_commit_callbacks, monkeypatch
):
    sent: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(
        outgoing, "enqueue_event", lambda e, event, data, job_id: sent.append((event, data))
    )
    WebhookEndpoint.objects.create(user=alice, url="https://hooks.example.com/upscaler")
    paid(alice)
    with django_capture_on_commit_callbacks(execute=True):
        _post(alice_client)
    [(event, data)] = sent
    assert event == "job.succeeded" and data["job"]["id"] == str(newest(alice).code)


def test_it_says_the_result_was_reused(alice_client, alice, enqueued):
    paid(alice)
    r = _post(alice_client)
    assert b"reused at once, no charge" in r.content
    assert b"reused, no charge" in r.content  # the card


def test_it_runs_again_when_forced(alice_client, alice, enqueued):
    paid(alice)
    _post(alice_client, force_new="on")
    job = newest(alice)
    assert job.state == Job.State.QUEUED and job.reused_from is None
    alice.budget.refresh_from_db()
    assert alice.budget.reserved_cents == 1


def test_it_does_not_reuse_another_tier(alice_client, alice, enqueued):
    paid(alice, resolution="4k")
    _post(alice_client)
    assert newest(alice).state == Job.State.QUEUED


def test_it_does_not_reuse_a_result_with_gps_for_a_job_without(alice_client, alice, enqueued):
    paid(alice)
    _post(alice_client, strip_gps="on")
    assert newest(alice).state == Job.State.QUEUED


def test_it_does_not_reuse_someone_elses_result(alice_client, alice, charlie, enqueued):
    paid(charlie)
    _post(alice_client)
    assert newest(alice).state == Job.State.QUEUED


def test_it_reuses_a_teammates_result_in_the_team(bob, alice, enqueued):
    team = make_team(alice)
    add_member(team, bob)
    original = with_files(
        make_team_job(team, alice, Job.State.SUCCESS, source_sha256=SHA, output_format="jpg")
    )
    client = Client()
    client.force_login(bob)
    _post(client, team=team)
    copy = Job.objects.filter(user=bob, team=team).latest("id")
    assert copy.reused_from == original
    team.budget.refresh_from_db()
    assert team.budget.reserved_cents == 0


def test_it_does_not_reuse_a_personal_result_in_a_team(alice_client, alice, enqueued):
    team = make_team(alice)
    paid(alice)
    _post(alice_client, team=team)
    assert Job.objects.filter(team=team).latest("id").state == Job.State.QUEUED


def test_it_reuses_a_url_source_once_the_worker_has_its_bytes(alice, monkeypatch):
    """The worker downloads the link, finds the same bytes already paid for, and sends
    nothing to APIXO (no submit is registered: a request would fail the test)."""
    monkeypatch.setattr(fetch, "_resolve", lambda host, port: ["93.184.216.34"])
    original = paid(alice)
    assert alice.budget.reserve(1)
    job = make_job(alice, source_url="https://images.example.com/cat.png")
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, job.source_url, body=PNG, content_type="image/png")
        tasks.start_job(job.pk)
    job.refresh_from_db()
    assert job.state == Job.State.SUCCESS and job.reused_from == original
    assert job.source_sha256 == SHA
    alice.budget.refresh_from_db()
    assert (alice.budget.spent_cents, alice.budget.reserved_cents) == (0, 0)
    assert not Charge.objects.exists()


def test_it_makes_a_retry_a_new_paid_run(alice):
    failed = make_job(alice, Job.State.FAILED, source_sha256=SHA, source_url="")
    paid(alice)
    new, created = submit.retry(failed)
    assert created and new.force_new and new.state == Job.State.QUEUED


def test_the_same_file_twice_in_one_batch_is_upscaled_and_charged_once(
    alice_client, alice, enqueued
):
    r = _post(
        alice_client,
        images=[SimpleUploadedFile("cat.png", PNG), SimpleUploadedFile("cat-copy.png", PNG)],
    )
    assert [j.source_name for j in Job.objects.filter(user=alice)] == ["cat.png"]
    assert b"cat-copy.png is in this batch more than once" in r.content
    alice.budget.refresh_from_db()
    assert alice.budget.reserved_cents == 1


def test_the_same_link_twice_in_one_batch_is_one_job(alice_client, alice, enqueued, public_dns):
    link = "https://images.example.com/cat.jpg"
    _post(alice_client, images=[], urls=f"{link}\n{link}\nhttps://images.example.com/dog.jpg")
    assert sorted(j.source_name for j in Job.objects.filter(user=alice)) == ["cat.jpg", "dog.jpg"]
