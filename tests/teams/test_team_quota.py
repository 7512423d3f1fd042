"""A team budget under concurrency, on real transactions (not the test-wrapping one)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from jobs.models import Budget, Job
from jobs.submit import QuotaExceeded, Source, submit_batch
from tests.conftest import add_member, make_team, make_user
from tests.jobs.test_quota import _race

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


def test_it_accepts_exactly_one_of_many_members_at_budget_minus_one() -> None:
    owner = make_user("owner")
    team = make_team(owner, quota=10)
    members = [owner] + [make_user(f"member{n}") for n in range(5)]
    for m in members[1:]:
        add_member(team, m)
    Budget.objects.filter(pk=team.budget_id).update(spent_cents=9)  # one cent left

    def submit(i: int) -> Any:
        source = Source(name=f"{i}.jpg", url=f"https://images.example.com/{i}.jpg")
        budget = Budget.objects.get(pk=team.budget_id)
        return submit_batch(members[i], budget, uuid.uuid4(), [source], "2k", "jpg", team=team)

    results = _race(len(members), submit)
    accepted = [r for r in results if isinstance(r, tuple)]
    refused = [r for r in results if isinstance(r, QuotaExceeded)]
    assert (len(accepted), len(refused)) == (1, len(members) - 1), results
    budget = Budget.objects.get(pk=team.budget_id)
    assert (budget.spent_cents, budget.reserved_cents) == (9, 1)
    assert Job.objects.filter(team=team).count() == 1


def test_it_resets_a_month_once_under_concurrent_submits() -> None:
    """At the turn of the month many first reservations race; one resets, none is lost."""
    import time_machine

    owner = make_user("owner")
    team = make_team(owner, quota=10)
    with time_machine.travel("2026-03-31 23:00Z", tick=False):
        Budget.objects.filter(pk=team.budget_id).update(spent_cents=10, period_start="2026-03-01")
    with time_machine.travel("2026-04-01 00:05Z", tick=True):
        results = _race(6, lambda i: Budget.objects.get(pk=team.budget_id).reserve(1))
    assert results == [True] * 6
    budget = Budget.objects.get(pk=team.budget_id)
    assert (budget.spent_cents, budget.reserved_cents) == (0, 6)
    assert str(budget.period_start) == "2026-04-01"
