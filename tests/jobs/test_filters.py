"""Gallery search and filters (jobs/filters.py): in the URL, in the pager, in the live poll."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from jobs.models import Job
from jobs.views import PAGE_SIZE
from tests.conftest import make_job, make_team_job, next_poll

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(30)]


def names(response) -> set[str]:
    return {c.source_name for c in response.context["cards"]}


def test_it_filters_by_state(alice_client, alice):
    make_job(alice, Job.State.FAILED, source_name="bad.jpg")
    make_job(alice, Job.State.SUCCESS, source_name="good.jpg")
    assert names(alice_client.get("/?state=failed")) == {"bad.jpg"}


def test_it_filters_by_tier_and_format(alice_client, alice):
    make_job(alice, source_name="a.jpg", resolution="4k", output_format="webp")
    make_job(alice, source_name="b.jpg", resolution="4k", output_format="png")
    make_job(alice, source_name="c.jpg", resolution="2k", output_format="webp")
    assert names(alice_client.get("/?tier=4k&format=webp")) == {"a.jpg"}


def test_it_filters_by_date(alice_client, alice):
    old = make_job(alice, source_name="old.jpg")
    Job.objects.filter(pk=old.pk).update(created=timezone.now() - timedelta(days=10))
    make_job(alice, source_name="new.jpg")
    start = (timezone.now() - timedelta(days=1)).date().isoformat()
    assert names(alice_client.get(f"/?start={start}")) == {"new.jpg"}
    end = (timezone.now() - timedelta(days=5)).date().isoformat()
    assert names(alice_client.get(f"/?end={end}")) == {"old.jpg"}


def test_it_searches_names_and_notes(alice_client, alice):
    make_job(alice, source_name="beach.jpg")
    make_job(alice, source_name="x.jpg", note="print client-acme")
    make_job(alice, source_name="y.jpg")
    assert names(alice_client.get("/?q=beach")) == {"beach.jpg"}
    assert names(alice_client.get("/?q=acme")) == {"x.jpg"}


def test_it_filters_a_team_gallery_by_submitter(alice, bob, team):
    make_team_job(team, alice, source_name="alices.jpg")
    make_team_job(team, bob, source_name="bobs.jpg")
    client = Client()
    client.force_login(alice)
    client.post(reverse("switch_context"), {"team": str(team.code)})
    r = client.get("/?by=bob")
    assert names(r) == {"bobs.jpg"}
    assert b'<option value="bob" selected>bob</option>' in r.content


def test_it_ignores_a_bad_filter_value(alice_client, alice):
    make_job(alice, source_name="a.jpg")
    r = alice_client.get("/?state=nonsense&start=yesterday")
    assert r.status_code == 200 and names(r) == {"a.jpg"}


def test_it_keeps_the_filters_in_the_pager(alice_client, alice):
    for n in range(PAGE_SIZE + 1):
        make_job(alice, Job.State.FAILED, source_name=f"f{n}.jpg")
    r = alice_client.get("/?state=failed")
    assert b'href="?state=failed&amp;page=2"' in r.content
    assert len(names(alice_client.get("/?state=failed&page=2"))) == 1


def test_it_keeps_the_filters_in_the_poll(alice_client, alice):
    make_job(alice, source_name="a.jpg", resolution="4k")
    r = alice_client.get("/?tier=4k")
    assert b"&tier=4k" in r.content.split(b'id="poller"')[1].split(b">")[0]


def test_it_polls_a_filtered_gallery_with_the_filtered_cards_only(alice_client, alice):
    since = timezone.now()
    make_job(alice, Job.State.FAILED, source_name="bad.jpg")
    make_job(alice, Job.State.PROCESSING, source_name="busy.jpg")
    stamp = int(since.timestamp() * 1_000_000)
    r = alice_client.get(f"/gallery/poll/?since={stamp}&oldest=0&state=failed")
    assert r.status_code == 200
    assert b"bad.jpg" in r.content and b"busy.jpg" not in r.content
    assert b'id="job-grid"' in r.content  # the filtered page is redrawn whole


def test_it_redraws_a_filtered_gallery_when_a_card_leaves_the_filter(alice_client, alice):
    job = make_job(alice, Job.State.PROCESSING, source_name="busy.jpg")
    r = alice_client.get("/?state=processing")
    since = r.context["since"]
    job.move((Job.State.PROCESSING,), Job.State.SUCCESS)
    r = alice_client.get(f"/gallery/poll/?since={since}&oldest=0&state=processing")
    grid = r.content.split(b'id="job-grid"')[1]
    assert b"busy.jpg" not in grid.split(b"</div>")[0]


def test_it_answers_204_to_a_filtered_poll_when_nothing_changed(alice_client, alice):
    make_job(alice, Job.State.FAILED, source_name="bad.jpg")
    r = alice_client.get(next_poll(alice_client.get("/?state=failed")))
    assert r.status_code == 204


def test_it_shows_a_batch_through_the_url(alice_client, alice):
    one = make_job(alice, source_name="one.jpg")
    make_job(alice, source_name="two.jpg")
    assert names(alice_client.get(f"/?batch={one.batch.code}")) == {"one.jpg"}
