"""Cancel and Retry on a gallery card: HTMX gets the card back in place (and the messages),
not a redirect that reloads the whole page; without JavaScript they still redirect."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from jobs import tasks
from jobs.models import Job
from tests.conftest import make_job

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(30)]

HTMX = {"HX-Request": "true", "HX-Current-URL": "http://testserver/"}


@pytest.fixture(autouse=True)
def _no_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    class Queue:
        def enqueue(self, func: Any, *args: Any) -> None:
            pass

    monkeypatch.setattr(tasks, "_queue", Queue)


def _card(body: str, job: Job) -> str:
    found = re.search(rf'<article id="job-{job.code}".*?</article>', body, re.S)
    assert found, f"no card for {job.code}"
    return found.group(0)


def _messages(body: str) -> str:
    found = re.search(r'<div id="messages"[^>]*hx-swap-oob="true"[^>]*>(.*?)</div>', body, re.S)
    assert found, "no out-of-band messages"
    return found.group(1)


def test_cancel_answers_the_canceled_card(alice_client: Client, alice: Any) -> None:
    assert alice.budget.reserve(1)
    job = make_job(alice, Job.State.QUEUED)
    r = alice_client.post(reverse("job_cancel", args=[job.code]), headers=HTMX)
    assert r.status_code == 200
    body = r.content.decode()
    assert "<html" not in body and "HX-Redirect" not in r
    card = _card(body, job)
    assert 'data-state="canceled"' in card and "hx-swap-oob" not in card
    assert "Retry (new job, $0.01)" in card and ">Cancel<" not in card
    assert "jobs-changed" in json.loads(r["HX-Trigger"])  # the poller looks at once for the rest
    alice.budget.refresh_from_db()
    assert alice.budget.reserved_cents == 0


def test_a_cancel_too_late_answers_the_card_and_says_why(alice_client: Client, alice: Any) -> None:
    job = make_job(alice, Job.State.PENDING)
    r = alice_client.post(reverse("job_cancel", args=[job.code]), headers=HTMX)
    body = r.content.decode()
    assert r.status_code == 200 and 'data-state="pending"' in _card(body, job)
    assert "Too late to cancel" in _messages(body)


def test_retry_answers_the_old_card_pointing_to_the_new_job(
    alice_client: Client, alice: Any
) -> None:
    failed = make_job(alice, Job.State.FAILED, fail_code="Timeout")
    r = alice_client.post(reverse("job_retry", args=[failed.code]), headers=HTMX)
    new = Job.objects.get(retry_of=failed)
    body = r.content.decode()
    card = _card(body, failed)
    assert "Retry (new job" not in card
    assert f'href="{new.get_absolute_url()}">Retried → new job' in card
    assert f"Retrying {failed.source_name} as a new job ($0.01)." in _messages(body)
    assert "jobs-changed" in json.loads(r["HX-Trigger"])


def test_a_retry_of_a_running_job_answers_its_card_and_says_why(
    alice_client: Client, alice: Any
) -> None:
    job = make_job(alice, Job.State.PROCESSING)
    r = alice_client.post(reverse("job_retry", args=[job.code]), headers=HTMX)
    body = r.content.decode()
    assert 'data-state="processing"' in _card(body, job)
    assert "Only a failed or canceled job can be retried." in _messages(body)
    assert not Job.objects.filter(retry_of=job).exists()


def test_without_htmx_cancel_and_retry_still_redirect(alice_client: Client, alice: Any) -> None:
    assert alice.budget.reserve(1)
    queued = make_job(alice, Job.State.QUEUED)
    r = alice_client.post(reverse("job_cancel", args=[queued.code]), {"next": "/"})
    assert (r.status_code, r["Location"]) == (302, "/")
    failed = make_job(alice, Job.State.FAILED)
    r = alice_client.post(reverse("job_retry", args=[failed.code]))
    assert r.status_code == 302
    assert r["Location"] == Job.objects.get(retry_of=failed).get_absolute_url()


def test_the_card_buttons_swap_their_own_card(alice_client: Client, alice: Any) -> None:
    make_job(alice, Job.State.QUEUED)
    make_job(alice, Job.State.FAILED)
    body = alice_client.get("/").content.decode()
    forms = re.findall(r'<form[^>]*hx-post="/jobs/[^"]*/(?:cancel|retry)/"[^>]*>', body)
    assert len(forms) == 2
    assert all('hx-target="closest article"' in f and 'hx-swap="outerHTML"' in f for f in forms)
