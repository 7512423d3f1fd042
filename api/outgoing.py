"""Outgoing webhooks: tell a user's own URL when a job they submitted finishes.

Job.move sends the job_finished signal when a job reaches success or failed, and
on_job_finished calls job_finished on commit. If the
submitter has an active WebhookEndpoint, an RQ job POSTs the event there through
lib.fetch.post (global addresses only, no redirects followed), signed Stripe-style:

    Upscaler-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>

Any 2xx answer is a delivery. Anything else (another status, a timeout, a refused
connection) is retried with exponential backoff, WEBHOOK_ATTEMPTS tries in all; each try is
a WebhookDelivery row, and every try of one event carries the same Upscaler-Delivery id.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import time
import uuid
from datetime import timedelta
from functools import partial
from typing import Any

import django_rq
from django.conf import settings
from django.db import transaction

from api.models import WebhookDelivery, WebhookEndpoint
from api.serializers import job_json
from jobs.models import Job, Membership
from lib import fetch

logger = logging.getLogger(__name__)
SIGNATURE_HEADER = "Upscaler-Signature"
EVENTS: dict[str, str] = {Job.State.SUCCESS: "job.succeeded", Job.State.FAILED: "job.failed"}


def _queue() -> Any:
    return django_rq.get_queue("default")


# --- signatures ---------------------------------------------------------------------------


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The Upscaler-Signature header for body sent at timestamp."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
    """Check a signature header as a receiver should: right HMAC, and t within tolerance
    seconds of now (so a captured delivery can't be replayed later)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    if not parts.get("t", "").isdigit() or "v1" not in parts:
        return False
    timestamp = int(parts["t"])
    if abs(time.time() - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).rsplit("v1=", 1)[1]
    return hmac.compare_digest(expected, parts["v1"])


# --- events -------------------------------------------------------------------------------


def on_job_finished(sender: Any, job_id: int, **kwargs: Any) -> None:
    """Receiver of jobs.models.job_finished (sent inside the move's transaction): announce
    the job once it is committed. robust: a failing announcement must not fail the job."""
    transaction.on_commit(partial(job_finished, job_id), robust=True)


def job_finished(job_id: int) -> None:
    """Queue the job's event for its submitter's endpoint, if they have an active one."""
    # One query in the common case (no endpoint): this runs for every finished job.
    endpoint = WebhookEndpoint.objects.filter(user__jobs__pk=job_id, active=True).first()
    if endpoint is None:
        return
    job = Job.objects.select_related("user", "team", "retry_of").get(pk=job_id)
    if job.state not in EVENTS:
        return
    # Someone who has left the team no longer hears about its images.
    if job.team_id and not Membership.objects.filter(team_id=job.team_id, user=job.user).exists():
        return
    enqueue_event(endpoint, EVENTS[job.state], {"job": job_json(job)}, job.pk)


def send_ping(endpoint: WebhookEndpoint) -> None:
    """A test event, sent from the tokens page."""
    enqueue_event(endpoint, "ping", {"message": "Webhooks from Upscaler reach this URL."})


def enqueue_event(
    endpoint: WebhookEndpoint, event: str, data: dict[str, Any], job_id: int | None = None
) -> str:
    """Freeze the event's body (every try sends the same bytes) and queue its first try.
    Return the event's id."""
    event_id = str(uuid.uuid4())
    body = json.dumps(
        {"id": event_id, "type": event, "created": int(time.time()), "data": data},
        separators=(",", ":"),
    )
    _queue().enqueue(deliver, endpoint.pk, event_id, event, job_id, body, 1)
    return event_id


def retry_delay(attempt: int) -> float:
    """Seconds before try attempt + 1: WEBHOOK_BACKOFF_BASE, then four times longer each
    time (1, 4, 16, 64 minutes... by default), capped, with a little jitter."""
    ceiling = min(settings.WEBHOOK_BACKOFF_MAX, settings.WEBHOOK_BACKOFF_BASE * 4 ** (attempt - 1))
    return float(ceiling * random.uniform(0.8, 1.0))


def deliver(
    endpoint_id: int, event_id: str, event: str, job_id: int | None, body: str, attempt: int
) -> bool:
    """RQ job: POST the event once, log the try, and schedule the next one if it failed.

    The endpoint is re-read each try: a changed URL or rotated secret applies to the
    retries; a deleted or paused endpoint ends them. Return True if delivered.
    """
    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id, active=True).first()
    if endpoint is None:
        return False
    payload = body.encode()
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(endpoint.secret, int(time.time()), payload),
        "Upscaler-Event": event,
        "Upscaler-Delivery": event_id,
    }
    started = time.monotonic()
    status, answer, ok, retry = None, "", False, True
    try:
        posted = fetch.post(endpoint.url, payload, headers, timeout=settings.WEBHOOK_TIMEOUT)
    except fetch.FetchError as e:
        problem, retry = e.message, not e.permanent
    else:
        status, answer = posted.status, posted.body
        ok = 200 <= status < 300
        problem = "" if ok else f"The endpoint answered {status}."
    retry = not ok and retry and attempt < settings.WEBHOOK_ATTEMPTS
    if job_id is not None and not Job.objects.filter(pk=job_id).exists():
        job_id = None  # deleted meanwhile; the log row keeps the event
    WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_id=event_id,
        event=event,
        job_id=job_id,
        attempt=attempt,
        url=endpoint.url,
        status_code=status,
        ok=ok,
        error=problem[:500],
        response_body=answer[:1000],
        duration_ms=int((time.monotonic() - started) * 1000),
        will_retry=retry,
    )
    if retry:
        delay = timedelta(seconds=retry_delay(attempt))
        _queue().enqueue_in(delay, deliver, endpoint_id, event_id, event, job_id, body, attempt + 1)
    elif not ok:
        logger.info("Webhook %s to endpoint %s gave up: %s", event_id, endpoint_id, problem)
    return ok
