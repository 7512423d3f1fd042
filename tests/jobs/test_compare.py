"""The job page's before/after compare and the side-by-side of a source's tiers."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.test import Client

from jobs.models import Job, Membership
from tests.conftest import image_bytes, make_job, make_team_job, with_files

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(30)]

URL = "https://images.example.com/cat.jpg"


def done(user, **fields) -> Job:
    fields.setdefault("source_url", URL)
    return with_files(make_job(user, Job.State.SUCCESS, result_width=128, **fields))


def test_it_shows_a_keyboard_slider_over_before_and_after(alice_client, alice):
    job = done(alice)
    r = alice_client.get(f"/jobs/{job.code}/")
    html = r.content.decode()
    assert 'type="range" id="compare-range"' in html
    assert f'src="/jobs/{job.code}/source/"' in html
    assert f'src="/jobs/{job.code}/preview/"' in html  # the full result loads on zoom
    assert f'data-full="/jobs/{job.code}/result/"' in html


def test_it_shows_no_slider_without_a_stored_source(alice_client, alice):
    job = make_job(alice, Job.State.SUCCESS, result_width=128)
    job.result_file.save("r.jpg", ContentFile(image_bytes()))
    assert b"compare-range" not in alice_client.get(f"/jobs/{job.code}/").content


def test_it_shows_every_tier_of_the_same_link_side_by_side(alice_client, alice):
    job = done(alice, resolution="2k")
    other = done(alice, resolution="4k")
    done(alice, resolution="8k", source_url="https://images.example.com/dog.jpg")
    tiers = alice_client.get(f"/jobs/{job.code}/").context["tiers"]
    assert {t.pk for t in tiers} == {job.pk, other.pk}


def test_it_shows_every_tier_of_the_same_file_side_by_side(alice_client, alice):
    job = done(alice, source_url="", source_sha256="a" * 64)
    other = done(alice, source_url="", source_sha256="a" * 64, resolution="8k")
    tiers = alice_client.get(f"/jobs/{job.code}/").context["tiers"]
    assert {t.pk for t in tiers} == {job.pk, other.pk}


def test_it_shows_each_tier_once(alice_client, alice):
    """A reused copy, a second run at the same tier and failed tries add no entry."""
    job = done(alice, resolution="2k")
    copy = make_job(
        alice, Job.State.SUCCESS, source_url=URL, reused_from=job, result_file=job.result_file.name
    )
    done(alice, resolution="2k")  # upscaled again ("Upscale again even if I have it")
    for _ in range(4):
        make_job(alice, Job.State.FAILED, source_url=URL, resolution="4k", fail_code="Timeout")
    four = done(alice, resolution="4k")
    r = alice_client.get(f"/jobs/{job.code}/")
    assert [t.pk for t in r.context["tiers"]] == [job.pk, four.pk]
    assert r.content.decode().split('id="tiers"')[1].count("<figure") == 2
    # Each page shows itself for its own tier.
    tiers = alice_client.get(f"/jobs/{copy.code}/").context["tiers"]
    assert [t.pk for t in tiers] == [copy.pk, four.pk]


def test_it_shows_no_tiers_when_the_others_are_copies(alice_client, alice):
    job = done(alice)
    make_job(
        alice, Job.State.SUCCESS, source_url=URL, reused_from=job, result_file=job.result_file.name
    )
    assert alice_client.get(f"/jobs/{job.code}/").context["tiers"] == []


def test_it_shows_no_tiers_from_another_gallery(alice_client, alice, charlie, team):
    job = done(alice)
    done(charlie, resolution="4k")
    with_files(make_team_job(team, alice, Job.State.SUCCESS, source_url=URL, resolution="8k"))
    assert alice_client.get(f"/jobs/{job.code}/").context["tiers"] == []


def test_it_lets_a_viewer_compare_but_not_edit_the_note(alice, bob, team):
    Membership.objects.filter(user=bob).update(role=Membership.Role.VIEWER)
    job = with_files(make_team_job(team, alice, Job.State.SUCCESS, note="for print"))
    client = Client()
    client.force_login(bob)
    html = client.get(f"/jobs/{job.code}/").content.decode()
    assert "compare-range" in html
    assert 'name="note"' not in html and "Note: for print" in html
