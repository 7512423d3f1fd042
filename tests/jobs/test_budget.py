"""Budgets: monthly periods, and the 80%/100% spend alerts."""

from __future__ import annotations

from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client

from jobs import alerts, tasks
from jobs.models import Budget, Charge, Job, Membership, Team
from lib import emails
from tests.conftest import add_member, make_job, make_team_job

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(30)]


def _charge(user: User, team: Team | None = None) -> Job:
    """A job the budget reserved for and APIXO accepted, as the worker leaves it."""
    budget = team.budget if team else user.budget
    assert Budget.objects.get(pk=budget.pk).reserve(1)
    job = (
        make_team_job(team, user, Job.State.SUBMITTING)
        if team
        else make_job(user, Job.State.SUBMITTING)
    )
    assert tasks.charge(job, f"task-{job.pk}")
    return job


# --- monthly periods ----------------------------------------------------------------------


def test_it_starts_a_monthly_budget_over_on_the_first(team: Team, bob: User) -> None:
    with time_machine.travel("2026-01-20 10:00Z"):
        Budget.objects.filter(pk=team.budget_id).update(period_start="2026-01-01")
        _charge(bob, team)
        _charge(bob, team)
    with time_machine.travel("2026-02-01 00:00:01Z"):
        budget = Budget.objects.get(pk=team.budget_id)
        assert budget.reserve(1)
    budget.refresh_from_db()
    assert (budget.spent_cents, budget.reserved_cents, str(budget.period_start)) == (
        0,
        1,
        "2026-02-01",
    )


def test_it_keeps_the_ledger_when_a_month_resets(team: Team, bob: User) -> None:
    with time_machine.travel("2026-01-20 10:00Z"):
        Budget.objects.filter(pk=team.budget_id).update(period_start="2026-01-01")
        _charge(bob, team)
    with time_machine.travel("2026-02-02 10:00Z"):
        Budget.objects.get(pk=team.budget_id).roll_period()
        _charge(bob, team)
    charges = Charge.objects.filter(budget=team.budget_id).order_by("created")
    assert [c.created.month for c in charges] == [1, 2]
    assert Budget.objects.get(pk=team.budget_id).spent_cents == 1


def test_it_counts_a_charge_in_a_new_month_towards_that_month(team: Team, bob: User) -> None:
    """A job reserved in January and accepted in February: February's charge."""
    with time_machine.travel("2026-01-31 23:59Z"):
        Budget.objects.filter(pk=team.budget_id).update(period_start="2026-01-01", spent_cents=7)
        assert Budget.objects.get(pk=team.budget_id).reserve(1)
        job = make_team_job(team, bob, Job.State.SUBMITTING)
    with time_machine.travel("2026-02-01 00:01Z"):
        assert Job.objects.select_related("budget").get(pk=job.pk).accept("task-x")
    budget = Budget.objects.get(pk=team.budget_id)
    assert (budget.spent_cents, budget.reserved_cents) == (1, 0)


def test_it_never_resets_a_lifetime_budget(alice: User) -> None:
    with time_machine.travel("2026-01-20 10:00Z"):
        _charge(alice)
    with time_machine.travel("2026-03-02 10:00Z"):
        assert not Budget.objects.get(user=alice).roll_period()
    assert Budget.objects.get(user=alice).spent_cents == 1


def test_it_shows_the_new_month_before_anyone_submits(team: Team, alice: User) -> None:
    with time_machine.travel("2026-01-20 10:00Z"):
        Budget.objects.filter(pk=team.budget_id).update(period_start="2026-01-01", spent_cents=90)
    client = Client()
    client.force_login(alice)
    client.post("/context/", {"team": team.code})
    with time_machine.travel("2026-02-03 10:00Z"):
        body = client.get("/").content.decode()
    assert "Acme: spent $0.00 of $1.00 this month" in body


# --- alerts -------------------------------------------------------------------------------


@pytest.fixture
def small(alice: User) -> Budget:
    Budget.objects.filter(user=alice).update(limit_cents=5)
    return Budget.objects.get(user=alice)


def test_it_emails_once_at_80_percent(
    alice: User, small: Budget, mailoutbox: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    for _ in range(4):
        with django_capture_on_commit_callbacks(execute=True):
            _charge(alice)
    assert [m.subject for m in mailoutbox] == ["Upscaler: 80% of your quota used"]
    assert mailoutbox[0].to == [alice.email]


def test_it_emails_once_more_at_100_percent(
    alice: User, small: Budget, mailoutbox: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    for _ in range(5):
        with django_capture_on_commit_callbacks(execute=True):
            _charge(alice)
    assert [m.subject for m in mailoutbox] == [
        "Upscaler: 80% of your quota used",
        "Upscaler: 100% of your quota used",
    ]
    assert not alerts.check_budget(small.pk)  # a second check sends nothing


def test_it_emails_a_teams_owners_and_admins_only(
    team: Team, bob: User, mailoutbox: list[Any]
) -> None:
    dora = add_member(
        team, User.objects.create_user("dora", "dora@example.org"), Membership.Role.ADMIN
    )
    Budget.objects.filter(pk=team.budget_id).update(limit_cents=10, spent_cents=8)
    assert alerts.check_budget(team.budget_id)
    assert sorted(mailoutbox[0].to) == sorted(["alice@example.org", dora.user.email])
    assert "Acme" in mailoutbox[0].body


def test_it_alerts_again_in_a_new_month(team: Team, mailoutbox: list[Any]) -> None:
    with time_machine.travel("2026-01-20 10:00Z"):
        Budget.objects.filter(pk=team.budget_id).update(
            period_start="2026-01-01", limit_cents=10, spent_cents=8
        )
        assert alerts.check_budget(team.budget_id)
        assert not alerts.check_budget(team.budget_id)
    with time_machine.travel("2026-02-20 10:00Z"):
        Budget.objects.get(pk=team.budget_id).roll_period()  # the month's first reserve does it
        Budget.objects.filter(pk=team.budget_id).update(spent_cents=9)
        assert alerts.check_budget(team.budget_id)
    assert len(mailoutbox) == 2


def test_it_shows_a_banner_at_80_percent(alice_client: Client, alice: User) -> None:
    Budget.objects.filter(user=alice).update(spent_cents=85)
    body = alice_client.get("/").content.decode()
    assert "You have used 85% of your quota ($0.85 of $1.00)." in body


def test_it_shows_a_banner_at_100_percent(alice_client: Client, alice: User) -> None:
    Budget.objects.filter(user=alice).update(spent_cents=100)
    body = alice_client.get("/").content.decode()
    assert "You have used all of your quota ($1.00 of $1.00)" in body


def test_it_shows_no_banner_below_80_percent(alice_client: Client, alice: User) -> None:
    Budget.objects.filter(user=alice).update(spent_cents=79)
    assert 'id="spend-banner"' not in alice_client.get("/").content.decode()


def test_it_shows_the_team_banner_to_admins_not_members(team: Team, alice: User, bob: User) -> None:
    Budget.objects.filter(pk=team.budget_id).update(spent_cents=100)
    pages = {}
    for user in (alice, bob):
        client = Client()
        client.force_login(user)
        client.post("/context/", {"team": team.code})
        pages[user.username] = client.get("/").content.decode()
    assert "You have used all of Acme" in pages["alice"]
    assert 'id="spend-banner"' not in pages["bob"]


def test_it_charges_even_when_the_alert_email_fails(
    alice: User,
    small: Budget,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise OSError("SMTP is down")

    monkeypatch.setattr(emails, "send_mail", broken)
    Budget.objects.filter(user=alice).update(spent_cents=3)
    with django_capture_on_commit_callbacks(execute=True):
        job = _charge(alice)
    assert Charge.objects.filter(job=job).exists()
    assert Budget.objects.get(user=alice).spent_cents == 4
