"""Outgoing webhooks: which finishes announce what, signatures, retries and the SSRF guard."""

from __future__ import annotations

import ipaddress
import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
import responses

from api import outgoing
from api.models import WebhookDelivery, WebhookEndpoint
from jobs.models import Job, Membership
from lib import fetch
from tests.conftest import make_job, make_team_job

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(30)]

HOOK = "https://hooks.example.com/upscaler"
EVENT_ID = "0b5c6f1e-0000-4000-8000-000000000000"


class FakeQueue:
    def __init__(self) -> None:
        self.enqueued: list[tuple[Any, tuple[Any, ...]]] = []
        self.scheduled: list[tuple[timedelta, Any, tuple[Any, ...]]] = []

    def enqueue(self, func: Any, *args: Any) -> None:
        self.enqueued.append((func, args))

    def enqueue_in(self, delay: timedelta, func: Any, *args: Any) -> None:
        self.scheduled.append((delay, func, args))


@pytest.fixture
def queue(monkeypatch: pytest.MonkeyPatch) -> FakeQueue:
    q = FakeQueue()
    monkeypatch.setattr(outgoing, "_queue", lambda: q)
    return q


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Host names resolve to a public address unless the test maps them elsewhere."""
    table: dict[str, str] = {}

    def resolve(host: str, port: int) -> list[str]:
        try:
            return [str(ipaddress.ip_address(host.strip("[]")))]
        except ValueError:
            return [table.get(host, "93.184.216.34")]

    monkeypatch.setattr(fetch, "_resolve", resolve)
    return table


@pytest.fixture
def endpoint(alice: Any) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(user=alice, url=HOOK)


def _event(queue: FakeQueue) -> dict[str, Any]:
    ((func, args),) = queue.enqueued
    assert func is outgoing.deliver
    return dict(json.loads(args[4]))


# --- signatures ---------------------------------------------------------------------------


def test_a_signature_verifies() -> None:
    body = b'{"id":"x"}'
    header = outgoing.sign("whsec_abc", int(time.time()), body)
    assert header.startswith("t=") and ",v1=" in header
    assert outgoing.verify("whsec_abc", header, body)


def test_a_signature_is_the_hmac_of_timestamp_dot_body() -> None:
    import hashlib
    import hmac

    expected = hmac.new(b"whsec_abc", b"1700000000.{}", hashlib.sha256).hexdigest()
    assert outgoing.sign("whsec_abc", 1700000000, b"{}") == f"t=1700000000,v1={expected}"


@pytest.mark.parametrize(
    ("secret", "body", "age"),
    [("whsec_other", b"{}", 0), ("whsec_abc", b"{} ", 0), ("whsec_abc", b"{}", 301)],
)
def test_a_wrong_secret_changed_body_or_old_timestamp_fails(
    secret: str, body: bytes, age: int
) -> None:
    header = outgoing.sign("whsec_abc", int(time.time()) - age, b"{}")
    assert not outgoing.verify(secret, header, body)


@pytest.mark.parametrize("header", ["", "t=abc,v1=00", "v1=00", "t=1"])
def test_a_malformed_header_fails(header: str) -> None:
    assert not outgoing.verify("whsec_abc", header, b"{}")


# --- which finishes are announced ---------------------------------------------------------


def test_a_success_is_announced_on_commit(
    alice: Any, endpoint: WebhookEndpoint, queue: FakeQueue, django_capture_on_commit_callbacks: Any
) -> None:
    job = make_job(alice, Job.State.PROCESSING)
    with django_capture_on_commit_callbacks(execute=True):
        assert job.move((Job.State.PROCESSING,), Job.State.SUCCESS)
    event = _event(queue)
    assert event["type"] == "job.succeeded"
    assert event["data"]["job"]["id"] == str(job.code)
    assert event["data"]["job"]["state"] == "success"
    endpoint_id, event_id, name, job_id, _, attempt = queue.enqueued[0][1]
    assert (endpoint_id, event_id, name, job_id, attempt) == (
        endpoint.pk,
        event["id"],
        "job.succeeded",
        job.pk,
        1,
    )


def test_a_failure_is_announced_with_its_code(
    alice: Any, endpoint: WebhookEndpoint, queue: FakeQueue, django_capture_on_commit_callbacks: Any
) -> None:
    assert alice.budget.reserve(1)
    job = make_job(alice)
    with django_capture_on_commit_callbacks(execute=True):
        job.fail((Job.State.QUEUED,), "SourceInvalid", "Not an image.")
    event = _event(queue)
    assert event["type"] == "job.failed"
    assert event["data"]["job"]["fail_code"] == "SourceInvalid"
    assert event["data"]["job"]["fail_message"] == "Not an image."


def test_nothing_is_sent_before_the_commit(
    alice: Any, endpoint: WebhookEndpoint, queue: FakeQueue, django_capture_on_commit_callbacks: Any
) -> None:
    job = make_job(alice, Job.State.PROCESSING)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job.move((Job.State.PROCESSING,), Job.State.SUCCESS)
    assert queue.enqueued == []
    assert [c.func for c in callbacks if c.func is outgoing.job_finished] == [outgoing.job_finished]


@pytest.mark.parametrize("target", [Job.State.CANCELED, Job.State.PROCESSING])
def test_other_moves_are_not_announced(
    alice: Any,
    endpoint: WebhookEndpoint,
    queue: FakeQueue,
    django_capture_on_commit_callbacks: Any,
    target: str,
) -> None:
    job = make_job(alice, Job.State.PENDING if target == Job.State.PROCESSING else "queued")
    with django_capture_on_commit_callbacks(execute=True):
        assert job.move((job.state,), target)
    assert queue.enqueued == []


def test_nothing_is_sent_without_an_active_endpoint(
    alice: Any, charlie: Any, queue: FakeQueue
) -> None:
    WebhookEndpoint.objects.create(user=charlie, url=HOOK)  # someone else's
    job = make_job(alice, Job.State.SUCCESS)
    outgoing.job_finished(job.pk)
    WebhookEndpoint.objects.create(user=alice, url=HOOK, active=False)
    outgoing.job_finished(job.pk)
    assert queue.enqueued == []


def test_it_costs_one_query_without_an_endpoint(
    alice: Any, queue: FakeQueue, django_assert_num_queries: Any
) -> None:
    job = make_job(alice, Job.State.SUCCESS)
    with django_assert_num_queries(1):
        outgoing.job_finished(job.pk)


def test_the_submitter_hears_about_a_team_job(team: Any, bob: Any, queue: FakeQueue) -> None:
    WebhookEndpoint.objects.create(user=bob, url=HOOK)
    job = make_team_job(team, bob, Job.State.FAILED)
    outgoing.job_finished(job.pk)
    assert _event(queue)["data"]["job"]["team"] == str(team.code)


def test_a_former_member_hears_nothing(team: Any, bob: Any, queue: FakeQueue) -> None:
    WebhookEndpoint.objects.create(user=bob, url=HOOK)
    job = make_team_job(team, bob, Job.State.SUCCESS)
    Membership.objects.filter(team=team, user=bob).delete()
    outgoing.job_finished(job.pk)
    assert queue.enqueued == []


def test_a_ping_is_queued(endpoint: WebhookEndpoint, queue: FakeQueue) -> None:
    outgoing.send_ping(endpoint)
    event = _event(queue)
    assert event["type"] == "ping" and event["data"]["message"]


# --- delivering ---------------------------------------------------------------------------


def _deliver(endpoint: WebhookEndpoint, body: str = '{"id":"e"}', attempt: int = 1) -> bool:
    return outgoing.deliver(endpoint.pk, EVENT_ID, "ping", None, body, attempt)


@responses.activate
def test_it_delivers_a_signed_event(
    endpoint: WebhookEndpoint, queue: FakeQueue, dns: dict[str, str]
) -> None:
    responses.post(HOOK, body="thanks", status=200)
    assert _deliver(endpoint, body='{"id":"e","type":"ping"}')
    sent = responses.calls[0].request
    assert sent.body == b'{"id":"e","type":"ping"}'
    assert outgoing.verify(endpoint.secret, sent.headers["Upscaler-Signature"], sent.body)
    assert sent.headers["Upscaler-Event"] == "ping"
    assert sent.headers["Upscaler-Delivery"] == EVENT_ID
    assert sent.headers["Content-Type"] == "application/json"
    (row,) = WebhookDelivery.objects.all()
    assert (row.ok, row.status_code, row.attempt, row.will_retry) == (True, 200, 1, False)
    assert row.response_body == "thanks" and row.url == HOOK
    assert queue.scheduled == []


@responses.activate
def test_a_failed_try_is_retried_with_growing_delays(
    endpoint: WebhookEndpoint, queue: FakeQueue, dns: dict[str, str], settings: Any
) -> None:
    settings.WEBHOOK_BACKOFF_BASE = 60
    responses.post(HOOK, status=500)
    assert not _deliver(endpoint)
    assert not _deliver(endpoint, attempt=3)
    (d1, func, args), (d3, _, args3) = queue.scheduled
    assert func is outgoing.deliver
    assert args[-1] == 2 and args3[-1] == 4  # the next attempt's number
    assert args[1] == args3[1]  # the same event id for every try
    assert 48 <= d1.total_seconds() <= 60
    assert 16 * 48 <= d3.total_seconds() <= 16 * 60
    rows = WebhookDelivery.objects.order_by("attempt")
    assert [(r.status_code, r.ok, r.will_retry) for r in rows] == [(500, False, True)] * 2
    assert rows[0].error == "The endpoint answered 500."


def test_retry_delays_are_capped(settings: Any) -> None:
    settings.WEBHOOK_BACKOFF_BASE, settings.WEBHOOK_BACKOFF_MAX = 60, 3600
    assert outgoing.retry_delay(10) <= 3600


@responses.activate
def test_it_gives_up_after_the_last_attempt(
    endpoint: WebhookEndpoint, queue: FakeQueue, dns: dict[str, str], settings: Any
) -> None:
    settings.WEBHOOK_ATTEMPTS = 3
    responses.post(HOOK, status=404)
    assert not _deliver(endpoint, attempt=3)
    assert queue.scheduled == []
    assert WebhookDelivery.objects.get().will_retry is False


@responses.activate
def test_a_connection_error_is_retried(
    endpoint: WebhookEndpoint, queue: FakeQueue, dns: dict[str, str]
) -> None:
    responses.post(HOOK, body=requests.ConnectionError("refused"))
    assert not _deliver(endpoint)
    row = WebhookDelivery.objects.get()
    assert row.status_code is None and row.error == "Could not connect to hooks.example.com."
    assert len(queue.scheduled) == 1


@responses.activate
def test_a_timeout_is_retried(
    endpoint: WebhookEndpoint, queue: FakeQueue, dns: dict[str, str]
) -> None:
    responses.post(HOOK, body=requests.ReadTimeout("slow"))
    assert not _deliver(endpoint)
    assert WebhookDelivery.objects.get().error == "The request timed out."
    assert len(queue.scheduled) == 1


@responses.activate
def test_a_url_that_now_resolves_privately_is_refused_for_good(
    endpoint: WebhookEndpoint, queue: FakeQueue, dns: dict[str, str]
) -> None:
    dns["hooks.example.com"] = "10.0.0.7"  # DNS changed since the URL was saved
    assert not _deliver(endpoint)
    assert len(responses.calls) == 0
    row = WebhookDelivery.objects.get()
    assert row.error == fetch.PRIVATE_MESSAGE and not row.will_retry
    assert queue.scheduled == []


@responses.activate
def test_redirects_are_not_followed(
    endpoint: WebhookEndpoint, queue: FakeQueue, dns: dict[str, str]
) -> None:
    responses.post(HOOK, status=302, headers={"Location": "http://169.254.169.254/latest"})
    assert not _deliver(endpoint)
    assert len(responses.calls) == 1
    assert WebhookDelivery.objects.get().error == "The endpoint answered 302."


@responses.activate
def test_only_the_start_of_a_long_answer_is_kept(
    endpoint: WebhookEndpoint, queue: FakeQueue, dns: dict[str, str]
) -> None:
    responses.post(HOOK, body="x" * 50_000)
    _deliver(endpoint)
    assert len(WebhookDelivery.objects.get().response_body) == 1000


def test_a_removed_or_paused_endpoint_ends_the_retries(
    endpoint: WebhookEndpoint, queue: FakeQueue
) -> None:
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(active=False)
    assert not _deliver(endpoint)
    endpoint.delete()
    assert not outgoing.deliver(endpoint.pk or 0, EVENT_ID, "ping", None, "{}", 2)
    assert not WebhookDelivery.objects.exists()
    assert queue.scheduled == []


@responses.activate
def test_a_retry_signs_with_the_current_secret(
    endpoint: WebhookEndpoint, queue: FakeQueue, dns: dict[str, str]
) -> None:
    responses.post(HOOK)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(secret="whsec_rotated")
    _deliver(endpoint, attempt=2)
    sent = responses.calls[0].request
    assert isinstance(sent.body, bytes)
    assert outgoing.verify("whsec_rotated", sent.headers["Upscaler-Signature"], sent.body)


@responses.activate
def test_the_log_keeps_a_deleted_jobs_event(
    alice: Any, endpoint: WebhookEndpoint, queue: FakeQueue, dns: dict[str, str]
) -> None:
    responses.post(HOOK)
    job = make_job(alice, Job.State.SUCCESS)
    job_id = job.pk
    job.delete()
    assert outgoing.deliver(endpoint.pk, EVENT_ID, "job.succeeded", job_id, "{}", 1)
    assert WebhookDelivery.objects.get().job_id is None


@responses.activate
def test_the_tokens_page_shows_the_log(
    alice: Any, alice_client: Any, endpoint: WebhookEndpoint, queue: FakeQueue, dns: dict[str, str]
) -> None:
    responses.post(HOOK, status=503)
    job = make_job(alice, Job.State.SUCCESS, source_name="beach.jpg")
    outgoing.deliver(endpoint.pk, EVENT_ID, "job.succeeded", job.pk, "{}", 1)
    page = alice_client.get("/accounts/tokens/").content.decode()
    assert "The endpoint answered 503. Will try again." in page
    assert "beach.jpg" in page


# --- end to end, through a real socket ----------------------------------------------------


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[str, dict[str, str], bytes]] = []

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, dict(self.headers.items()), body))
        status = {"/ok": 204, "/fail": 500}.get(self.path, 404)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def receiver(settings: Any) -> Iterator[str]:
    _Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    address = f"127.0.0.1:{server.server_port}"
    settings.FETCH_ALLOWED_HOSTS = [address]  # a local receiver, allow-listed as in dev
    yield f"http://{address}"
    server.shutdown()
    server.server_close()


def test_a_finished_job_reaches_a_real_receiver(
    alice: Any, receiver: str, queue: FakeQueue, django_capture_on_commit_callbacks: Any
) -> None:
    endpoint = WebhookEndpoint.objects.create(user=alice, url=receiver + "/ok")
    job = make_job(alice, Job.State.PROCESSING)
    with django_capture_on_commit_callbacks(execute=True):
        job.move((Job.State.PROCESSING,), Job.State.SUCCESS)
    ((func, args),) = queue.enqueued
    assert func(*args)  # what the worker would run
    ((path, headers, body),) = _Receiver.received
    assert path == "/ok"
    assert outgoing.verify(endpoint.secret, headers["Upscaler-Signature"], body)
    assert json.loads(body)["data"]["job"]["id"] == str(job.code)
    assert WebhookDelivery.objects.get().status_code == 204


def test_an_unlisted_local_receiver_is_refused(
    alice: Any, receiver: str, queue: FakeQueue, settings: Any
) -> None:
    settings.FETCH_ALLOWED_HOSTS = []
    endpoint = WebhookEndpoint.objects.create(user=alice, url=receiver + "/ok")
    assert not _deliver(endpoint)
    assert _Receiver.received == []
    assert WebhookDelivery.objects.get().error == fetch.PRIVATE_MESSAGE
