"""Accounts policy: email verification, invitation-only sign-up, deleting an account."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse

from accounts import services as accounts
from jobs.models import Batch, Budget, Charge, Invitation, Job, Membership, Team
from tests.conftest import make_job, make_team, make_team_job, with_files

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(30)]

PASSWORD = "a-Long-pass-123"


def _signup(client: Client, username: str = "dora", **extra: Any) -> Any:
    data = {
        "username": username,
        "email": f"{username}@example.org",
        "password1": PASSWORD,
        "password2": PASSWORD,
        **extra,
    }
    return client.post("/accounts/signup/", data, follow=True)


# --- email verification -------------------------------------------------------------------


@pytest.fixture
def verify(settings: Any) -> None:
    settings.SIGNUP_VERIFY_EMAIL = True


def test_it_verifies_email_by_default_with_a_real_key() -> None:
    import os
    import subprocess
    import sys

    code = "from django.conf import settings; print(settings.SIGNUP_VERIFY_EMAIL)"
    env = {
        **os.environ,
        "APIXO_API_KEY": "real-key",
        "DJANGO_SETTINGS_MODULE": "upscaler_site.settings",
    }
    out = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "True"


def test_it_sends_a_link_instead_of_logging_in(
    client: Client, verify: None, mailoutbox: list[Any]
) -> None:
    r = _signup(client)
    assert "Confirm your email" in r.content.decode()
    dora = User.objects.get(username="dora")
    assert not dora.is_active
    assert len(mailoutbox) == 1 and "/accounts/verify/" in mailoutbox[0].body
    assert client.get("/").status_code == 302  # not logged in


def test_it_keeps_an_unverified_account_from_logging_in(client: Client, verify: None) -> None:
    _signup(client)
    r = client.post("/accounts/login/", {"username": "dora", "password": PASSWORD})
    assert r.status_code == 200
    assert "Confirm your email first" in r.content.decode()


def test_it_activates_and_logs_in_through_the_link(
    client: Client, verify: None, mailoutbox: list[Any]
) -> None:
    _signup(client)
    path = re.search(r"http://[^/]+(/accounts/verify/\S+/)", mailoutbox[0].body)
    assert path
    r = client.get(path.group(1), follow=True)
    assert "Welcome, dora!" in r.content.decode()
    assert User.objects.get(username="dora").is_active


def test_it_refuses_a_used_verification_link(
    client: Client, verify: None, mailoutbox: list[Any]
) -> None:
    _signup(client)
    path = re.search(r"http://[^/]+(/accounts/verify/\S+/)", mailoutbox[0].body)
    assert path
    client.get(path.group(1))
    client.post("/accounts/logout/")
    assert client.get(path.group(1)).status_code == 400


def test_it_does_not_reactivate_a_deactivated_account(alice: User) -> None:
    alice.last_login = alice.date_joined
    alice.is_active = False
    alice.save()
    token = accounts.verification_url(alice).rsplit("/verify/", 1)[1].strip("/")
    assert accounts.user_to_verify(token) is None


def test_it_refuses_a_second_account_for_an_email(client: Client, alice: User) -> None:
    r = _signup(client, "alice2", email="ALICE@example.org")
    assert "already exists" in r.content.decode()
    assert not User.objects.filter(username="alice2").exists()


def _page(r: Any, email: str) -> str:
    """The answer as an onlooker compares it (the address shown is the one they typed)."""
    body: str = r.content.decode().replace(email, "EMAIL")
    return re.sub(r'(csrfmiddlewaretoken" value="|X-CSRFToken": ")[^"]*', "", body)


def test_it_answers_a_taken_email_like_a_new_account_and_emails_its_owner(
    client: Client, verify: None, alice: User, mailoutbox: list[Any]
) -> None:
    new = _signup(client, "dora")
    taken = _signup(Client(), "dora2", email="ALICE@example.org")
    assert (new.status_code, taken.status_code) == (200, 200)
    assert _page(taken, "ALICE@example.org") == _page(new, "dora@example.org")
    assert not User.objects.filter(username="dora2").exists()
    assert mailoutbox[-1].to == ["ALICE@example.org"]
    body = mailoutbox[-1].body
    assert "already has an account, with the user name alice" in body
    assert "/accounts/password_reset/" in body


def test_it_answers_a_taken_username_like_a_new_account_and_emails_the_address(
    client: Client, verify: None, alice: User, mailoutbox: list[Any]
) -> None:
    new = _signup(client, "dora")
    taken = _signup(Client(), "Alice", email="someone@example.org")
    assert _page(taken, "someone@example.org") == _page(new, "dora@example.org")
    assert User.objects.filter(username__iexact="alice").count() == 1
    assert mailoutbox[-1].to == ["someone@example.org"]
    assert "The user name Alice is taken" in mailoutbox[-1].body


def test_it_sends_a_fresh_link_for_a_taken_but_unconfirmed_email(
    client: Client, verify: None, mailoutbox: list[Any]
) -> None:
    _signup(client, "dora")
    _signup(Client(), "dora2", email="dora@example.org")
    assert [m.to for m in mailoutbox] == [["dora@example.org"]] * 2
    assert "/accounts/verify/" in mailoutbox[1].body
    assert not User.objects.filter(username="dora2").exists()


def test_it_still_shows_other_sign_up_errors(client: Client, verify: None, alice: User) -> None:
    r = _signup(client, "alice", password2="something-else")
    assert r.status_code == 400
    assert "already exists" not in r.content.decode()


def test_it_trusts_an_invitation_link_instead_of_a_verification(
    client: Client, verify: None, team: Team, mailoutbox: list[Any]
) -> None:
    invitation = Invitation.objects.create(team=team, email="dora@example.org")
    _signup(client, invite=invitation.token)
    assert User.objects.get(username="dora").is_active
    assert mailoutbox == []


# --- invitation-only sign-up --------------------------------------------------------------


def test_it_closes_open_signup_in_invite_mode(client: Client, settings: Any) -> None:
    settings.SIGNUP_MODE = "invite"
    assert client.get("/accounts/signup/").status_code == 403
    _signup(client)
    assert not User.objects.filter(username="dora").exists()


def test_it_signs_up_through_an_invitation_in_invite_mode(
    client: Client, settings: Any, team: Team
) -> None:
    settings.SIGNUP_MODE = "invite"
    invitation = Invitation.objects.create(team=team, email="dora@example.org")
    _signup(client, invite=invitation.token)
    assert team.memberships.filter(user__username="dora").exists()


# --- deleting an account ------------------------------------------------------------------


def _delete(user: User) -> Any:
    client = Client()
    client.force_login(user)
    return client.post(reverse("account"), {"password": "password"}, follow=True)


def test_it_deletes_personal_images_and_their_files(
    bob: User, django_capture_on_commit_callbacks: Any
) -> None:
    job = with_files(make_job(bob, Job.State.SUCCESS))
    names = [str(f.name) for f in (job.source_file, job.result_file, job.thumbnail)]
    with django_capture_on_commit_callbacks(execute=True):
        assert _delete(bob).status_code == 200
    assert not User.objects.filter(username="bob").exists()
    assert not Job.objects.filter(pk=job.pk).exists()
    assert not any(default_storage.exists(n) for n in names)


def test_it_keeps_team_images_with_the_team(team: Team, bob: User) -> None:
    job = with_files(make_team_job(team, bob, Job.State.SUCCESS))
    _delete(bob)
    job.refresh_from_db()
    assert job.team == team and job.user is None
    assert default_storage.exists(str(job.result_file.name))
    assert Batch.objects.filter(pk=job.batch_id).exists()


def test_it_keeps_the_ledger(team: Team, bob: User) -> None:
    assert bob.budget.reserve(1)
    personal = make_job(bob, Job.State.SUBMITTING)
    assert personal.accept("task-1")
    personal.move((Job.State.PENDING,), Job.State.SUCCESS)
    budget_pk = bob.budget.pk
    _delete(bob)
    charge = Charge.objects.get(job_code=personal.code)
    assert (charge.user, charge.job, charge.budget_id) == (None, None, budget_pk)
    assert Budget.objects.filter(pk=budget_pk).exists()


def test_it_deletes_a_team_only_its_user_belongs_to(alice: User) -> None:
    solo = make_team(alice, "Solo")
    make_team_job(solo, alice, Job.State.SUCCESS)
    _delete(alice)
    assert not Team.objects.filter(pk=solo.pk).exists()
    assert not Job.objects.exists()


def test_it_refuses_while_the_user_is_a_teams_only_owner(team: Team, alice: User) -> None:
    r = _delete(alice)
    assert "only owner of Acme" in r.content.decode()
    assert User.objects.filter(username="alice").exists()


def test_it_refuses_while_personal_images_are_in_flight(bob: User) -> None:
    make_job(bob, Job.State.PENDING)
    r = _delete(bob)
    assert "still being processed" in r.content.decode()
    assert User.objects.filter(username="bob").exists()


def test_it_needs_the_password_to_delete(bob: User) -> None:
    client = Client()
    client.force_login(bob)
    r = client.post(reverse("account"), {"password": "wrong"})
    assert r.status_code == 400
    assert User.objects.filter(username="bob").exists()


def test_it_lets_another_owner_keep_the_team(team: Team, alice: User, bob: User) -> None:
    Membership.objects.filter(team=team, user=bob).update(role=Membership.Role.OWNER)
    _delete(alice)
    assert Team.objects.filter(pk=team.pk).exists()
    assert list(team.memberships.values_list("user__username", flat=True)) == ["bob"]


def test_it_sends_a_new_link_for_an_unverified_account(
    client: Client, verify: None, mailoutbox: list[Any]
) -> None:
    _signup(client)
    r = client.post(reverse("verify_resend"), {"email": "DORA@example.org"})
    assert "Confirm your email" in r.content.decode()
    assert len(mailoutbox) == 2 and "/accounts/verify/" in mailoutbox[1].body


def test_it_sends_no_link_for_an_active_account(
    client: Client, alice: User, mailoutbox: list[Any]
) -> None:
    r = client.post(reverse("verify_resend"), {"email": alice.email})
    assert "Confirm your email" in r.content.decode()  # the same answer, to give nothing away
    assert mailoutbox == []
