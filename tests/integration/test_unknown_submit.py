"""A submit whose outcome is unknown, for real: APIXO (the engine) accepted and billed the
task, and the answer never reached the worker, because the worker was killed mid-request
or the answer came too late. The job is sent again with no admin, its user is charged
once, and the books explain the engine's two tasks (tests/integration/books.py).

Real Redis, real RQ workers and cron process, the real engine behind a proxy that loses
the first submit's answer. Each test prints what it measured (`pytest -s`).
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from jobs.models import Budget, Charge, Job, OperatorCost
from tests.conftest import free_port, make_user
from tests.integration.books import assert_books_balance
from tests.integration.support import kill_with_children, seconds_until

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(150),
]
S = Job.State


class LosingProxy:
    """APIXO's API in front of the engine: every request is passed on, but the answer to
    the first submit is held back for `hold` s (then dropped): the engine has the task, the
    caller never learns its taskId."""

    def __init__(self, engine: str, hold: float) -> None:
        self.engine, self.hold = engine, hold
        self.swallowed = threading.Event()  # the first submit reached the engine
        self.release = threading.Event()
        self.submits = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _relay(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                request = urllib.request.Request(
                    proxy.engine + self.path,
                    data=body if self.command == "POST" else None,
                    method=self.command,
                    headers={k: v for k, v in self.headers.items() if k.lower() != "host"},
                )
                try:
                    with urllib.request.urlopen(request, timeout=30) as r:
                        status, payload = r.status, r.read()
                except urllib.error.HTTPError as e:
                    status, payload = e.code, e.read()
                if self.command == "POST" and "generateTask" in self.path:
                    proxy.submits += 1
                    if proxy.submits == 1:
                        proxy.swallowed.set()
                        proxy.release.wait(proxy.hold)
                        self.close_connection = True
                        return  # no answer at all
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _relay

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> LosingProxy:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def lossy(engine: str) -> Iterator[LosingProxy]:
    with LosingProxy(engine, hold=120) as proxy:
        yield proxy


def _submit(user: Any, url: str) -> None:
    client = Client()
    client.force_login(user)
    data = {"urls": url, "resolution": "2k", "output_format": "jpg", "key": str(uuid.uuid4())}
    assert client.post("/jobs/", data).status_code == 302


def _settled_once(user: Any, tmp_path: Path) -> Job:
    [job] = Job.objects.filter(user=user)
    assert job.state == S.SUCCESS, (job.fail_code, job.fail_msg)
    assert Charge.objects.filter(user=user).count() == 1
    budget = Budget.objects.get(user=user)
    assert (budget.spent_cents, budget.reserved_cents) == (1, 0)
    assert OperatorCost.objects.filter(job=job).count() == 1
    books = assert_books_balance(tmp_path / "engine")
    # The engine really has both tasks: the books meet exactly.
    assert (books.accepted, books.user_cents, books.operator_cents) == (2, 1, 1)
    return job


def test_a_worker_killed_mid_submit_is_sent_again_within_60_s_and_charged_once(
    lossy: LosingProxy,
    start_worker: Any,
    start_process: Any,
    engine: str,
    tmp_path: Path,
) -> None:
    env = {"APIXO_BASE_URL": f"{lossy.url}/api/v1", "RECONCILE_INTERVAL": "5"}
    first = start_worker(**env)
    start_process("runcron", **env)
    user = make_user("mira")
    _submit(user, f"{engine}/samples/logo.png")
    assert lossy.swallowed.wait(30), "the submit never reached the engine"
    assert Job.objects.get(user=user).state == S.SUBMITTING
    kill_with_children(first.pid)
    first.wait(10)
    killed_at = time.monotonic()
    start_worker(**env)
    took = seconds_until(
        lambda: OperatorCost.objects.filter(job__user=user).exists(), 60, "the submit resent"
    )
    print(f"\nsubmit of a kill -9'd worker sent again after {took:.1f} s")
    seconds_until(
        lambda: Job.objects.get(user=user).state not in Job.IN_FLIGHT, 40, "the job finished"
    )
    print(f"job finished {time.monotonic() - killed_at:.1f} s after the kill")
    _settled_once(user, tmp_path)


def test_a_submit_answered_too_late_is_sent_again_and_charged_once(
    lossy: LosingProxy, start_worker: Any, start_process: Any, engine: str, tmp_path: Path
) -> None:
    start_worker(APIXO_BASE_URL=f"{lossy.url}/api/v1", APIXO_TIMEOUT="2")
    user = make_user("nils")
    _submit(user, f"{engine}/samples/logo.png")
    took = seconds_until(
        lambda: Job.objects.get(user=user).state not in Job.IN_FLIGHT, 40, "the job finished"
    )
    print(f"\nsubmit timed out after 2 s, sent again; result {took:.1f} s after submit")
    job = _settled_once(user, tmp_path)
    assert "did not answer in time" in OperatorCost.objects.get(job=job).note
