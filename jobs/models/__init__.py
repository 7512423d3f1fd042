"""The jobs app's models, one module per seam: money (Budget, Charge, AuditEntry,
OperatorCost), job (Batch, Job and the job_finished signal), team (Team, Membership,
Invitation), share (ShareLink) and presets (SubmitDefaults, SubmitPreset). They stay one
app (label `jobs`, one migration history) because Job.accept moves a job, writes its charge
and updates its budget in one transaction.

Everything is importable from here, as before the split: the migrations name
`jobs.models.source_path`, `_token`, `month_start` and the other field defaults.
"""

from __future__ import annotations

from jobs.models.job import (
    Batch,
    Job,
    for_cards,
    job_finished,
    latest_change,
    preview_path,
    result_path,
    source_path,
    thumb_path,
)
from jobs.models.money import AuditEntry, Budget, Charge, OperatorCost, month_start
from jobs.models.presets import SubmitDefaults, SubmitOptions, SubmitPreset
from jobs.models.share import ShareLink, share_expiry
from jobs.models.team import Invitation, Membership, Team, _token, invitation_expiry

__all__ = [
    "AuditEntry",
    "Batch",
    "Budget",
    "Charge",
    "Invitation",
    "Job",
    "Membership",
    "OperatorCost",
    "ShareLink",
    "SubmitDefaults",
    "SubmitOptions",
    "SubmitPreset",
    "Team",
    "_token",
    "for_cards",
    "invitation_expiry",
    "job_finished",
    "latest_change",
    "month_start",
    "preview_path",
    "result_path",
    "share_expiry",
    "source_path",
    "thumb_path",
]
