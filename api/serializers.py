"""What a job looks like to a script: the JSON API's views (api.views) and the outgoing
webhooks (api.outgoing) both send this."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.urls import reverse

from jobs.models import Job


def _time(value: Any) -> str | None:
    return value.isoformat() if value else None


def job_json(job: Job) -> dict[str, Any]:
    """A job as the API (and the webhooks) show it. Select user, team and retry_of, and
    annotate the ledger (jobs.models.for_cards), or each job costs a query more."""
    site = settings.SITE_URL
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
        "created": _time(job.created),
        "submitted_at": _time(job.submitted_at),
        "finished_at": _time(job.finished_at),
    }
