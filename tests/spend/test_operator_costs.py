"""The spend page's operator costs (a resent submit APIXO may have billed twice): shown
apart from the user charges, in the page's HTML and in the CSV's paid_by column."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import User
from django.http import StreamingHttpResponse
from django.test import Client
from django.urls import reverse

from jobs.models import Job, OperatorCost
from tests.conftest import make_job

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(30)]

TODAY = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


@pytest.fixture
def books(alice: User) -> Job:
    """Two charged images of alice's; one of them was sent twice (2 cents of operator
    cost: today, and in October, outside the page's default 30-day range)."""
    with time_machine.travel(TODAY, tick=False):
        jobs = []
        for _ in range(2):
            assert alice.budget.reserve(1)
            job = make_job(alice, Job.State.SUBMITTING)
            assert job.accept(f"task-{job.pk}")
            jobs.append(job)
        OperatorCost.objects.create(
            job=jobs[0], job_code=jobs[0].code, amount_cents=1, note="Submit 1: lost answer"
        )
    OperatorCost.objects.create(
        job=jobs[0],
        job_code=jobs[0].code,
        amount_cents=1,
        note="Submit 2: lost answer",
        created=TODAY - timedelta(days=40),
    )
    return jobs[0]


def _text(html: str, element_id: str) -> str:
    """The text of the element with this id (tags dropped, spaces squeezed)."""
    match = re.search(
        rf'id="{element_id}"[^>]*>(.*?)</(?:div|span|table)>\s*(?:</div>)?', html, re.S
    )
    assert match, element_id
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split())


def test_the_page_shows_operator_costs_apart_from_user_charges(
    staff_client: Client, books: Job
) -> None:
    with time_machine.travel(TODAY, tick=False):
        html = staff_client.get(reverse("spend")).content.decode()
    # The user paid 2 cents; the operator's possible extra charges are not among them.
    assert _text(html, "range-total") == "$0.02"
    assert _text(html, "range-operator-total") == "$0.01"  # October's is outside the range
    totals = html.split('id="operator-totals"', 1)[1].split("</div>\n  </div>", 1)[0]
    stats = re.findall(r'class="stat">([^<]+)<', totals)
    assert stats == ["$0.01", "$0.01", "$0.02"]  # today, this month, all time
    table = html.split('id="operator-costs"', 1)[1].split("</table>", 1)[0]
    assert "Submit 1: lost answer" in table and "Submit 2" not in table
    assert str(books.code)[:8] in table


def test_the_page_says_when_there_are_no_operator_costs(staff_client: Client, alice: User) -> None:
    html = staff_client.get(reverse("spend")).content.decode()
    assert 'id="operator-costs"' not in html
    assert "No operator costs in this range." in html


def test_the_csv_lists_operator_costs_with_paid_by_operator(
    staff_client: Client, books: Job
) -> None:
    r = staff_client.get(reverse("spend_csv"), {"start": "2026-10-01", "end": "2026-11-30"})
    assert isinstance(r, StreamingHttpResponse)
    rows = list(csv.DictReader(io.StringIO(b"".join(r.streaming_content).decode())))
    paid = [(row["paid_by"], row["amount_cents"], row["user"]) for row in rows]
    assert sorted(paid) == [
        ("operator", "1", ""),
        ("operator", "1", ""),
        ("user", "1", "alice"),
        ("user", "1", "alice"),
    ]
    # The operator's rows name the job, so the books can be matched to APIXO's tasks.
    assert {row["job"] for row in rows if row["paid_by"] == "operator"} == {str(books.code)}
