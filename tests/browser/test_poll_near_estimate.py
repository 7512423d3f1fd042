"""Near a card's learnt estimate the gallery polls faster, so the card shows success within
a poll or two of the job finishing; far from it the page keeps its 2-s poll (app.js)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import Page, expect

from jobs import estimates, versions
from jobs.models import Job
from tests.browser.support import card, sign_up
from tests.conftest import make_job, with_files
from tests.jobs.test_progress import finished

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]

POLLS = """() => performance.getEntriesByType("resource")
  .filter(e => e.name.includes("/gallery/poll/")).map(e => e.startTime)"""


def polls_during(tab: Page, seconds: float) -> int:
    before = len(tab.evaluate(POLLS))
    tab.wait_for_timeout(seconds * 1000)
    return len(tab.evaluate(POLLS)) - before


def test_the_poll_speeds_up_near_the_estimate_and_the_card_shows_success_at_once(
    tab: Page,
) -> None:
    sign_up(tab, "pia")
    user = User.objects.get(username="pia")
    finished(user, 5, 119)  # this site's 2k jobs take 2 min from submit to success
    job = make_job(
        user, Job.State.PENDING, submitted_at=timezone.now(), task_id="t-1", source_name="now.jpg"
    )
    estimates.forget()
    tab.evaluate("performance.setResourceTimingBufferSize(10000)")
    tab.reload()
    eta = card(tab, "now.jpg").locator(".eta")
    expect(eta).to_contain_text("min left")

    far = polls_during(tab, 4)  # two minutes left: the 2-s beat
    assert 1 <= far <= 3, far

    # Four seconds left now (as if submitted 116 s ago): the card's estimate arrives by the
    # poll, and the page polls every 0.5 s.
    Job.objects.filter(pk=job.pk).update(
        submitted_at=timezone.now() - timedelta(seconds=116), updated=timezone.now()
    )
    versions.bump(job)
    expect(eta).to_contain_text("s left", timeout=10_000)
    near = polls_during(tab, 4)
    assert near >= 5, near

    # The job finishes: the next poll or two brings the card's success.
    job = Job.objects.get(pk=job.pk)
    job.state, job.finished_at, job.result_width = Job.State.SUCCESS, timezone.now(), 128
    job.updated = timezone.now()
    with_files(job)
    versions.bump(job)
    sent = len(tab.evaluate(POLLS))
    expect(card(tab, "now.jpg").locator(".badge")).to_have_attribute(
        "data-state", "success", timeout=15_000
    )
    assert len(tab.evaluate(POLLS)) - sent <= 2
