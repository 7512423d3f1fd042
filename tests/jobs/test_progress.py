"""Progress that says what is happening: a waiting job's card, the learnt estimate, and the
status-read schedule learnt from the tier's finished jobs (jobs/estimates.py).

Task functions are called directly with APIXO mocked by `responses`; `schedule` records
what would be enqueued (and notes next_check_at, as the real one does), so no Redis queue.
"""

from __future__ import annotations

import re
import statistics
from datetime import timedelta
from typing import Any

import pytest
import requests
import responses
import time_machine
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from jobs import estimates, tasks, throttle
from jobs.models import Job
from tests.apixo_support import submit_url
from tests.conftest import cards, make_job, next_poll

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(30)]

S = Job.State


@pytest.fixture(autouse=True)
def apixo_settings(settings: Any) -> Any:
    settings.APIXO_FIRST_POLL = 12
    settings.APIXO_POLL_INTERVAL = 7
    settings.APIXO_POLL_INTERVAL_8K = 15
    settings.APIXO_BACKOFF_BASE = 40
    settings.APIXO_BACKOFF_MAX = 120
    settings.APIXO_SUBMIT_ATTEMPTS = 8
    settings.APIXO_CALLBACKS = "off"
    return settings


@pytest.fixture(autouse=True)
def scheduled(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, int, float]]:
    calls: list[tuple[Any, int, float]] = []

    def record(func: Any, job_id: int, delay: float, *args: Any) -> None:
        when = timezone.now() + timedelta(seconds=delay)
        Job.objects.filter(pk=job_id).update(next_check_at=when)
        calls.append((func, job_id, delay))

    monkeypatch.setattr(tasks, "schedule", record)
    return calls


def finished(user: Any, n: int, took: float, resolution: str = "2k", **fields: Any) -> None:
    """n jobs of the tier that APIXO did in `took` s and that we finished 1 s later."""
    sent = timezone.now() - timedelta(minutes=5)
    for _ in range(n):
        make_job(
            user,
            S.SUCCESS,
            resolution=resolution,
            submitted_at=sent,
            finished_at=sent + timedelta(seconds=took + 1),
            apixo_create_time=1_764_000_000_000,
            apixo_complete_time=1_764_000_000_000 + int(took * 1000),
            **fields,
        )
    estimates.forget()


def card_text(client: Client, job: Job, path: str = "/") -> str:
    """The job's card as a user reads it (tags stripped, spaces squeezed)."""
    body = client.get(path).content.decode()
    found = re.search(rf'<article id="job-{job.code}".*?</article>', body, re.S)
    assert found, "no card for the job"
    return " ".join(re.sub(r"<[^>]+>", " ", found.group(0)).split())


# --- the schedule of status reads --------------------------------------------------------


def test_an_unknown_tier_is_read_on_apixos_documented_schedule(alice: Any, settings: Any) -> None:
    assert estimates.next_read("2k", 0.0, 0) == settings.APIXO_FIRST_POLL >= 10
    assert estimates.next_read("2k", 12.0, 1) == settings.APIXO_POLL_INTERVAL
    assert estimates.next_read("8k", 27.0, 1) == settings.APIXO_POLL_INTERVAL_8K


def test_a_tier_with_too_few_finished_jobs_is_still_unknown(alice: Any, settings: Any) -> None:
    finished(alice, estimates.PLAN_SAMPLES - 1, 20)
    assert estimates.next_read("2k", 0.0, 0) == settings.APIXO_FIRST_POLL


def test_a_learnt_tier_is_first_read_just_after_its_tasks_finish(alice: Any, settings: Any) -> None:
    finished(alice, estimates.PLAN_SAMPLES, 20)
    first = estimates.next_read("2k", 0.0, 0)
    assert 20 <= first <= 21.5  # not 12 s (too early) and then 19, 26 (6 s late)
    assert estimates.next_read("4k", 0.0, 0) == settings.APIXO_FIRST_POLL  # 4k learnt nothing


def test_the_plan_catches_most_tasks_within_two_seconds_in_four_reads() -> None:
    spread = [16.5, 17.8, 18.6, 19.1, 19.5, 19.9, 20.2, 20.6, 21.0, 21.5, 22.3, 23.4, 25.0]
    plan = estimates.plan_reads(spread)
    assert len(plan) == 4 and plan == sorted(plan)
    assert plan[-1] > max(spread)  # the slowest task seen is still read within 4 reads
    lags = [next(t for t in plan if t >= x + estimates.READ_SLACK) - x for x in spread]
    assert statistics.median(lags) <= 2


def test_reads_past_the_plan_fall_back_to_the_interval(alice: Any, settings: Any) -> None:
    finished(alice, estimates.PLAN_SAMPLES, 20)
    plan = estimates.table()["2k"]["reads"]
    # A late worker skips the reads it missed rather than making them all at once.
    assert estimates.next_read("2k", plan[0] + 0.5, 1) == pytest.approx(plan[1] - plan[0] - 0.5)
    assert estimates.next_read("2k", plan[-1] + 1, len(plan)) == settings.APIXO_POLL_INTERVAL


def test_a_job_begun_before_its_tier_was_learnt_still_makes_at_most_the_planned_reads(
    alice: Any,
) -> None:
    for took in (14, 15, 16, 17, 18, 19, 20, 21, 22, 23):
        finished(alice, 1, took)
    plan = estimates.table()["2k"]["reads"]
    assert len(plan) == 4
    # Read at 12 and 19 s on APIXO's schedule; its last reads are the plan's last ones.
    since, reads = 19.0, 2
    while (delay := estimates.next_read("2k", since, reads)) and since + delay <= plan[-1]:
        since, reads = since + delay, reads + 1
    assert reads == len(plan) and since == pytest.approx(plan[-1])


def test_submit_schedules_the_first_read_from_what_the_tier_taught(
    mock: responses.RequestsMock, job: Job, alice: Any, scheduled: list[Any]
) -> None:
    finished(alice, estimates.PLAN_SAMPLES, 30)
    mock.add(responses.POST, submit_url(), json={"code": 200, "data": {"taskId": "t1"}})
    tasks.submit_job(job.pk)
    [(func, job_id, delay)] = scheduled
    assert (func, job_id) == (tasks.poll_job, job.pk)
    assert 30 <= delay <= 31.5


def test_a_reused_copy_teaches_nothing(alice: Any, settings: Any) -> None:
    original = make_job(alice, S.SUCCESS)
    finished(alice, estimates.PLAN_SAMPLES, 20, reused_from=original)
    assert "2k" not in estimates.table()


# --- the estimate on in-flight cards -----------------------------------------------------


def test_an_in_flight_card_shows_no_estimate_without_data(alice_client: Client, alice: Any) -> None:
    job = make_job(alice, S.PENDING, submitted_at=timezone.now())
    assert "left" not in card_text(alice_client, job)


def test_an_in_flight_card_estimates_what_is_left_from_its_tier(
    alice_client: Client, alice: Any
) -> None:
    finished(alice, 5, 29)  # 30 s from our submit to success
    pending = make_job(alice, S.PENDING, submitted_at=timezone.now() - timedelta(seconds=10))
    other_tier = make_job(alice, S.PENDING, resolution="4k", submitted_at=timezone.now())
    assert "about 20 s left" in card_text(alice_client, pending)
    assert "left" not in card_text(alice_client, other_tier)


def test_the_estimate_says_minutes_and_then_almost_done(alice_client: Client, alice: Any) -> None:
    finished(alice, 5, 179, resolution="8k")
    job = make_job(alice, S.PROCESSING, resolution="8k", submitted_at=timezone.now())
    assert "about 3 min left" in card_text(alice_client, job)
    with time_machine.travel(timezone.now() + timedelta(seconds=200)):
        assert "almost done" in card_text(alice_client, job)


def test_the_estimates_are_built_once_not_per_card(
    alice_client: Client, alice: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    finished(alice, 5, 20)
    for _ in range(3):
        make_job(alice, S.PENDING, submitted_at=timezone.now())
    built = []
    real = estimates.build

    def build() -> dict[str, Any]:
        built.append(1)
        return real()

    monkeypatch.setattr(estimates, "build", build)
    body = alice_client.get("/").content.decode()
    assert body.count("s left") == 3
    alice_client.get("/")
    assert built == [1]  # the second page read the cache


# --- what a waiting card says ------------------------------------------------------------


def test_a_rate_limited_submit_says_apixo_is_busy_with_the_next_try_and_when(
    mock: responses.RequestsMock, alice_client: Client, job: Job, scheduled: list[Any]
) -> None:
    mock.add(responses.POST, submit_url(), status=429, json={"code": 429, "message": "slow"})
    with time_machine.travel(timezone.now(), tick=False):  # the page is drawn at once
        tasks.submit_job(job.pk)
        delay = scheduled[-1][2]
        text = card_text(alice_client, job)
    assert f"APIXO is busy: try 2 of 8, next in {round(delay)} s" in text


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        (
            {"status": 502, "json": {"code": 502, "message": "Bad gateway"}},
            "APIXO answered with an error",
        ),
        ({"body": requests.ConnectionError("refused")}, "APIXO could not be reached"),
    ],
)
def test_a_failed_submit_says_why_and_which_try_is_next(
    mock: responses.RequestsMock, alice_client: Client, job: Job, answer: Any, says: str
) -> None:
    mock.add(responses.POST, submit_url(), **answer)
    tasks.submit_job(job.pk)
    assert re.search(rf"{says}: try 2 of 8, next in \d+ s", card_text(alice_client, job))


def test_a_job_held_by_the_breaker_says_it_is_paused(alice_client: Client, job: Job) -> None:
    throttle.open_breaker(402, "Insufficient balance")
    tasks.submit_job(job.pk)
    text = card_text(alice_client, job)
    assert "Paused: APIXO refused our key/balance; an admin has been told" in text
    assert re.search(r"Next try in [45] min \d+ s", text)


def test_a_job_waiting_for_a_slot_says_so(
    alice_client: Client, job: Job, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(throttle, "acquire_slot", lambda: None)
    tasks.submit_job(job.pk)
    assert "Waiting for a free slot" in card_text(alice_client, job)
    before = Job.objects.get(pk=job.pk).updated
    tasks.submit_job(job.pk)  # looks again a second later: the card is not redrawn for it
    assert Job.objects.get(pk=job.pk).updated == before


def test_the_countdown_is_right_however_late_the_page_is_drawn(
    alice_client: Client, alice: Any
) -> None:
    now = timezone.now()
    until = now + timedelta(seconds=40)
    job = make_job(
        alice, S.QUEUED, wait_reason=Job.Wait.BUSY, submit_attempts=2, next_check_at=until
    )
    with time_machine.travel(now, tick=False):
        assert "try 3 of 8, next in 40 s" in card_text(alice_client, job)
    with time_machine.travel(now + timedelta(seconds=15), tick=False):
        assert "next in 25 s" in card_text(alice_client, job)
    body = alice_client.get("/").content.decode()
    assert f'data-until="{int(until.timestamp())}"' in body  # what the page counts down to


def test_past_the_try_limit_a_busy_card_says_until_when_it_keeps_trying(
    alice_client: Client, alice: Any, settings: Any
) -> None:
    job = make_job(
        alice,
        S.QUEUED,
        wait_reason=Job.Wait.BUSY,
        submit_attempts=8,
        next_check_at=timezone.now() + timedelta(seconds=60),
    )
    until = job.created + timedelta(seconds=settings.APIXO_DEADLINE)
    assert f"APIXO is busy: try 9 (we keep trying until {until:%H:%M} UTC)" in card_text(
        alice_client, job
    )


def test_the_waiting_card_arrives_through_the_live_poll(
    mock: responses.RequestsMock, alice_client: Client, job: Job
) -> None:
    path = next_poll(alice_client.get("/"))
    mock.add(responses.POST, submit_url(), status=429, json={"code": 429, "message": "slow"})
    tasks.submit_job(job.pk)
    r = alice_client.get(path)
    assert cards(r) == {str(job.code)}
    assert "APIXO is busy: try 2 of 8" in r.content.decode()


def test_the_next_try_clears_what_the_card_waited_for(
    mock: responses.RequestsMock, alice_client: Client, job: Job
) -> None:
    mock.add(responses.POST, submit_url(), status=429, json={"code": 429, "message": "slow"})
    mock.add(responses.POST, submit_url(), json={"code": 200, "data": {"taskId": "t1"}})
    tasks.submit_job(job.pk)
    cache.delete(throttle.SLOWDOWN_KEY)  # as if the pause had passed
    tasks.submit_job(job.pk)
    job = Job.objects.get(pk=job.pk)
    assert (job.state, job.wait_reason) == (S.PENDING, "")
    assert "busy" not in card_text(alice_client, job)


def test_learnt_reads_are_scheduled_sooner_by_how_late_reads_run(alice: Any, settings: Any) -> None:
    finished(alice, estimates.PLAN_SAMPLES, 20)
    on_time = estimates.next_read("2k", 0.0, 0)
    for _ in range(30):
        estimates.note_lateness(1.0)
    estimates.note_lateness(600)  # a read the reconciler re-enqueued says nothing
    assert estimates.next_read("2k", 0.0, 0) == pytest.approx(on_time - 1.0, abs=0.01)
    # APIXO's advice for an unknown tier is a floor: lateness never brings it sooner.
    assert estimates.next_read("4k", 0.0, 0) == settings.APIXO_FIRST_POLL
