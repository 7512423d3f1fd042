"""Share links: public, read-only, expiring, revocable; for finished images only."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from jobs.models import Job, ShareLink, Team
from tests.conftest import make_job, with_files

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(30)]


@pytest.fixture
def done(alice: User) -> Job:
    return with_files(make_job(alice, Job.State.SUCCESS, source_name="holiday.jpg"))


def test_it_creates_a_link_that_expires_in_the_chosen_days(alice_client: Client, done: Job) -> None:
    r = alice_client.post(reverse("share_create", args=[done.code]), {"days": "30"}, follow=True)
    link = ShareLink.objects.get(job=done)
    assert link.url in r.content.decode()
    assert timedelta(days=29) < link.expires - timezone.now() <= timedelta(days=30)


def test_it_shows_the_before_and_after_without_login(client: Client, done: Job) -> None:
    link = ShareLink.objects.create(job=done)
    r = client.get(link.get_absolute_url())
    body = r.content.decode()
    assert r.status_code == 200
    assert reverse("share_source", args=[link.token]) in body
    assert reverse("share_result", args=[link.token]) + "?download=1" in body
    assert r["Referrer-Policy"] == "no-referrer"
    assert "noindex" in r["X-Robots-Tag"]


def test_its_footer_speaks_to_a_visitor(client: Client, alice_client: Client, done: Job) -> None:
    """A visitor submitted nothing and pays nothing: the customer's footer (what submitted
    images cost) is the gallery's, not the share page's."""
    link = ShareLink.objects.create(job=done)
    footer = client.get(link.get_absolute_url()).content.decode().split('<footer class="footer">')
    assert "Someone shared this image with you" in footer[1]
    assert "no account" in footer[1] and "APIXO" in footer[1]
    assert "$0.01" not in footer[1] and "you submit" not in footer[1]
    gallery = alice_client.get("/").content.decode().split('<footer class="footer">')[1]
    assert "Images you submit are sent to APIXO" in gallery and "$0.01" in gallery


def test_it_downloads_the_result_under_a_recognisable_name(client: Client, done: Job) -> None:
    link = ShareLink.objects.create(job=done)
    r = client.get(reverse("share_result", args=[link.token]) + "?download=1")
    assert r.status_code == 200
    assert 'filename="holiday_2k.jpg"' in r["Content-Disposition"]


def test_it_stops_working_once_revoked(alice_client: Client, client: Client, done: Job) -> None:
    link = ShareLink.objects.create(job=done)
    alice_client.post(reverse("share_revoke", args=[link.token]))
    assert client.get(link.get_absolute_url()).status_code == 404
    link.refresh_from_db()
    assert link.revoked_at is not None


def test_it_stops_working_once_expired(client: Client, done: Job) -> None:
    link = ShareLink.objects.create(job=done)
    with time_machine.travel(link.expires + timedelta(seconds=1)):
        assert client.get(link.get_absolute_url()).status_code == 404


def test_it_refuses_to_share_an_unfinished_image(alice_client: Client, alice: User) -> None:
    job = make_job(alice, Job.State.PENDING)
    r = alice_client.post(reverse("share_create", args=[job.code]), follow=True)
    assert "Only a finished image can be shared" in r.content.decode()
    assert not ShareLink.objects.exists()


def test_it_shares_nothing_but_the_image(client: Client, team: Team, team_job: Job) -> None:
    """The public page names neither the team nor who submitted it."""
    link = ShareLink.objects.create(job=team_job)
    body = client.get(link.get_absolute_url()).content.decode()
    assert "Acme" not in body and "bob" not in body
    assert client.get(team_job.get_absolute_url()).status_code == 302  # the job page: login


def test_it_lists_live_links_on_the_job_page(alice_client: Client, done: Job) -> None:
    live = ShareLink.objects.create(job=done)
    dead = ShareLink.objects.create(job=done, revoked_at=timezone.now())
    body = alice_client.get(done.get_absolute_url()).content.decode()
    assert live.token in body and dead.token not in body
