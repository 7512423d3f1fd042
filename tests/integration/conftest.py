"""Real processes for end-to-end tests: the embedded engine and an RQ worker with its
scheduler, next to the test run's own Redis and pytest-django's live server."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis
from django.db import connection

from devtools import procs
from devtools.procs import free_port
from jobs.models import Job

ROOT = Path(__file__).resolve().parents[2]


def _database_env() -> dict[str, str]:
    """Point a child process at the database this test run uses (the test database)."""
    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return {"SQLITE_PATH": str(s["NAME"])}
    return {
        "DATABASE_URL": f"postgres://{s['USER']}:{s['PASSWORD']}@{s['HOST']}:{s['PORT']}/{s['NAME']}"
    }


@pytest.fixture
def engine_extra_hosts() -> list[str]:
    """host:port pairs the engine may fetch from besides the live server (a test's own)."""
    return []


@pytest.fixture
def engine(tmp_path: Path, live_server: Any, engine_extra_hosts: list[str]) -> Iterator[str]:
    """The embedded engine on a free port. It may fetch uploads from the live server."""
    port = free_port()
    env = dict(os.environ)
    env["ENGINE_ALLOWED_HOSTS"] = ",".join([urlsplit(live_server.url).netloc, *engine_extra_hosts])
    env["ENGINE_CALLBACK_DELAY_FACTOR"] = "0.05"
    # Lanczos keeps the suite fast; a task asks for a real model with ?engine_model=.
    env.setdefault("ENGINE_MODEL", "lanczos")
    proc = subprocess.Popen(procs.engine_command(port, tmp_path / "engine"), cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        procs.wait_http(url + "/healthz")
        yield url
    finally:
        procs.stop(proc)


@pytest.fixture
def app_settings(settings: Any, engine: str, live_server: Any) -> dict[str, str]:
    """Settings shared by this process and the worker, as environment variables."""
    values = {
        "SITE_URL": live_server.url,
        "ENGINE_URL": engine,
        "APIXO_BASE_URL": f"{engine}/api/v1",
        "FETCH_ALLOWED_HOSTS": urlsplit(engine).netloc,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "APIXO_FIRST_POLL": "0.3",
        "APIXO_POLL_INTERVAL": "0.3",
        "APIXO_POLL_INTERVAL_8K": "0.3",
        "APIXO_BACKOFF_BASE": "0.3",
        "APIXO_BACKOFF_MAX": "1",
    }
    settings.SITE_URL = live_server.url
    settings.APIXO_BASE_URL = values["APIXO_BASE_URL"]
    settings.FETCH_ALLOWED_HOSTS = [values["FETCH_ALLOWED_HOSTS"]]
    return values


@pytest.fixture
def start_process(
    app_settings: dict[str, str], redis_url: str
) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start `manage.py <command>` with the shared settings (plus overrides) as a process
    group of its own, so a test can SIGKILL it whole; every one is stopped at the end."""
    started: list[subprocess.Popen[bytes]] = []

    def start(*command: str, **overrides: str) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            **app_settings,
            **_database_env(),
            "REDIS_URL": redis_url,
            **overrides,
        }
        proc = subprocess.Popen(
            [procs.PY, "manage.py", *command], cwd=ROOT, env=env, start_new_session=True
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        procs.stop(proc)


@pytest.fixture
def start_worker(
    start_process: Callable[..., subprocess.Popen[bytes]], redis_url: str
) -> Callable[..., subprocess.Popen[bytes]]:
    """Start a real `rqworker --with-scheduler` (overrides are env settings); Redis starts empty."""
    redis.Redis.from_url(redis_url).flushdb()

    def start(**overrides: str) -> subprocess.Popen[bytes]:
        return start_process(*procs.worker_command()[2:], **overrides)

    return start


@pytest.fixture
def worker(start_worker: Callable[..., subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    return start_worker()


@pytest.fixture
def wait_until_done() -> Callable[..., list[Job]]:
    def wait(jobs: Any, seconds: float = 40) -> list[Job]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            current = list(jobs.all())
            if current and all(j.state not in Job.IN_FLIGHT for j in current):
                return current
            time.sleep(0.2)
        states = [(j.source_name, j.state) for j in jobs.all()]
        raise AssertionError(f"jobs still in flight after {seconds} s: {states}")

    return wait
