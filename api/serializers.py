"""What a job looks like to a script: the JSON API's views (api.views) and the outgoing
webhooks (api.outgoing) both send this."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.urls import reverse

from jobs import estimates
from jobs.models import Job


def _time(value: Any) -> str | None:
    return value.isoformat() if value else None


def _waiting(job: Job) -> dict[str, Any] | None:
    """What a queued job waits for, as its card says it; null when nothing in particular."""
    if not job.waiting:
        return None
    counts_down = job.wait_seconds is not None
    return {
        "reason": job.wait_reason,
        "text": job.waiting,
        "next_try_at": _time(job.next_check_at) if counts_down else None,
    }


def job_json(job: Job, table: dict[str, Any] | None = None) -> dict[str, Any]:
    """A job as the API (and the webhooks) show it. Select user, team and retry_of, and
    annotate the ledger (jobs.models.for_cards), or each job costs a query more. `table`
    is jobs.estimates.table() (read once for a list; by default read here, from the cache)."""
    site = settings.SITE_URL
    eta = job.eta(estimates.table() if table is None else table) if job.in_flight else None
    done = job.state == Job.State.SUCCESS and bool(job.result_file)
    return {
        "id": str(job.code),
        "url": site + reverse("api_job", args=[job.code]),
        "web_url": site + job.get_absolute_url(),
        "state": job.state,
        "team": str(job.team.code) if job.team else None,
        "submitted_by": job.user.username if job.user else None,
        "retry_of": str(job.retry_of.code) if job.retry_of else None,
        "resolution": job.resolution,
        "output_format": job.output_format,
        "source": {
            "name": job.source_name,
            "url": job.source_url or None,
            "width": job.source_width,
            "height": job.source_height,
            "bytes": job.source_bytes,
        },
        "result": {
            "url": site + reverse("api_job_result", args=[job.code]),
            "file_name": job.download_name,
            "width": job.result_width,
            "height": job.result_height,
            "bytes": job.result_bytes,
            "made_by": job.made_by,
        }
        if done
        else None,
        "fail_code": job.fail_code or None,
        "fail_message": job.fail_msg or None,
        "advice": job.advice if job.state == Job.State.FAILED else None,
        # From the ledger (charges less refunds): a failed job APIXO accepted was billed too.
        "charged_cents": job.charged_cents,
        "reused": job.reused_from_id is not None,
        "waiting": _waiting(job),
        "eta": _time(eta),
        "created": _time(job.created),
        "submitted_at": _time(job.submitted_at),
        "finished_at": _time(job.finished_at),
    }
