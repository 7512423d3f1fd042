"""The Django admin stays useful: every ledger and team model lists, filters and opens."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db.models import Model
from django.test import Client

from jobs.models import AuditEntry, Budget, Charge, Invitation, Job, ShareLink, Team
from spend import services as spend
from tests.conftest import make_team_job

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(30)]


@pytest.fixture
def admin_client_(team: Team, bob: User) -> Client:
    root = User.objects.create_superuser("root", "root@example.org", "pw")
    assert team.budget.reserve(1)
    job = make_team_job(team, bob, Job.State.SUBMITTING)
    assert job.accept("task-1")
    spend.refund(Charge.objects.get(job=job), root, "test")
    Invitation.objects.create(team=team, email="new@example.org")
    ShareLink.objects.create(job=job)
    client = Client()
    client.force_login(root)
    return client


@pytest.mark.parametrize(
    "path",
    [
        "/admin/jobs/team/",
        "/admin/jobs/membership/?role__exact=member",
        "/admin/jobs/invitation/?accepted_at__isempty=1",
        "/admin/jobs/sharelink/",
        "/admin/jobs/auditentry/",
        "/admin/jobs/charge/?kind__exact=refund",
        "/admin/jobs/job/?team__id__exact=1",
        "/admin/jobs/budget/?period__exact=monthly",
    ],
)
def test_it_lists_and_filters_in_the_admin(admin_client_: Client, path: str) -> None:
    assert admin_client_.get(path).status_code == 200


@pytest.mark.parametrize("model", [Team, Invitation, Budget])
def test_it_opens_an_object_in_the_admin(admin_client_: Client, model: type[Model]) -> None:
    obj = model._default_manager.first()
    assert obj is not None
    name = model._meta.model_name
    assert admin_client_.get(f"/admin/jobs/{name}/{obj.pk}/change/").status_code == 200


def test_it_audit_logs_a_quota_changed_in_the_admin(admin_client_: Client, alice: User) -> None:
    budget = Budget.objects.get(user=alice)
    r = admin_client_.post(
        f"/admin/jobs/budget/{budget.pk}/change/",
        {"user": alice.pk, "limit_cents": "700", "period": "lifetime", "unit": "usd"},
    )
    assert r.status_code == 302
    entry = AuditEntry.objects.get(action="quota")
    assert entry.detail == "Quota $1.00 -> $7.00 (Django admin)"
