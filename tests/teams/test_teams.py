"""Teams: creating one, invitations, roles, the shared gallery and the team budget."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from jobs import tasks
from jobs.models import Budget, Charge, Invitation, Job, Membership, Team
from lib import fetch
from teams import services as teams
from tests.conftest import add_member, make_job, make_team_job, make_user, next_poll

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(30)]
Role = Membership.Role


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every host resolves to a public address; enqueued jobs are recorded, not sent."""
    enqueued: list[Any] = []

    class Queue:
        def enqueue(self, *args: Any) -> None:
            enqueued.append(args)

    monkeypatch.setattr(fetch, "_resolve", lambda host, port: ["93.184.216.34"])
    monkeypatch.setattr(tasks, "_queue", lambda: Queue())
    return enqueued


def _submit(client: Client, team: Team | None, n: int = 1) -> Any:
    urls = "\n".join(f"https://images.example.com/{uuid.uuid4()}.jpg" for _ in range(n))
    data = {"urls": urls, "resolution": "2k", "output_format": "jpg", "key": str(uuid.uuid4())}
    if team is not None:
        data["team"] = str(team.code)
    return client.post("/jobs/", data, follow=True)


# --- creating a team ----------------------------------------------------------------------


def test_it_creates_a_team_with_its_creator_as_owner(alice: User) -> None:
    r = _client(alice).post(reverse("team_list"), {"name": "Acme"})
    team = Team.objects.get(name="Acme")
    assert r.status_code == 302 and r["Location"] == team.get_absolute_url()
    assert team.memberships.get().user == alice
    assert team.memberships.get().role == Role.OWNER


def test_it_gives_a_new_team_a_monthly_budget_of_its_own(alice: User, settings: Any) -> None:
    settings.TEAM_DEFAULT_QUOTA_CENTS = 500
    team = teams.create_team(alice, "Acme")
    assert team.budget.pk != alice.budget.pk
    assert (team.budget.limit_cents, team.budget.cap_cents) == (500, 500)
    assert team.budget.period == Budget.Period.MONTHLY


def test_it_switches_to_a_new_team(alice: User) -> None:
    client = _client(alice)
    client.post(reverse("team_list"), {"name": "Acme"})
    assert "Acme's images" in client.get("/").content.decode()


def test_it_refuses_a_blank_team_name(alice: User) -> None:
    r = _client(alice).post(reverse("team_list"), {"name": "   "})
    assert r.status_code == 400
    assert not Team.objects.exists()


# --- invitations --------------------------------------------------------------------------


def test_it_emails_an_invitation_link(team: Team, alice: User, mailoutbox: list[Any]) -> None:
    r = _client(alice).post(
        reverse("team_invite", args=[team.code]), {"email": "dora@example.org", "role": "viewer"}
    )
    assert r.status_code == 302
    invitation = Invitation.objects.get(email="dora@example.org")
    assert invitation.role == Role.VIEWER
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["dora@example.org"]
    link = re.search(r"https?://\S+/invite/(\S+)/", mailoutbox[0].body)
    assert link, mailoutbox[0].body
    assert Invitation.find(link.group(1)) == invitation


def test_it_keeps_only_a_hash_of_the_invitation_link(team: Team, alice: User) -> None:
    """Someone who reads the database (a leaked backup) can't join the team with it."""
    invitation = teams.invite(team, "dora@example.org", Role.ADMIN, alice)
    stored = Invitation.objects.filter(pk=invitation.pk).values()[0]
    assert invitation.token and invitation.token not in {str(v) for v in stored.values()}
    assert Invitation.find(stored["token_hash"]) is None
    assert Client().get(f"/invite/{stored['token_hash']}/").status_code == 404
    assert Client().get(invitation.get_absolute_url()).status_code == 200


def test_it_refuses_to_invite_an_existing_member(team: Team, alice: User, bob: User) -> None:
    with pytest.raises(teams.TeamError, match="already a member"):
        teams.invite(team, bob.email.upper(), Role.MEMBER, alice)
    assert not Invitation.objects.exists()


def test_it_replaces_an_open_invitation_for_the_same_address(team: Team, alice: User) -> None:
    first = teams.invite(team, "dora@example.org", Role.MEMBER, alice)
    second = teams.invite(team, "Dora@example.org", Role.ADMIN, alice)
    assert list(Invitation.objects.all()) == [second]
    assert first.token != second.token


def test_it_joins_a_team_through_the_link(team: Team, alice: User) -> None:
    dora = make_user("dora")
    invitation = teams.invite(team, dora.email, Role.MEMBER, alice)
    r = _client(dora).post(invitation.get_absolute_url())
    assert r.status_code == 302
    assert team.memberships.get(user=dora).role == Role.MEMBER
    invitation.refresh_from_db()
    assert invitation.accepted_by == dora and invitation.accepted_at is not None


def test_it_refuses_an_expired_invitation(team: Team, alice: User) -> None:
    dora = make_user("dora")
    invitation = teams.invite(team, dora.email, Role.MEMBER, alice)
    with time_machine.travel(timezone.now() + timedelta(days=8)):
        r = _client(dora).post(invitation.get_absolute_url(), follow=True)
    assert "expired" in r.content.decode()
    assert not team.memberships.filter(user=dora).exists()


def test_it_uses_an_invitation_only_once(team: Team, alice: User) -> None:
    dora, dora2 = make_user("dora"), make_user("dora2")
    dora2.email = dora.email  # a second account with the same address
    dora2.save()
    invitation = teams.invite(team, dora.email, Role.MEMBER, alice)
    _client(dora).post(invitation.get_absolute_url())
    r = _client(dora2).post(invitation.get_absolute_url(), follow=True)
    assert "already been used" in r.content.decode()
    assert not team.memberships.filter(user=dora2).exists()


def test_it_refuses_an_invitation_for_another_address(team: Team, alice: User) -> None:
    invitation = teams.invite(team, "dora@example.org", Role.ADMIN, alice)
    charlie = make_user("charlie")
    r = _client(charlie).post(invitation.get_absolute_url(), follow=True)
    assert "This invitation is for dora@example.org" in r.content.decode()
    assert not team.memberships.filter(user=charlie).exists()
    invitation.refresh_from_db()
    assert invitation.accepted_at is None  # still there for Dora


def test_it_tells_a_member_they_are_already_in(team: Team, alice: User, bob: User) -> None:
    invitation = Invitation.objects.create(team=team, email=bob.email, role=Role.ADMIN)
    r = _client(bob).post(invitation.get_absolute_url(), follow=True)
    assert "already a member" in r.content.decode()
    assert team.memberships.get(user=bob).role == Role.MEMBER  # not promoted by the link
    invitation.refresh_from_db()
    assert invitation.accepted_at is None


def test_it_claims_an_invitation_with_a_conditional_update(team: Team, alice: User) -> None:
    """Two accepts of the same invitation: the second finds it claimed."""
    dora = make_user("dora")
    invitation = teams.invite(team, dora.email, Role.MEMBER, alice)
    stale = Invitation.objects.get(pk=invitation.pk)
    teams.accept(invitation, dora)
    Membership.objects.filter(user=dora).delete()
    with pytest.raises(teams.TeamError, match="already been used"):
        teams.accept(stale, dora)  # its copy still says accepted_at is None


def test_it_shows_the_invitation_page_to_a_visitor(client: Client, team: Team) -> None:
    invitation = Invitation.objects.create(team=team, email="new@example.org")
    body = client.get(invitation.get_absolute_url()).content.decode()
    assert "Sign up with new@example.org" in body
    assert f"/accounts/signup/?invite={invitation.token}" in body


def test_it_signs_up_an_invitee_and_joins_the_team(client: Client, team: Team) -> None:
    invitation = Invitation.objects.create(team=team, email="new@example.org", role=Role.VIEWER)
    url = f"/accounts/signup/?invite={invitation.token}"
    assert 'value="new@example.org"' in client.get(url).content.decode()
    r = client.post(
        "/accounts/signup/",
        {
            "invite": invitation.token,
            "username": "newbie",
            "email": "someone-else@example.org",  # ignored: the field is the invitation's
            "password1": "a-Long-pass-123",
            "password2": "a-Long-pass-123",
        },
        follow=True,
    )
    newbie = User.objects.get(username="newbie")
    assert newbie.email == "new@example.org"
    assert team.memberships.get(user=newbie).role == Role.VIEWER
    assert f"{team.name}'s images" in r.content.decode()


def test_it_lets_an_admin_cancel_an_invitation(team: Team, alice: User) -> None:
    invitation = Invitation.objects.create(team=team, email="new@example.org")
    _client(alice).post(reverse("invitation_revoke", args=[team.code, invitation.code]))
    assert not Invitation.objects.exists()


# --- roles, removing and leaving ----------------------------------------------------------


def test_it_keeps_the_last_owner_from_leaving(team: Team, alice: User) -> None:
    r = _client(alice).post(reverse("team_leave", args=[team.code]), follow=True)
    assert "last owner" in r.content.decode()
    assert team.memberships.filter(user=alice, role=Role.OWNER).exists()


def test_it_lets_an_owner_leave_when_another_owner_remains(
    team: Team, alice: User, bob: User
) -> None:
    Membership.objects.filter(team=team, user=bob).update(role=Role.OWNER)
    _client(alice).post(reverse("team_leave", args=[team.code]))
    assert not team.memberships.filter(user=alice).exists()


def test_it_lets_a_member_leave(team: Team, bob: User) -> None:
    client = _client(bob)
    client.post(reverse("switch_context"), {"team": team.code})
    client.post(reverse("team_leave", args=[team.code]))
    assert not team.memberships.filter(user=bob).exists()
    assert "Your images" in client.get("/").content.decode()  # back to Personal


def test_it_lets_an_admin_change_a_members_role(team: Team, alice: User, bob: User) -> None:
    dora = make_user("dora")
    add_member(team, dora, Role.ADMIN)
    member = team.memberships.get(user=bob)
    _client(dora).post(reverse("member_role", args=[team.code, member.code]), {"role": "viewer"})
    member.refresh_from_db()
    assert member.role == Role.VIEWER


def test_it_keeps_admins_from_making_owners(team: Team, bob: User) -> None:
    dora = make_user("dora")
    add_member(team, dora, Role.ADMIN)
    member = team.memberships.get(user=bob)
    r = _client(dora).post(
        reverse("member_role", args=[team.code, member.code]), {"role": "owner"}, follow=True
    )
    assert "Only an owner" in r.content.decode()
    member.refresh_from_db()
    assert member.role == Role.MEMBER


def test_it_keeps_admins_from_removing_owners(team: Team, alice: User) -> None:
    dora = make_user("dora")
    add_member(team, dora, Role.ADMIN)
    owner = team.memberships.get(user=alice)
    _client(dora).post(reverse("member_remove", args=[team.code, owner.code]))
    assert team.memberships.filter(user=alice).exists()


def test_it_keeps_the_last_owner_from_being_demoted(team: Team, alice: User) -> None:
    owner = team.memberships.get(user=alice)
    with pytest.raises(teams.TeamError, match="needs an owner"):
        teams.set_role(owner, owner, Role.ADMIN)


def test_it_lets_an_owner_remove_a_member(team: Team, alice: User, bob: User) -> None:
    member = team.memberships.get(user=bob)
    _client(alice).post(reverse("member_remove", args=[team.code, member.code]))
    assert not team.memberships.filter(user=bob).exists()


# --- the shared gallery -------------------------------------------------------------------


def test_it_shows_every_members_team_images_with_the_submitter(
    team: Team, alice: User, bob: User
) -> None:
    make_team_job(team, bob, source_name="bobs-shot.jpg")
    make_team_job(team, alice, source_name="alices-shot.jpg")
    client = _client(alice)
    client.post(reverse("switch_context"), {"team": team.code})
    body = client.get("/").content.decode()
    assert "bobs-shot.jpg" in body and "by bob" in body
    assert "alices-shot.jpg" in body and "by alice" in body


def test_it_keeps_personal_images_out_of_the_team_gallery(
    team: Team, alice: User, bob: User
) -> None:
    make_job(bob, source_name="bobs-private.jpg")
    client = _client(alice)
    client.post(reverse("switch_context"), {"team": team.code})
    assert "bobs-private.jpg" not in client.get("/").content.decode()


def test_it_keeps_team_images_out_of_the_personal_gallery(team: Team, bob: User) -> None:
    make_team_job(team, bob, source_name="for-the-team.jpg")
    assert "for-the-team.jpg" not in _client(bob).get("/").content.decode()


def test_it_sends_a_teammates_new_image_to_the_live_poll(
    team: Team, alice: User, bob: User
) -> None:
    """Alice's gallery poll picks up the card Bob just submitted, and keeps polling."""
    job = make_team_job(team, bob, source_name="just-now.jpg")
    r = _client(alice).get(f"/gallery/poll/?since=1&oldest=0&team={team.code}")
    body = r.content.decode()
    assert r.status_code == 200
    assert f'id="job-{job.code}"' in body and "by bob" in body
    assert f"team={team.code}" in body and 'hx-trigger="every 2s' in body


def test_it_swaps_a_teammates_changed_card_into_the_poll(
    team: Team, alice: User, bob: User
) -> None:
    job = make_team_job(team, bob, Job.State.PENDING)
    client = _client(alice)
    client.post(reverse("switch_context"), {"team": team.code})
    url = next_poll(client.get("/"))
    assert client.get(url).status_code == 204
    job.move((Job.State.PENDING,), Job.State.PROCESSING)
    assert "Processing" in client.get(url).content.decode()


def test_it_polls_the_team_from_the_gallery_page(team: Team, alice: User, bob: User) -> None:
    make_team_job(team, bob, Job.State.PENDING)
    client = _client(alice)
    client.post(reverse("switch_context"), {"team": team.code})
    assert f"&team={team.code}" in client.get("/").content.decode()


def test_it_hides_the_submit_form_from_a_viewer(team: Team) -> None:
    vic = make_user("vic")
    add_member(team, vic, Role.VIEWER)
    client = _client(vic)
    client.post(reverse("switch_context"), {"team": team.code})
    body = client.get("/").content.decode()
    assert "You are a viewer" in body
    assert 'id="submit-form"' not in body


# --- submitting to the team ---------------------------------------------------------------


def test_it_charges_a_team_submission_to_the_team(
    team: Team, bob: User, no_network: list[Any]
) -> None:
    _submit(_client(bob), team, n=2)
    jobs = Job.objects.filter(team=team)
    assert jobs.count() == 2 and all(j.user == bob and j.budget == team.budget for j in jobs)
    team.budget.refresh_from_db()
    bob.budget.refresh_from_db()
    assert (team.budget.reserved_cents, bob.budget.reserved_cents) == (2, 0)


def test_it_attributes_a_team_charge_to_the_member(team: Team, bob: User) -> None:
    assert team.budget.reserve(1)
    job = make_team_job(team, bob, Job.State.SUBMITTING)
    assert job.accept("task-1")
    charge = Charge.objects.get(job=job)
    assert (charge.user, charge.budget) == (bob, team.budget)


def test_it_stops_a_team_submission_over_budget_with_a_clear_message(
    team: Team, bob: User, no_network: list[Any]
) -> None:
    Budget.objects.filter(pk=team.budget_id).update(limit_cents=1, spent_cents=1)
    r = _submit(_client(bob), team)
    body = r.content.decode()
    assert r.status_code == 400
    assert "only $0.00 is left of Acme&#x27;s budget this month" in body
    assert "ask a team owner or admin to raise the budget" in body
    assert not Job.objects.exists()


def test_it_lets_a_member_retry_a_teammates_job(
    team: Team, alice: User, bob: User, no_network: list[Any]
) -> None:
    failed = make_team_job(team, alice, Job.State.FAILED, fail_code="Timeout")
    _client(bob).post(reverse("job_retry", args=[failed.code]))
    new = Job.objects.get(retry_of=failed)
    assert (new.team, new.user, new.budget) == (team, bob, team.budget)


# --- the team budget ----------------------------------------------------------------------


def test_it_sets_the_budget_in_images(team: Team, alice: User) -> None:
    _client(alice).post(
        reverse("team_budget", args=[team.code]),
        {"period": "monthly", "unit": "images", "amount": "40"},
    )
    team.budget.refresh_from_db()
    assert (team.budget.limit_cents, team.budget.limit_display) == (40, "40 images")


def test_it_keeps_the_budget_under_the_staff_cap(team: Team, alice: User) -> None:
    r = _client(alice).post(
        reverse("team_budget", args=[team.code]),
        {"period": "monthly", "unit": "usd", "amount": "5.00"},
        follow=True,
    )
    assert "The most this team may budget is $1.00" in r.content.decode()
    team.budget.refresh_from_db()
    assert team.budget.limit_cents == 100


def test_it_allows_an_unlimited_budget_without_a_cap(team: Team, alice: User) -> None:
    Budget.objects.filter(pk=team.budget_id).update(cap_cents=None)
    _client(alice).post(
        reverse("team_budget", args=[team.code]), {"period": "monthly", "unit": "usd"}
    )
    team.budget.refresh_from_db()
    assert team.budget.limit_cents is None


def test_it_recounts_spent_from_the_ledger_when_the_period_changes(team: Team, bob: User) -> None:
    with time_machine.travel("2026-01-15 12:00Z"):
        _charge(team, bob)
    with time_machine.travel("2026-02-10 12:00Z"):
        _charge(team, bob)
        teams.set_budget(team, Budget.Period.LIFETIME, Budget.Unit.DOLLARS, 100)
        assert team.budget.spent_cents == 2
        teams.set_budget(team, Budget.Period.MONTHLY, Budget.Unit.DOLLARS, 100)
        assert team.budget.spent_cents == 1


def test_it_shows_spend_per_member_to_admins(team: Team, alice: User, bob: User) -> None:
    _charge(team, bob)
    _charge(team, bob)
    _charge(team, alice)
    body = _client(alice).get(team.get_absolute_url()).content.decode()
    assert '<td>bob</td><td class="num">$0.02</td>' in body
    assert '<td>alice</td><td class="num">$0.01</td>' in body


def test_it_hides_spend_per_member_from_members(team: Team, bob: User) -> None:
    body = _client(bob).get(team.get_absolute_url()).content.decode()
    assert "Spend per member" not in body


def _charge(team: Team, user: User) -> Job:
    assert team.budget.reserve(1)
    job = make_team_job(team, user, Job.State.SUBMITTING)
    assert job.accept(f"task-{job.pk}")
    team.budget.refresh_from_db()
    return job


def test_it_keeps_an_idle_team_gallery_listening_slowly(team: Team, alice: User) -> None:
    """Nothing in flight, yet a teammate may submit any time: poll every 10 s, not never."""
    client = _client(alice)
    client.post(reverse("switch_context"), {"team": team.code})
    body = client.get("/").content.decode()
    assert 'hx-trigger="every 10s"' in body


def test_it_slows_the_team_poll_down_once_idle(team: Team, alice: User, bob: User) -> None:
    make_team_job(team, bob, Job.State.SUCCESS)
    body = _client(alice).get(f"/gallery/poll/?since=1&oldest=0&team={team.code}").content
    assert b'hx-trigger="every 10s' in body and b"every 2s" not in body
