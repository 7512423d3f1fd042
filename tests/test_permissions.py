"""Who may do what: every team, job, file, share and spend view against every role.

The cast: Alice owns the team, Dora is its admin, Bob a member, Vic a viewer, Charlie an
outsider, and the anonymous visitor. The job is Bob's, in the team.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import URLResolver, get_resolver, reverse
from django.utils import timezone

from jobs import tasks
from jobs.models import Invitation, Job, Membership, ShareLink, Team
from lib import fetch
from tests.conftest import (
    add_member,
    cards,
    image_bytes,
    make_job,
    make_team,
    make_team_job,
    make_user,
    with_files,
)

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(30)]

ROLES = ["owner", "admin", "member", "viewer", "outsider", "anonymous"]


@dataclass
class World:
    team: Team
    users: dict[str, User]
    job: Job  # Bob's finished team job, with files
    queued: Job
    failed: Job
    invitation: Invitation
    target: Membership  # a member that owners/admins act on
    link: ShareLink


@pytest.fixture
def world(alice: User, bob: User, charlie: User, monkeypatch: pytest.MonkeyPatch) -> World:
    team = make_team(alice)
    dora, vic, tom = make_user("dora"), make_user("vic"), make_user("tom")
    add_member(team, dora, Membership.Role.ADMIN)
    add_member(team, bob, Membership.Role.MEMBER)
    add_member(team, vic, Membership.Role.VIEWER)
    target = add_member(team, tom, Membership.Role.MEMBER)
    job = with_files(make_team_job(team, bob, Job.State.SUCCESS))
    job.preview.save("p.webp", ContentFile(image_bytes("WEBP")))
    job.source_preview.save("s.webp", ContentFile(image_bytes("WEBP")))
    assert team.budget.reserve(1)
    queued = make_team_job(team, bob)
    failed = make_team_job(team, bob, Job.State.FAILED, fail_code="Timeout")
    invitation = Invitation.objects.create(team=team, email="new@example.org", invited_by=alice)
    link = ShareLink.objects.create(job=job, created_by=bob)
    # No network and no Redis queue in these tests.
    monkeypatch.setattr(fetch, "_resolve", lambda host, port: ["93.184.216.34"])
    monkeypatch.setattr(tasks, "_queue", lambda: _NullQueue())
    users = {"owner": alice, "admin": dora, "member": bob, "viewer": vic, "outsider": charlie}
    return World(team, users, job, queued, failed, invitation, target, link)


class _NullQueue:
    def enqueue(self, *args: Any) -> None:
        pass


def _submit_payload(w: World) -> dict[str, Any]:
    return {
        "urls": "https://images.example.com/a.jpg",
        "resolution": "2k",
        "output_format": "jpg",
        "key": str(uuid.uuid4()),
        "team": str(w.team.code),
    }


# (name, method, url(world), data(world) or None): one row per view.
VIEWS: dict[str, tuple[str, Any, Any]] = {
    "team_detail": ("get", lambda w: reverse("team_detail", args=[w.team.code]), None),
    "team_invite": (
        "post",
        lambda w: reverse("team_invite", args=[w.team.code]),
        lambda w: {"email": "someone@example.org", "role": "member"},
    ),
    "invitation_revoke": (
        "post",
        lambda w: reverse("invitation_revoke", args=[w.team.code, w.invitation.code]),
        None,
    ),
    "member_role": (
        "post",
        lambda w: reverse("member_role", args=[w.team.code, w.target.code]),
        lambda w: {"role": "viewer"},
    ),
    "member_remove": (
        "post",
        lambda w: reverse("member_remove", args=[w.team.code, w.target.code]),
        None,
    ),
    "team_budget": (
        "post",
        lambda w: reverse("team_budget", args=[w.team.code]),
        lambda w: {"period": "monthly", "unit": "usd", "amount": "0.50"},
    ),
    "team_leave": ("post", lambda w: reverse("team_leave", args=[w.team.code]), None),
    "switch_context": (
        "post",
        lambda w: reverse("switch_context"),
        lambda w: {"team": w.team.code},
    ),
    "gallery_poll": (
        "get",
        lambda w: reverse("gallery_poll") + f"?since=0&oldest=0&team={w.team.code}",
        None,
    ),
    "submit": ("post", lambda w: reverse("submit"), _submit_payload),
    "job_detail": ("get", lambda w: w.job.get_absolute_url(), None),
    "job_cancel": ("post", lambda w: reverse("job_cancel", args=[w.queued.code]), None),
    "job_retry": ("post", lambda w: reverse("job_retry", args=[w.failed.code]), None),
    "job_result": ("get", lambda w: reverse("job_result", args=[w.job.code]), None),
    "job_thumb": ("get", lambda w: reverse("job_thumb", args=[w.job.code]), None),
    "job_preview": ("get", lambda w: reverse("job_preview", args=[w.job.code]), None),
    "job_source": ("get", lambda w: reverse("job_source", args=[w.job.code]), None),
    "job_source_preview": (
        "get",
        lambda w: reverse("job_source_preview", args=[w.job.code]),
        None,
    ),
    "job_note": (
        "post",
        lambda w: reverse("job_note", args=[w.job.code]),
        lambda w: {"note": "cover"},
    ),
    "share_create": (
        "post",
        lambda w: reverse("share_create", args=[w.job.code]),
        lambda w: {"days": "7"},
    ),
    "share_revoke": ("post", lambda w: reverse("share_revoke", args=[w.link.token]), None),
    "share_page": ("get", lambda w: reverse("share_page", args=[w.link.token]), None),
    "share_result": ("get", lambda w: reverse("share_result", args=[w.link.token]), None),
    "share_preview": ("get", lambda w: reverse("share_preview", args=[w.link.token]), None),
    "share_source": ("get", lambda w: reverse("share_source", args=[w.link.token]), None),
    "share_source_preview": (
        "get",
        lambda w: reverse("share_source_preview", args=[w.link.token]),
        None,
    ),
    "invitation": ("get", lambda w: reverse("invitation", args=[w.invitation.token]), None),
    "spend": ("get", lambda w: reverse("spend"), None),
    "spend_csv": ("get", lambda w: reverse("spend_csv"), None),
    "spend_refund": (
        "post",
        lambda w: reverse("spend_refund"),
        lambda w: {"job": w.job.code, "reason": "x"},
    ),
    "spend_quota": (
        "post",
        lambda w: reverse("spend_quota"),
        lambda w: {"user": "bob", "amount": "9"},
    ),
}

LOGIN = "login"  # a redirect to the login page
#            owner  admin  member viewer outsider anonymous
READ = [200, 200, 200, 200, 404, LOGIN]
MANAGE = [302, 302, 403, 403, 404, LOGIN]
WRITE = [302, 302, 302, 403, 404, LOGIN]
PUBLIC = [200, 200, 200, 200, 200, 200]
STAFF_ONLY = [404, 404, 404, 404, 404, LOGIN]

EXPECTED: dict[str, list[Any]] = {
    "team_detail": READ,
    "team_invite": MANAGE,
    "invitation_revoke": MANAGE,
    "member_role": MANAGE,
    "member_remove": MANAGE,
    "team_budget": MANAGE,
    # Alice, the only owner, is refused with a message (and redirected back) like the rest.
    "team_leave": [302, 302, 302, 302, 404, LOGIN],
    "switch_context": [302, 302, 302, 302, 404, LOGIN],
    "gallery_poll": READ,
    "submit": WRITE,
    "job_detail": READ,
    "job_cancel": WRITE,
    "job_retry": WRITE,
    "job_result": READ,
    "job_thumb": READ,
    "job_preview": READ,
    "job_source": READ,
    "job_source_preview": READ,
    "job_note": WRITE,
    "share_create": WRITE,
    "share_revoke": WRITE,
    "share_page": PUBLIC,
    "share_result": PUBLIC,
    "share_preview": PUBLIC,
    "share_source": PUBLIC,
    "share_source_preview": PUBLIC,
    "invitation": PUBLIC,
    "spend": STAFF_ONLY,
    "spend_csv": STAFF_ONLY,
    "spend_refund": STAFF_ONLY,
    "spend_quota": STAFF_ONLY,
}

CASES = [(view, role, EXPECTED[view][n]) for view in VIEWS for n, role in enumerate(ROLES)]


# Named URLs whose access is not about a team, job, share or spend object, each with where
# it is tested: every other URL must have a row above, so a new view can't be missed.
ELSEWHERE = {
    "gallery": "the user's own gallery, or the team one switch_context picks (jobs/test_gallery)",
    "team_list": "lists only the user's own teams (teams/test_teams)",
    "batch_zip": "acts on access.visible_jobs only (jobs/test_batches)",
    "batch_retry_failed": "acts on access.visible_jobs(writable=True) only (jobs/test_batches)",
    "selection": "acts on access.visible_jobs only (jobs/test_batches)",
    "source_signed": "public, behind a signed token (jobs/test_source_signed)",
    "apixo_webhook": "public, behind a per-job secret (jobs/test_webhooks)",
    "healthz": "public (jobs/test_health)",
    "dev_emails": "DEBUG and staff only (test_dev)",
    "account": "the logged-in user's own account (accounts/test_accounts)",
    "signup": "public (accounts/test_accounts)",
    "verify_email": "public, behind a signed token (accounts/test_accounts)",
    "verify_resend": "public (accounts/test_accounts)",
    "login": "public (accounts/test_auth_pages)",
    "logout": "the session's own (accounts/test_auth_pages)",
    "password_change": "the logged-in user's own (accounts/test_auth_pages)",
    "password_change_done": "the logged-in user's own (accounts/test_auth_pages)",
    "password_reset": "public (accounts/test_auth_pages)",
    "password_reset_done": "public (accounts/test_auth_pages)",
    "password_reset_confirm": "public, behind Django's reset token (accounts/test_auth_pages)",
    "password_reset_complete": "public (accounts/test_auth_pages)",
    "api_jobs": "API token auth, the token's user's jobs (api/test_api)",
    "api_job": "API token auth, 404 for others' jobs (api/test_api)",
    "api_job_result": "API token auth, 404 for others' jobs (api/test_api)",
    "api_openapi": "public documentation (api/test_openapi)",
    "api_webhook": "the logged-in user's own endpoint (api/test_outgoing)",
    "api_tokens": "the logged-in user's own tokens (api/test_tokens)",
    "preset_save": "the logged-in user's own presets (jobs/test_submit_form)",
    "preset_delete": "the logged-in user's own presets, 404 for others' (jobs/test_submit_form)",
    "api_token_revoke": "the logged-in user's own tokens, 404 for others' (api/test_tokens)",
}


def _url_names(resolver: URLResolver, namespace: str = "") -> set[str]:
    names: set[str] = set()
    for p in resolver.url_patterns:
        if isinstance(p, URLResolver):
            if p.namespace != "admin":  # Django's admin: staff only, its own checks
                names |= _url_names(p, f"{p.namespace}:" if p.namespace else namespace)
        elif p.name:  # a URLPattern
            names.add(namespace + p.name)
    return names


def test_it_has_an_expectation_for_every_view() -> None:
    assert set(EXPECTED) == set(VIEWS)
    routed = _url_names(get_resolver())
    assert not set(VIEWS) & set(ELSEWHERE)
    assert routed - set(VIEWS) - set(ELSEWHERE) == set(), "a view without a row in the matrix"
    assert set(VIEWS) | set(ELSEWHERE) <= routed, "a row for a URL that no longer exists"


@pytest.mark.parametrize(("view", "role", "expected"), CASES)
def test_it_enforces_the_permission_matrix(
    world: World, view: str, role: str, expected: Any
) -> None:
    client = Client()
    if role != "anonymous":
        client.force_login(world.users[role])
    method, url, data = VIEWS[view]
    kwargs = {"data": data(world)} if data else {}
    r = getattr(client, method)(url(world), **kwargs)
    if expected == LOGIN:
        assert r.status_code == 302 and r["Location"].startswith("/accounts/login/"), r
    else:
        assert r.status_code == expected, (view, role, r.status_code)


SYNTAX = ("{#", "#}", "{%", "%}", "{{", "}}")


@pytest.mark.parametrize(
    ("view", "role"),
    [(v, r) for v, r, e in CASES if e == 200 and VIEWS[v][0] == "get" and r != "anonymous"],
)
def test_no_page_shows_template_syntax(world: World, view: str, role: str) -> None:
    """Every page a user can open renders whole: no comment or tag leaks as text (a {# #}
    comment spanning lines is printed by Django's template engine)."""
    client = Client()
    client.force_login(world.users[role])
    _, url, data = VIEWS[view]
    r = client.get(url(world), **({"data": data(world)} if data else {}))
    if not r.get("Content-Type", "").startswith("text/html"):
        return
    body = r.content.decode()
    assert not [s for s in SYNTAX if s in body], (view, role)


@pytest.mark.parametrize("view", ["spend", "spend_csv"])
def test_it_shows_the_spend_views_to_staff(world: World, view: str) -> None:
    staff = make_user("root")
    staff.is_staff = True
    staff.save()
    client = Client()
    client.force_login(staff)
    assert client.get(VIEWS[view][1](world)).status_code == 200


def test_it_denies_a_viewer_the_writes_without_changing_anything(world: World) -> None:
    client = Client()
    client.force_login(world.users["viewer"])
    client.post(reverse("job_cancel", args=[world.queued.code]))
    client.post(reverse("team_budget", args=[world.team.code]), {"amount": "0"})
    world.queued.refresh_from_db()
    world.team.budget.refresh_from_db()
    assert world.queued.state == Job.State.QUEUED
    assert world.team.budget.limit_cents == 100


# --- IDOR: codes from one team or user used through another's URLs ------------------------


@pytest.fixture
def other_team(charlie: User) -> Team:
    """Charlie owns a team of his own, so he can reach the team URLs with a valid team."""
    return make_team(charlie, "Charlie's")


def test_it_refuses_to_revoke_another_teams_invitation(
    world: World, other_team: Team, charlie: User
) -> None:
    client = Client()
    client.force_login(charlie)
    url = reverse("invitation_revoke", args=[other_team.code, world.invitation.code])
    assert client.post(url).status_code == 404
    assert Invitation.objects.filter(pk=world.invitation.pk).exists()


@pytest.mark.parametrize("action", ["member_role", "member_remove"])
def test_it_refuses_to_touch_another_teams_members(
    world: World, other_team: Team, charlie: User, action: str
) -> None:
    client = Client()
    client.force_login(charlie)
    url = reverse(action, args=[other_team.code, world.target.code])
    assert client.post(url, {"role": "owner"}).status_code == 404
    world.target.refresh_from_db()
    assert world.target.role == Membership.Role.MEMBER


def test_it_answers_404_for_a_made_up_team(world: World) -> None:
    client = Client()
    client.force_login(world.users["owner"])
    assert client.get(reverse("team_detail", args=[uuid.uuid4()])).status_code == 404
    assert client.get(f"/gallery/poll/?since=0&team={uuid.uuid4()}").status_code == 404
    assert client.get("/gallery/poll/?since=0&team=not-a-uuid").status_code == 404


def test_it_keeps_team_jobs_out_of_a_personal_poll(world: World, charlie: User) -> None:
    client = Client()
    client.force_login(charlie)
    assert cards(client.get(f"/gallery/poll/?since=0&job={world.job.code}")) == set()


@pytest.mark.parametrize("kind", ["result", "thumb", "source"])
def test_it_hides_another_users_personal_files(alice: User, bob: User, kind: str) -> None:
    """A teammate still can't open someone's personal images."""
    team = make_team(alice)
    add_member(team, bob)
    job = with_files(make_job(alice, Job.State.SUCCESS))
    client = Client()
    client.force_login(bob)
    assert client.get(reverse(f"job_{kind}", args=[job.code])).status_code == 404


def test_it_ignores_a_team_in_the_session_the_user_left(world: World, charlie: User) -> None:
    """A session that names a team the user isn't in falls back to Personal."""
    client = Client()
    client.force_login(charlie)
    session = client.session
    session["team"] = str(world.team.code)
    session.save()
    body = client.get("/").content.decode()
    assert "team.jpg" not in body
    assert "Your images" in body


@pytest.mark.parametrize("state", ["expired", "revoked"])
def test_it_stops_a_share_link_that_expired_or_was_revoked(world: World, state: str) -> None:
    if state == "expired":
        ShareLink.objects.filter(pk=world.link.pk).update(expires=timezone.now() - timedelta(1))
    else:
        ShareLink.objects.filter(pk=world.link.pk).update(revoked_at=timezone.now())
    client = Client()
    assert client.get(reverse("share_page", args=[world.link.token])).status_code == 404
    assert client.get(reverse("share_result", args=[world.link.token])).status_code == 404


def test_it_answers_404_for_a_made_up_share_token(client: Client, world: World) -> None:
    assert client.get(reverse("share_page", args=["x" * 43])).status_code == 404
