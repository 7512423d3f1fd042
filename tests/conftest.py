"""The test cast and the real services every run starts for itself.

The run starts its own redis-server on a free port in a temp dir (never 6379) and stops it
after. A missing redis-server fails the run: it never silently skips.
"""

from __future__ import annotations

import html
import io
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import django_rq
import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client, override_settings
from PIL import Image

from devtools import procs
from devtools.procs import free_port as free_port  # re-exported: the tests import it from here
from jobs import throttle
from jobs.models import Batch, Budget, Job, Membership, Team


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not procs.redis_server():
        pytest.fail(
            "redis-server is not installed (apt-get install redis-server); `make test` installs it."
        )
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(procs.redis_command(port, workdir), stdout=subprocess.DEVNULL)
    if not procs.wait_redis(port, seconds=5):
        proc.kill()
        pytest.fail("redis-server did not start")
    yield f"redis://127.0.0.1:{port}/0"
    procs.stop(proc)


@pytest.fixture(autouse=True, scope="session")
def _use_test_redis(redis_url: str) -> Iterator[None]:
    # The cache gets a Redis database of its own, so clearing it between tests leaves the
    # queues alone.
    cache_url = redis_url.rsplit("/", 1)[0] + "/1"
    override = override_settings(
        RQ_QUEUES={"default": {"URL": redis_url, "DEFAULT_TIMEOUT": 120}},
        CACHES={
            "default": {
                "BACKEND": "jobs.cache.TolerantRedisCache",
                "LOCATION": cache_url,
                "KEY_PREFIX": "upscaler",  # as the worker processes see it
            }
        },
    )
    override.enable()
    # WhiteNoise warns about a missing STATIC_ROOT (a fresh clone has none) on every request.
    Path(django_settings.STATIC_ROOT).mkdir(exist_ok=True)
    os.environ["REDIS_URL"] = redis_url
    os.environ["CACHE_URL"] = cache_url
    yield
    override.disable()


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    """No pause, breaker, rate-limit count or submit slot leaks from one test to the next."""
    cache.clear()
    django_rq.get_connection("default").delete(throttle.SLOTS_KEY)


@pytest.fixture(autouse=True)
def _media_and_speed(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def public_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every host name resolves to a public address, IP literals to themselves: URL
    checks run as on the internet, with no network (lib.fetch pins what it resolved)."""
    import ipaddress

    from lib import fetch

    def resolve(host: str, port: int) -> list[str]:
        try:
            return [str(ipaddress.ip_address(host.strip("[]")))]
        except ValueError:
            return ["93.184.216.34"]

    monkeypatch.setattr(fetch, "_resolve", resolve)


# --- the cast -----------------------------------------------------------------------------


def make_user(name: str, quota: int | None = 100) -> User:
    user = User.objects.create_user(name, f"{name}@example.org", "password")
    Budget.objects.create(user=user, limit_cents=quota)
    return user


@pytest.fixture
def alice(db: None) -> User:
    return make_user("alice")


@pytest.fixture
def bob(db: None) -> User:
    return make_user("bob")


@pytest.fixture
def charlie(db: None) -> User:
    return make_user("charlie")


def next_poll(response: Any) -> str:
    """The URL the live poller of a page (or of a poll's answer) requests next, as a browser
    reads it from the #poller element's hx-get."""
    found = re.search(r'id="poller"[^>]*?hx-get="([^"]*)"', response.content.decode())
    assert found, "no #poller in the response"
    return html.unescape(found.group(1))


def cards(response: Any) -> set[str]:
    """The codes of the job cards in a page or poll response."""
    return set(re.findall(r'<article id="job-([0-9a-f-]+)"', response.content.decode()))


@pytest.fixture
def alice_client(alice: User) -> Client:
    client = Client()
    client.force_login(alice)
    return client


def make_job(user: User, state: str = Job.State.QUEUED, **fields: Any) -> Job:
    import uuid

    batch = Batch.objects.create(code=uuid.uuid4(), user=user)
    fields.setdefault("source_url", "https://images.example.com/photo.jpg")
    fields.setdefault("source_name", "photo.jpg")
    fields.setdefault("resolution", "2k")
    return Job.objects.create(user=user, budget=user.budget, batch=batch, state=state, **fields)


@pytest.fixture
def staff_client(db: None) -> Client:
    """A logged-in staff member's client (staff pages: spend review, /dev/emails/)."""
    root = make_user("root")
    root.is_staff = True
    root.save()
    client = Client()
    client.force_login(root)
    return client


@pytest.fixture
def job(alice: User) -> Job:
    """A queued job of Alice's with its $0.01 reserved, as a submit leaves it."""
    assert alice.budget.reserve(1)
    return make_job(alice)


def image_bytes(fmt: str = "JPEG", size: tuple[int, int] = (64, 48), mode: str = "RGB") -> bytes:
    img = Image.new(mode, size, (200, 120, 40) if mode == "RGB" else (200, 120, 40, 128))
    out = io.BytesIO()
    img.save(out, fmt)
    return out.getvalue()


# --- teams: Alice owns "Acme", Bob is a member, Charlie stays outside ---------------------


def make_team(owner: User, name: str = "Acme", quota: int | None = 100) -> Team:
    from teams.services import create_team

    team = create_team(owner, name)
    Budget.objects.filter(pk=team.budget_id).update(limit_cents=quota, cap_cents=quota)
    team.budget.refresh_from_db()
    return team


def add_member(team: Team, user: User, role: str = Membership.Role.MEMBER) -> Membership:
    return Membership.objects.create(team=team, user=user, role=role)


def make_team_job(team: Team, user: User, state: str = Job.State.QUEUED, **fields: Any) -> Job:
    import uuid

    batch = Batch.objects.create(code=uuid.uuid4(), user=user)
    fields.setdefault("source_url", "https://images.example.com/team.jpg")
    fields.setdefault("source_name", "team.jpg")
    fields.setdefault("resolution", "2k")
    return Job.objects.create(
        user=user, team=team, budget=team.budget, batch=batch, state=state, **fields
    )


def with_files(job: Job) -> Job:
    """Give a job stored source, result and thumbnail files, as a finished job has."""
    from django.core.files.base import ContentFile

    job.source_file.save("s.jpg", ContentFile(image_bytes()), save=False)
    job.result_file.save("r.jpg", ContentFile(image_bytes(size=(128, 96))), save=False)
    job.thumbnail.save("t.webp", ContentFile(image_bytes("WEBP")), save=False)
    job.save()
    return job


@pytest.fixture
def team(alice: User, bob: User) -> Team:
    team = make_team(alice)
    add_member(team, bob)
    return team


@pytest.fixture
def team_job(team: Team, bob: User) -> Job:
    """A finished image Bob submitted to the team, with its files."""
    return with_files(make_team_job(team, bob, Job.State.SUCCESS, result_width=128))
