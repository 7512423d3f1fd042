"""Query counts that must not grow: the gallery page with many jobs, and the idle poll.

bench/gallery_page.py and bench/idle_poll.py time the same pages; these tests keep their
query counts from regressing.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from jobs import access, views
from jobs.models import Batch, Job, Team
from tests.conftest import add_member, make_team, next_poll

pytestmark = pytest.mark.django_db


def _seed(user: User, n: int, team: Team | None = None, others: tuple[User, ...] = ()) -> None:
    """n jobs in one batch: mostly finished with files, some failed, the newest 3 in flight;
    in a team, submitted in turn by user and others (each card names its submitter)."""
    now = timezone.now()
    batch = Batch.objects.create(code=uuid.uuid4(), user=user)
    submitters = [user, *others]
    jobs = []
    for i in range(n):
        state = (
            Job.State.PROCESSING
            if i >= n - 3
            else Job.State.FAILED
            if i % 10 == 0
            else Job.State.SUCCESS
        )
        done = state == Job.State.SUCCESS
        created = now - timedelta(minutes=n - i)
        jobs.append(
            Job(
                user=submitters[i % len(submitters)],
                team=team,
                budget=team.budget if team else user.budget,
                batch=batch,
                source_url=f"https://images.example.com/{i}.jpg",
                source_name=f"photo-{i}.jpg",
                state=state,
                fail_code="SensitiveContent" if state == Job.State.FAILED else "",
                result_file=f"results/r{i}.jpg" if done else "",
                thumbnail=f"thumbs/t{i}.webp" if done else "",
                result_width=4096 if done else None,
                result_height=2731 if done else None,
                result_bytes=3_000_000 if done else None,
                created=created,
                updated=created + timedelta(seconds=20),
            )
        )
    Job.objects.bulk_create(jobs, batch_size=500)


def _queries(client: Client, path: str = "/") -> int:
    client.get(path)  # first request of a session may set things up; count the next one
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200
    return len(captured.captured_queries)


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_gallery_queries_do_not_grow_with_job_count(
    alice: User, bob: User, django_assert_num_queries: Any
) -> None:
    _seed(bob, 10)
    with_ten = _queries(_client(bob))
    _seed(alice, 1000)
    client = _client(alice)
    client.get("/")
    with django_assert_num_queries(with_ten):
        response = client.get("/")
    assert response.content.count(b'class="card state-') == views.PAGE_SIZE
    with django_assert_num_queries(with_ten):
        client.get("/?page=20")


def test_gallery_queries_do_not_grow_with_page_size(
    alice: User, django_assert_max_num_queries: Any
) -> None:
    _seed(alice, 1000)
    client = _client(alice)
    usual = _queries(client)
    with mock.patch.object(views, "PAGE_SIZE", 200):
        client.get("/")
        with django_assert_max_num_queries(usual):
            response = client.get("/")
    assert response.content.count(b'class="card state-') == 200


def test_team_gallery_does_not_query_per_card(
    alice: User, bob: User, charlie: User, django_assert_num_queries: Any
) -> None:
    """Team cards say who submitted each: that must come with the page's one job query."""
    small = make_team(charlie, "Small")
    _seed(charlie, 10, team=small)
    charlie_client = _client(charlie)
    session = charlie_client.session
    session[access.SESSION_KEY] = str(small.code)
    session.save()
    with_ten = _queries(charlie_client)

    team = make_team(alice)
    add_member(team, bob)
    _seed(alice, 1000, team=team, others=(bob,))
    client = _client(bob)
    session = client.session
    session[access.SESSION_KEY] = str(team.code)
    session.save()
    client.get("/")
    with django_assert_num_queries(with_ten):
        response = client.get("/")
    assert b"by alice" in response.content and b"by bob" in response.content
    with mock.patch.object(views, "PAGE_SIZE", 200), django_assert_num_queries(with_ten):
        client.get("/")


def test_idle_poll_makes_no_query_with_a_cached_session(
    alice: User, django_assert_num_queries: Any
) -> None:
    """Nothing changed: 204 with no body and no query. The session comes from the cache
    (SESSION_ENGINE cached_db, a Redis cache in tests), and so does the gallery's change
    counter (jobs/versions.py)."""
    _seed(alice, 30)
    client = _client(alice)
    path = next_poll(client.get("/"))
    with django_assert_num_queries(0):
        response = client.get(path)
    assert response.status_code == 204
    assert response.content == b""


def test_team_idle_poll_makes_no_query(
    alice: User, bob: User, django_assert_num_queries: Any
) -> None:
    team = make_team(alice)
    add_member(team, bob)
    _seed(alice, 30, team=team, others=(bob,))
    client = _client(bob)
    client.post(reverse("switch_context"), {"team": team.code})
    path = next_poll(client.get("/"))
    assert f"team={team.code}" in path
    with django_assert_num_queries(0):
        response = client.get(path)
    assert response.status_code == 204
