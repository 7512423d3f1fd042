"""The gallery's change counter (jobs/versions.py): what makes an idle poll free must never
hide a change from a teammate's open gallery."""

from __future__ import annotations

from typing import Any

from django.test import Client
from django.urls import reverse

from jobs import versions
from jobs.models import Job
from tests.conftest import add_member, cards, make_job, make_team, make_team_job, next_poll


def _logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _team_poll(client: Client, team: Any) -> str:
    client.post(reverse("switch_context"), {"team": team.code})
    return next_poll(client.get("/"))


def test_a_teammates_note_reaches_my_open_gallery(alice: Any, bob: Any) -> None:
    team = make_team(alice)
    add_member(team, bob)
    job = make_team_job(team, alice, Job.State.SUCCESS)
    bobs = _logged_in(bob)
    url = _team_poll(bobs, team)
    assert bobs.get(url).status_code == 204
    alices = _logged_in(alice)
    alices.post(f"/jobs/{job.code}/note/", {"note": "for the print shop"})
    r = bobs.get(url)
    assert cards(r) == {str(job.code)} and "for the print shop" in r.content.decode()


def test_a_new_teammate_job_reaches_my_open_gallery(alice: Any, bob: Any) -> None:
    team = make_team(alice)
    add_member(team, bob)
    bobs = _logged_in(bob)
    url = _team_poll(bobs, team)
    job = make_team_job(team, alice, Job.State.QUEUED)
    assert cards(bobs.get(url)) == {str(job.code)}


def test_my_personal_jobs_leave_the_team_gallery_idle(alice: Any, bob: Any) -> None:
    team = make_team(alice)
    add_member(team, bob)
    make_team_job(team, alice, Job.State.SUCCESS)
    bobs = _logged_in(bob)
    url = _team_poll(bobs, team)
    make_job(bob, Job.State.QUEUED)  # Bob's own, personal: another gallery's counter
    assert bobs.get(url).status_code == 204


def test_a_password_change_ends_the_free_polls_of_other_sessions(
    alice_client: Client, alice: Any
) -> None:
    make_job(alice, Job.State.PENDING)
    url = next_poll(alice_client.get("/"))
    assert alice_client.get(url).status_code == 204
    alice.set_password("a-new-secret-42")
    alice.save()  # as the password change and reset views do
    r = alice_client.get(url)
    assert r.status_code == 302 and r["Location"].startswith("/accounts/login/")


def test_a_removed_member_polls_no_more(alice: Any, bob: Any) -> None:
    team = make_team(alice)
    member = add_member(team, bob)
    make_team_job(team, alice, Job.State.SUCCESS)
    bobs = _logged_in(bob)
    url = _team_poll(bobs, team)
    assert bobs.get(url).status_code == 204
    member.delete()  # as removing or leaving does
    assert bobs.get(url).status_code == 404


def test_a_logged_out_poll_goes_to_the_login_page(alice_client: Client, alice: Any) -> None:
    url = next_poll(alice_client.get("/"))
    alice_client.logout()
    r = alice_client.get(url)
    assert r.status_code == 302 and r["Location"].startswith("/accounts/login/")


def test_a_teammates_deletion_leaves_my_open_gallery(alice: Any, bob: Any) -> None:
    team = make_team(alice)
    add_member(team, bob)
    kept = make_team_job(team, alice, Job.State.SUCCESS)
    doomed = make_team_job(team, alice, Job.State.FAILED)
    bobs = _logged_in(bob)
    url = _team_poll(bobs, team)
    assert bobs.get(url).status_code == 204
    alices = _logged_in(alice)
    alices.post(reverse("selection"), {"action": "delete", "job": [str(doomed.code)]})
    r = bobs.get(url)
    assert 'id="job-grid" class="job-grid" hx-swap-oob="true"' in r.content.decode()  # redrawn
    assert cards(r) == {str(kept.code)}
    after = next_poll(r)
    assert bobs.get(after).status_code == 204  # once: the page now knows of that removal
    kept.move((Job.State.SUCCESS,), Job.State.SUCCESS, note="x")  # a later change...
    patched = bobs.get(after).content.decode()
    assert 'id="job-grid"' not in patched and str(kept.code) in patched  # ...is a patch again


def test_a_bump_inside_a_transaction_is_repeated_on_commit(
    alice: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """A reader can see the first bump before the row is committed and miss the row; the
    second bump, after the commit, sends it back to the database."""
    job = make_job(alice)

    def counter() -> str:
        return versions.current(alice.pk, None).partition(".")[0]

    with django_capture_on_commit_callbacks(execute=True):  # the test runs in a transaction
        before = counter()
        versions.bump(job)
        during = counter()
    after = counter()
    assert len({before, during, after}) == 3


def test_a_forged_or_stale_version_goes_to_the_database(alice_client: Client, alice: Any) -> None:
    job = make_job(alice, Job.State.PENDING)
    url = next_poll(alice_client.get("/"))
    job.move((Job.State.PENDING,), Job.State.PROCESSING)
    for forged in ("", "garbage", "1.2", url.split("v=")[1].split(".")[0] + ".x"):
        r = alice_client.get(url.split("&v=")[0] + "&v=" + forged)
        assert cards(r) == {str(job.code)}, forged


def test_a_poll_makes_no_counter_for_a_gallery_the_user_may_not_see(
    alice_client: Client, alice: Any, charlie: Any
) -> None:
    from django.core.cache import cache

    others = make_team(charlie, "Zeta")
    redis = cache._cache.get_client(None)  # type: ignore[attr-defined]
    for junk in ["x" * 500, "00000000-0000-0000-0000-000000000000", str(others.code)]:
        assert alice_client.get("/gallery/poll/", {"team": junk, "v": "1.1"}).status_code == 404
    assert redis.keys(cache.make_key("gallery-version:t:*")) == []


def test_a_poll_counter_is_short_lived(alice_client: Client, alice: Any) -> None:
    from django.core.cache import cache

    assert alice_client.get("/gallery/poll/?since=0&oldest=0").status_code == 200
    name = cache.make_key(versions.key(alice.pk, None))
    ttl = cache._cache.get_client(name).ttl(name)  # type: ignore[attr-defined]
    assert 0 < ttl <= 3600
