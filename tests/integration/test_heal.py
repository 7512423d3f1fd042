"""Faults that heal by themselves within 60 s: a flushed Redis, a killed worker, a Redis
outage. Real Redis, a real RQ worker and cron process, the real engine.

Each test prints the recovery time it measured (`pytest -s`); docs/performance.md has
the table.
"""

from __future__ import annotations

import html
import os
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis
from django.test import Client

from jobs.models import Budget, Charge, Job
from jobs.tasks import QUEUE_DOWN
from tests.conftest import free_port, make_user
from tests.integration.books import assert_books_balance
from tests.integration.conftest import ROOT
from tests.integration.support import kill_with_children, seconds_until

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(150),
]
S = Job.State
FAST_RECONCILE = {
    "RECONCILE_INTERVAL": "1",
    "RECONCILE_GRACE": "2",
    "RECONCILE_QUEUED_GRACE": "4",
}


def _healthz() -> tuple[int, dict[str, Any]]:
    r = Client().get("/healthz")
    return r.status_code, r.json()


def _green() -> bool:
    status, body = _healthz()
    return status == 200 and body["reconciler"] == "ok"


def _submit(user: Any, url: str, **form: str) -> Any:
    client = Client()
    client.force_login(user)
    data = {"urls": url, "resolution": "2k", "output_format": "jpg", "key": str(uuid.uuid4())}
    return client.post("/jobs/", {**data, **form})


def _wait_done(user: Any, seconds: float) -> list[Job]:
    seconds_until(
        lambda: all(j.state not in Job.IN_FLIGHT for j in Job.objects.filter(user=user)),
        seconds,
        "every job finished",
    )
    return list(Job.objects.filter(user=user))


def _charged_once_each(user: Any, n: int) -> None:
    assert Charge.objects.filter(user=user).count() == n
    assert Charge.objects.filter(user=user).values("job").distinct().count() == n
    budget = Budget.objects.get(user=user)
    assert (budget.spent_cents, budget.reserved_cents) == (n, 0)
    assert_books_balance()  # the engine billed what the ledger says


def test_healthz_is_green_within_60_s_of_a_flushall_while_the_worker_works(
    start_worker: Any, start_process: Any, engine: str, redis_url: str
) -> None:
    start_worker(**FAST_RECONCILE)
    start_process("runcron", **FAST_RECONCILE)
    seconds_until(_green, 30, "/healthz green at start")
    redis.Redis.from_url(redis_url).flushall()
    assert _healthz()[0] == 503  # until the next heartbeats
    took = seconds_until(_green, 60, "/healthz green again after FLUSHALL")
    print(f"\n/healthz green again {took:.1f} s after FLUSHALL")
    user = make_user("flora")
    assert _submit(user, f"{engine}/samples/logo.png").status_code == 302
    [job] = _wait_done(user, 40)
    assert job.state == S.SUCCESS, (job.fail_code, job.fail_msg)
    _charged_once_each(user, 1)


def test_a_worker_killed_with_sigkill_is_reported_dead_within_60_s(
    start_worker: Any, start_process: Any
) -> None:
    worker = start_worker()
    start_process("runcron")
    seconds_until(_green, 30, "/healthz green at start")
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(10)
    took = seconds_until(
        lambda: _healthz()[1]["checks"]["worker"] == "no worker with a recent heartbeat",
        60,
        "the dead worker reported",
    )
    print(f"\nkill -9'd worker reported dead after {took:.1f} s")
    assert _healthz()[0] == 503
    assert _healthz()[1]["reconciler"] == "ok"


class RedisServer:
    """A redis-server of this test's own, without persistence, to stop and start again."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        server = shutil.which("redis-server")
        assert server, "redis-server is not installed"
        self.proc = subprocess.Popen(
            [server, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.workdir)]
            + ["--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        seconds_until(self.answers, 10, "redis-server up")

    def answers(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=1).ping())
        except redis.ConnectionError:
            return False

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def own_redis(tmp_path: Path, settings: Any) -> Iterator[RedisServer]:
    """A Redis this process, its live server and the processes it starts all use."""
    server = RedisServer(tmp_path)
    server.start()
    settings.RQ_QUEUES = {"default": {"URL": server.url, "DEFAULT_TIMEOUT": 120}}
    settings.CACHES = {
        "default": {
            "BACKEND": "jobs.cache.TolerantRedisCache",
            "LOCATION": server.url.rsplit("/", 1)[0] + "/1",
            "KEY_PREFIX": "upscaler",
        }
    }
    yield server
    server.kill()


class SlowSource:
    """Serves a sample image after a pause, so the worker is busy downloading it when the
    test pulls Redis away (RQ's work loop quits on a Redis error in a busy worker)."""

    def __init__(self, pause: float) -> None:
        body = (ROOT / "apixo_engine" / "samples" / "logo.png").read_bytes()
        self.requested = threading.Event()
        requested = self.requested

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                requested.set()
                time.sleep(pause)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.netloc = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def slow_source() -> Iterator[SlowSource]:
    source = SlowSource(pause=4)
    yield source
    source.server.shutdown()


@pytest.fixture
def engine_extra_hosts(slow_source: SlowSource) -> list[str]:
    return [slow_source.netloc]


def test_worker_and_cron_wait_out_a_redis_outage_and_submits_are_refused_meanwhile(
    own_redis: RedisServer,
    slow_source: SlowSource,
    start_process: Any,
    engine: str,
    app_settings: dict[str, str],
    settings: Any,
) -> None:
    settings.FETCH_ALLOWED_HOSTS = [*settings.FETCH_ALLOWED_HOSTS, slow_source.netloc]
    env = {
        **FAST_RECONCILE,
        "REDIS_URL": own_redis.url,
        "CACHE_URL": own_redis.url.rsplit("/", 1)[0] + "/1",
        "FETCH_ALLOWED_HOSTS": f"{app_settings['FETCH_ALLOWED_HOSTS']},{slow_source.netloc}",
    }
    worker = start_process("rqworker", "default", "--with-scheduler", **env)
    cron = start_process("runcron", **env)
    seconds_until(_green, 30, "/healthz green at start")
    user = make_user("otto")
    # In flight while Redis goes: its scheduled polls are lost with it.
    assert _submit(user, f"{engine}/samples/landscape.jpg?engine_delay=8").status_code == 302
    seconds_until(
        lambda: Job.objects.filter(user=user, state__in=(S.PENDING, S.PROCESSING)).exists(),
        30,
        "the task accepted",
    )
    # And one the worker is downloading at that moment.
    assert _submit(user, f"http://{slow_source.netloc}/logo.png").status_code == 302
    assert slow_source.requested.wait(20)
    own_redis.kill()
    down_at = time.monotonic()

    # The web: pages work, a submit says it can't be taken, and leaves nothing behind.
    client = Client()
    client.force_login(user)
    assert client.get("/").status_code == 200
    r = _submit(user, f"{engine}/samples/logo.png")
    assert r.status_code == 503
    assert QUEUE_DOWN in html.unescape(r.content.decode())
    assert Job.objects.filter(user=user).count() == 2
    assert Budget.objects.get(user=user).reserved_cents + Charge.objects.count() == 2
    status, body = _healthz()
    assert status == 503
    assert body["checks"]["redis"] == "error: ConnectionError"

    # RQ's worker and cron used to exit within 20 s of this.
    time.sleep(max(0.0, 25 - (time.monotonic() - down_at)))
    assert worker.poll() is None, "the worker exited during the outage"
    assert cron.poll() is None, "the cron process exited during the outage"

    own_redis.start()  # empty: no persistence
    took = seconds_until(_green, 60, "/healthz green after Redis came back")
    print(f"\n/healthz green again {took:.1f} s after Redis came back (down ~25 s)")
    # The reconciler starts and polls again what Redis lost.
    jobs = _wait_done(user, 60)
    assert [j.state for j in jobs] == [S.SUCCESS] * 2, [(j.fail_code, j.fail_msg) for j in jobs]
    assert _submit(user, f"{engine}/samples/logo.png", force_new="on").status_code == 302
    jobs = _wait_done(user, 40)
    assert [j.state for j in jobs] == [S.SUCCESS] * 3
    _charged_once_each(user, 3)
    assert worker.poll() is None and cron.poll() is None


def test_a_job_whose_worker_died_downloading_its_link_goes_on_within_60_s(
    slow_source: SlowSource,
    start_worker: Any,
    start_process: Any,
    app_settings: dict[str, str],
    settings: Any,
) -> None:
    settings.FETCH_ALLOWED_HOSTS = [*settings.FETCH_ALLOWED_HOSTS, slow_source.netloc]
    # The default graces (a queued job: 600 s); the reconciler runs every 5 s.
    env = {
        "RECONCILE_INTERVAL": "5",
        "FETCH_ALLOWED_HOSTS": f"{app_settings['FETCH_ALLOWED_HOSTS']},{slow_source.netloc}",
    }
    first = start_worker(**env)
    start_process("runcron", **env)
    user = make_user("dora")
    assert _submit(user, f"http://{slow_source.netloc}/logo.png").status_code == 302
    assert slow_source.requested.wait(30)
    kill_with_children(first.pid)  # RQ's work horse runs in a session of its own
    first.wait(10)
    killed_at = time.monotonic()
    slow_source.requested.clear()
    start_worker(**env)
    assert slow_source.requested.wait(60), "nothing downloaded the link again"
    took = time.monotonic() - killed_at
    print(f"\njob of a kill -9'd worker taken up again after {took:.1f} s")
    assert took < 60
    [job] = _wait_done(user, 40)
    assert job.state == S.SUCCESS, (job.fail_code, job.fail_msg)
    _charged_once_each(user, 1)
