"""Two hosts, one site: web and worker processes on two "hosts" share one database, one
Redis and one S3 bucket, and nothing else.

Each host is a process group of its own (gunicorn serving the app, as
`scripts/entrypoint.sh web` runs it, and an RQ worker with its scheduler) with its own
working directory and its own local MEDIA_ROOT (temporary files only): media lives in an S3
bucket served by moto's server mode. The database is this run's test database: on SQLite
both hosts open the same file (fine for a test on one machine, never for two real hosts);
with DATABASE_URL set, a Postgres, as in production.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
import redis
import requests
from django.test import Client
from PIL import Image
from rq import Worker

from devtools import procs
from jobs.models import Budget, Charge, Job
from tests.conftest import free_port, make_user
from tests.integration.conftest import _database_env

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(120),
]
ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
S = Job.State
BUCKET = "upscaler-media"
SCHEDULER_LOCK = "rq:scheduler-lock:default"
# The reconciler, compressed (as in test_recovery.py): the one cron of the deployment.
FAST_RECONCILE = {
    "RECONCILE_INTERVAL": "1",
    "RECONCILE_GRACE": "2",
    "RECONCILE_QUEUED_GRACE": "4",
}


def _wait_for(predicate: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


@pytest.fixture
def s3_endpoint(tmp_path: Path) -> Iterator[str]:
    """moto's S3 server on a free port, with the media bucket made."""
    port = free_port()
    workdir = tmp_path / "moto"
    workdir.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        procs.wait_http(url + "/moto-api/", seconds=30)
        _s3(url).create_bucket(Bucket=BUCKET)
        yield url
    finally:
        procs.stop(proc)


def _s3(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@dataclass
class Host:
    """One "machine": its own directory, its own web and worker processes."""

    name: str
    root: Path
    env: dict[str, str]
    port: int
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, role: str, *command: str, **overrides: str) -> subprocess.Popen[bytes]:
        # cwd is the host's own directory; the code is found through PYTHONPATH (gunicorn)
        # or manage.py's own location, never through a shared working directory.
        proc = subprocess.Popen(
            command,
            cwd=self.root,
            env={**self.env, **overrides},
            start_new_session=True,
            stdout=(self.root / f"{role}.log").open("ab"),
            stderr=subprocess.STDOUT,
        )
        self.procs[role] = proc
        return proc

    def start_web(self) -> None:
        self.start(
            "web",
            sys.executable,
            "-m",
            "gunicorn",
            "--pythonpath",
            str(ROOT),
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            "1",
            "--threads",
            "4",
            "upscaler_site.wsgi:application",
        )
        procs.wait_http(self.url + "/accounts/login/", seconds=40)

    def start_worker(self) -> None:
        manage = str(ROOT / "manage.py")
        self.start(
            "worker",
            sys.executable,
            manage,
            "rqworker",
            "default",
            "--with-scheduler",
            "--name",
            f"{self.name}-{uuid.uuid4().hex[:6]}",
        )

    def stop(self, role: str) -> None:
        """Stop a role as systemd or Docker would: SIGTERM (a worker finishes the RQ job it
        holds, then exits), SIGKILL only after 20 s."""
        proc = self.procs.pop(role)
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def stop_all(self) -> None:
        for proc in self.procs.values():
            procs.stop(proc)
        self.procs.clear()

    def log(self) -> str:
        return "\n".join(
            f"--- {p.name}\n" + p.read_text(errors="replace")[-3000:]
            for p in sorted(self.root.glob("*.log"))
        )

    def local_media(self) -> list[str]:
        """Files this host keeps in its own MEDIA_ROOT (temporary files aside)."""
        media = self.root / "media"
        return [
            str(p.relative_to(media))
            for p in media.rglob("*")
            if p.is_file() and p.relative_to(media).parts[0] != "tmp"
        ]


@pytest.fixture
def two_hosts(tmp_path: Path, redis_url: str, s3_endpoint: str) -> Iterator[tuple[Host, Host, str]]:
    """Hosts A and B (web and worker each) and the engine, which plays APIXO for both.

    Each host's SITE_URL is its own web, so the engine fetches an upload from whichever
    host's worker submitted it, and that web reads it back from the bucket.
    """
    redis.Redis.from_url(redis_url).flushdb()
    ports = {"a": free_port(), "b": free_port()}
    engine_port = free_port()
    engine_url = f"http://127.0.0.1:{engine_port}"
    engine_env = {
        **os.environ,
        "ENGINE_ALLOWED_HOSTS": ",".join(f"127.0.0.1:{p}" for p in ports.values()),
        "ENGINE_CALLBACK_DELAY_FACTOR": "0.05",
        "ENGINE_MODEL": "lanczos",
    }
    engine = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "apixo_engine",
            "--port",
            str(engine_port),
            "--data-dir",
            str(tmp_path / "engine"),
        ],
        cwd=ROOT,
        env=engine_env,
        start_new_session=True,
    )
    hosts = []
    for name, port in ports.items():
        root = tmp_path / f"host-{name}"
        root.mkdir()
        env = {
            **os.environ,  # REDIS_URL and CACHE_URL: this run's Redis (tests/conftest.py)
            **_database_env(),
            "PYTHONPATH": str(ROOT),
            "SITE_URL": f"http://127.0.0.1:{port}",
            "DATA_DIR": str(root / "data"),
            "MEDIA_ROOT": str(root / "media"),
            "MEDIA_S3_BUCKET": BUCKET,
            "MEDIA_S3_PREFIX": "media",
            "AWS_S3_ENDPOINT_URL": s3_endpoint,
            "AWS_S3_REGION_NAME": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "ENGINE_URL": engine_url,
            "APIXO_BASE_URL": f"{engine_url}/api/v1",
            "FETCH_ALLOWED_HOSTS": urlsplit(engine_url).netloc,
            "APIXO_FIRST_POLL": "0.3",
            "APIXO_POLL_INTERVAL": "0.3",
            "APIXO_POLL_INTERVAL_8K": "0.3",
            "APIXO_BACKOFF_BASE": "0.3",
            "APIXO_BACKOFF_MAX": "1",
            **FAST_RECONCILE,
        }
        hosts.append(Host(name, root, env, port))
    a, b = hosts
    try:
        procs.wait_http(engine_url + "/healthz")
        for host in hosts:
            host.start_web()
        yield a, b, engine_url
    finally:
        for host in hosts:
            host.stop_all()
        procs.stop(engine)


def _session(user: Any) -> requests.Session:
    """A browser for this user: the session lives in the shared database and Redis, so it
    is good on either host."""
    client = Client()
    client.force_login(user)
    browser = requests.Session()
    browser.cookies.set("sessionid", client.cookies["sessionid"].value)
    return browser


def _submit(browser: requests.Session, host: Host, files: list[str], links: list[str]) -> None:
    page = browser.get(f"{host.url}/", timeout=20)
    assert page.status_code == 200, page.text[:2000]
    data = {
        "urls": "\n".join(links),
        "resolution": "2k",
        "output_format": "jpg",
        "key": str(uuid.uuid4()),
        "force_new": "on",
        "csrfmiddlewaretoken": browser.cookies["csrftoken"],
    }
    uploads = [("images", (name, (FIXTURES / name).read_bytes(), "image/jpeg")) for name in files]
    r = browser.post(
        f"{host.url}/jobs/", data=data, files=uploads, allow_redirects=False, timeout=60
    )
    assert r.status_code == 302, r.text[:3000]


def _wait_done(user: Any, n: int, seconds: float, *hosts: Host) -> list[Job]:
    jobs = Job.objects.filter(user=user)
    try:
        _wait_for(
            lambda: jobs.count() == n and not jobs.filter(state__in=Job.IN_FLIGHT).exists(),
            seconds,
            f"{n} jobs done",
        )
    except AssertionError as e:
        states = list(jobs.values_list("source_name", "state", "fail_msg"))
        raise AssertionError(f"{e}: {states}\n" + "\n".join(h.log() for h in hosts)) from None
    return list(jobs.order_by("pk"))


def _charged_once_each(user: Any, n: int) -> None:
    assert Charge.objects.filter(user=user).count() == n
    assert Charge.objects.filter(user=user).values("job").distinct().count() == n
    budget = Budget.objects.get(user=user)
    assert (budget.spent_cents, budget.reserved_cents) == (n, 0)


def _worker_names(redis_url: str) -> set[str]:
    return {w.name for w in Worker.all(connection=redis.Redis.from_url(redis_url))}


def test_two_hosts_share_the_work_and_serve_each_others_results(
    two_hosts: tuple[Host, Host, str], redis_url: str, s3_endpoint: str
) -> None:
    a, b, engine = two_hosts
    # The one cron of the deployment (it enqueues the reconciler) lives on host B.
    b.start("cron", sys.executable, str(ROOT / "manage.py"), "rqcron", "jobs.cron")
    # Host A's worker starts first, so its scheduler holds RQ's scheduler lock: stopping
    # it below also stops the process that moves scheduled polls onto the queue.
    queue = redis.Redis.from_url(redis_url)
    a.start_worker()
    _wait_for(lambda: queue.exists(SCHEDULER_LOCK) == 1, 30, "host A's scheduler")
    b.start_worker()
    _wait_for(lambda: len(_worker_names(redis_url)) == 2, 30, "both workers registered")

    # An upload and a link, submitted on host A, done by whichever worker takes each step.
    erin = make_user("erin")
    browser = _session(erin)
    _submit(browser, a, ["chelsea.jpg"], [f"{engine}/samples/landscape.jpg"])
    jobs = _wait_done(erin, 2, 60, a, b)
    assert [j.state for j in jobs] == [S.SUCCESS] * 2, [(j.fail_code, j.fail_msg) for j in jobs]
    _charged_once_each(erin, 2)

    # Host B serves both results and thumbnails, which it can only have from the bucket.
    keys = {o["Key"] for o in _s3(s3_endpoint).list_objects_v2(Bucket=BUCKET).get("Contents", [])}
    for job in jobs:
        files = (job.source_file, job.result_file, job.thumbnail, job.preview)
        assert {f"media/{f.name}" for f in files} <= keys
        r = browser.get(f"{b.url}/jobs/{job.code}/result/?download=1", timeout=20)
        assert r.status_code == 200, r.text[:2000]
        with Image.open(io.BytesIO(r.content)) as result:
            assert (result.format, max(result.size)) == ("JPEG", 2048)
        r = browser.get(f"{b.url}/jobs/{job.code}/thumb/", timeout=20)
        assert r.status_code == 200
        with Image.open(io.BytesIO(r.content)) as thumb:
            assert max(thumb.size) < 2048
        r = browser.get(f"{b.url}/jobs/{job.code}/preview/", timeout=20)
        assert r.status_code == 200  # the job page's compare shows this, not the result
        with Image.open(io.BytesIO(r.content)) as preview:
            assert (preview.format, max(preview.size)) == ("WEBP", 2048)
    assert b.local_media() == [] and a.local_media() == []

    # Jobs in flight at APIXO (submitted, charged, polled), then host A's worker stops.
    fay = make_user("fay")
    browser = _session(fay)
    links = [f"{engine}/samples/landscape.jpg?engine_delay=8&n={n}" for n in range(4)]
    _submit(browser, a, [], links)
    flying = Job.objects.filter(user=fay, state__in=(S.PENDING, S.PROCESSING))
    _wait_for(lambda: flying.count() == 4, 40, "all four tasks accepted")
    workers = {w.name: w for w in Worker.all(connection=redis.Redis.from_url(redis_url))}
    a_name = next(name for name in workers if name.startswith("a-"))
    assert workers[a_name].successful_job_count > 0  # host A did its share so far
    a.stop("worker")
    assert a_name not in _worker_names(redis_url)
    assert Job.objects.filter(user=fay, state__in=Job.IN_FLIGHT).count() == 4

    # Host B's worker takes every step from here. RQ's scheduler lock went with host A, and
    # B's scheduler only bids for it at its next maintenance run (RQ: every 10 minutes), so
    # until then the one cron's reconciler puts the due polls straight on the queue.
    jobs = _wait_done(fay, 4, 60, a, b)
    assert [j.state for j in jobs] == [S.SUCCESS] * 4, [(j.fail_code, j.fail_msg) for j in jobs]
    assert all(j.submit_attempts == 1 for j in jobs)
    _charged_once_each(fay, 4)
    [b_worker] = Worker.all(connection=queue)
    assert b_worker.name.startswith("b-") and b_worker.successful_job_count > 0
    for job in jobs:
        r = browser.get(f"{b.url}/jobs/{job.code}/result/", timeout=20)
        assert r.status_code == 200
    assert b.local_media() == [] and a.local_media() == []
