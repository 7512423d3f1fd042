"""APIXO's callback (webhook) receiver.

APIXO signs nothing, so a callback is only a hint: the URL carries an unguessable per-job
secret, the body's taskId must match, and then the worker confirms the outcome with
statusTask before anything changes. The answer is always a quick 200 (APIXO retries
anything else up to 3 times), also for unknown or stale secrets, so it stops retrying.
"""

from __future__ import annotations

import json
import logging

from django.contrib.auth.decorators import login_not_required
from django.core.cache import cache
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from jobs import tasks
from jobs.models import Job

logger = logging.getLogger(__name__)
S = Job.State
# Deliveries share one confirmation until it runs; the window only bounds a lost one.
CONFIRM_WINDOW = 60


@csrf_exempt
@login_not_required
@require_POST
def apixo_webhook(request: HttpRequest, secret: str) -> JsonResponse:
    ok = JsonResponse({"ok": True})
    job = Job.objects.filter(callback_secret=secret).only("pk", "state", "task_id").first()
    if job is None or job.state not in (S.SUBMITTING, S.PENDING, S.PROCESSING):
        return ok
    try:
        body = json.loads(request.body)
        task_id = body["data"]["taskId"]
    except (ValueError, KeyError, TypeError, RecursionError):
        logger.warning("APIXO callback for job %s: unreadable body %r", job.pk, request.body[:2000])
        return ok
    # While still `submitting`, our own taskId isn't saved yet (APIXO can be that fast):
    # the confirmation then reads the status with the taskId we save, not the body's.
    if job.state != S.SUBMITTING and task_id != job.task_id:
        logger.warning("APIXO callback for job %s names another task: %r", job.pk, task_id)
        return ok
    if cache.add(tasks.confirm_key(job.pk), 1, CONFIRM_WINDOW):
        delay = 2.0 if job.state == S.SUBMITTING else 0.0
        tasks.schedule(tasks.confirm_callback, job.pk, delay)
    return ok
