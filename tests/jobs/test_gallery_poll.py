"""The live poll (jobs.views.gallery_poll): 204 while nothing changed, changed cards, the pause banner."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from jobs import throttle, versions
from jobs.models import Job
from tests.conftest import cards, make_job, next_poll
from tests.jobs.views_support import FakeQueue, _banner, _charge, _payload

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(30)]


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


def test_a_polled_failed_card_says_it_was_charged(alice_client: Client, alice: Any) -> None:
    job = make_job(alice, Job.State.PROCESSING, task_id="task_1")
    _charge(job)
    path = next_poll(alice_client.get("/"))
    job.move((Job.State.PROCESSING,), Job.State.FAILED, fail_code="Timeout")
    body = alice_client.get(path).content.decode()
    assert "Charged $0.01: APIXO bills every accepted image" in body
