"""The gallery page (jobs.views.gallery): login, spend, cards, a failed card's charge note."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from jobs.models import Job
from tests.conftest import make_job
from tests.jobs.views_support import _charge

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(30)]


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


def test_a_failed_card_does_not_repeat_apixos_message(alice_client: Client, alice: Any) -> None:
    make_job(
        alice,
        Job.State.FAILED,
        fail_code="SensitiveContent",
        fail_msg="The input or output was rejected by safety checks.",
    )
    body = alice_client.get("/").content.decode()
    assert body.count("rejected by safety checks") == 1


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


def test_a_missing_page_has_the_site_around_it(alice_client: Client) -> None:
    r = alice_client.get("/jobs/00000000-0000-0000-0000-000000000000/")
    assert r.status_code == 404
    assert "Back to your gallery" in r.content.decode()
