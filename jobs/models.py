from __future__ import annotations

import ipaddress
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, models, transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone


def _random_name(folder: str, filename: str) -> str:
    """Store every file under a random name: a guessable path must never lead to a file."""
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
    return f"{folder}/{secrets.token_urlsafe(18)}.{ext[:5]}"


def source_path(instance: Job, filename: str) -> str:
    return _random_name("sources", filename)


def result_path(instance: Job, filename: str) -> str:
    return _random_name("results", filename)


def thumb_path(instance: Job, filename: str) -> str:
    return _random_name("thumbs", filename)


def site_is_public() -> bool:
    """Is SITE_URL a public https address that APIXO could reach (for sources, callbacks)?"""
    parts = urlsplit(settings.SITE_URL)
    host = parts.hostname or ""
    if parts.scheme != "https" or host == "localhost" or host.endswith((".local", ".internal")):
        return False
    try:
        return ipaddress.ip_address(host).is_global
    except ValueError:
        return "." in host  # a host name; we can't resolve it the way APIXO would


def cents(amount: int) -> str:
    """Format integer cents as dollars: 103 -> "$1.03"."""
    sign = "-" if amount < 0 else ""
    return f"{sign}${abs(amount) // 100}.{abs(amount) % 100:02d}"


class Budget(models.Model):
    """Money that jobs draw on: a user's personal quota (and, later, a team's budget).

    `spent_cents` mirrors the sum of the budget's charges, `reserved_cents` the jobs that are
    queued or being submitted. Both only ever change through conditional UPDATEs with F()
    expressions, so concurrent submits can never take a budget past its limit.
    """

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, models.CASCADE, null=True, blank=True, related_name="budget"
    )
    limit_cents = models.PositiveIntegerField(
        null=True, blank=True, help_text="Quota in cents; empty means unlimited."
    )
    spent_cents = models.IntegerField(default=0, editable=False)
    reserved_cents = models.IntegerField(default=0, editable=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(reserved_cents__gte=0), name="budget_reserved_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"Budget of {self.user}" if self.user else f"Budget {self.code}"

    @classmethod
    def for_user(cls, user: Any) -> Budget:
        budget, _ = cls.objects.get_or_create(
            user=user, defaults={"limit_cents": settings.DEFAULT_QUOTA_CENTS}
        )
        return budget

    @property
    def left_cents(self) -> int | None:
        if self.limit_cents is None:
            return None
        return max(0, self.limit_cents - self.spent_cents - self.reserved_cents)

    def reserve(self, amount: int) -> bool:
        """Reserve amount cents if the limit allows it. Return True if reserved.

        One conditional UPDATE: of two concurrent reservations for the last cent, the
        database lets exactly one match the WHERE clause.
        """
        q = Budget.objects.filter(pk=self.pk)
        q = q.filter(
            Q(limit_cents__isnull=True)
            | Q(limit_cents__gte=F("spent_cents") + F("reserved_cents") + amount)
        )
        return q.update(reserved_cents=F("reserved_cents") + amount) == 1

    def release(self, amount: int) -> None:
        Budget.objects.filter(pk=self.pk).update(reserved_cents=F("reserved_cents") - amount)


class Batch(models.Model):
    """The jobs of one form post. Its code is the form's idempotency key: a second post of
    the same form (double click, browser retry) hits the unique constraint, not APIXO."""

    code = models.UUIDField(unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, models.CASCADE, related_name="batches")
    created = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Batch {self.code}"


class Job(models.Model):
    """One source image = one APIXO task."""

    class State(models.TextChoices):
        QUEUED = "queued"
        SUBMITTING = "submitting"
        PENDING = "pending"
        PROCESSING = "processing"
        SUCCESS = "success"
        FAILED = "failed"
        CANCELED = "canceled"
        NEEDS_ATTENTION = "needs_attention", "needs attention"

    class Resolution(models.TextChoices):
        R2K = "2k", "2k (2048 px)"
        R4K = "4k", "4k (4096 px)"
        R8K = "8k", "8k (8192 px)"

    class Format(models.TextChoices):
        JPG = "jpg", "JPG"
        PNG = "png", "PNG"
        WEBP = "webp", "WebP"

    IN_FLIGHT = (State.QUEUED, State.SUBMITTING, State.PENDING, State.PROCESSING)
    RESERVED = (State.QUEUED, State.SUBMITTING)
    LONG_EDGE = {"2k": 2048, "4k": 4096, "8k": 8192}

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, models.CASCADE, related_name="jobs")
    budget = models.ForeignKey(Budget, models.PROTECT, related_name="jobs")
    batch = models.ForeignKey("Batch", models.CASCADE, related_name="jobs")
    retry_of = models.ForeignKey(
        "self", models.SET_NULL, null=True, blank=True, related_name="retries"
    )

    source_url = models.URLField(max_length=2048, blank=True)
    source_file = models.FileField(upload_to=source_path, blank=True)
    source_name = models.CharField(max_length=255)
    source_width = models.PositiveIntegerField(null=True, blank=True)
    source_height = models.PositiveIntegerField(null=True, blank=True)
    source_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    resolution = models.CharField(max_length=2, choices=Resolution, default=Resolution.R4K)
    output_format = models.CharField(max_length=4, choices=Format, default=Format.JPG)

    state = models.CharField(max_length=20, choices=State, default=State.QUEUED)
    task_id = models.CharField(max_length=200, blank=True, db_index=True)
    callback_secret = models.CharField(max_length=64, default=secrets.token_urlsafe, editable=False)
    fail_code = models.CharField(max_length=100, blank=True)
    fail_msg = models.TextField(blank=True)

    result_file = models.FileField(upload_to=result_path, blank=True)
    thumbnail = models.FileField(upload_to=thumb_path, blank=True)
    result_width = models.PositiveIntegerField(null=True, blank=True)
    result_height = models.PositiveIntegerField(null=True, blank=True)
    result_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    apixo_create_time = models.BigIntegerField(null=True, blank=True)
    apixo_complete_time = models.BigIntegerField(null=True, blank=True)
    apixo_cost_time = models.BigIntegerField(null=True, blank=True)

    created = models.DateTimeField(default=timezone.now)
    # The gallery's change stamp: every state move sets it, and one indexed query on it
    # answers "did anything change since my last poll?".
    updated = models.DateTimeField(default=timezone.now)
    submitted_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    submit_attempts = models.PositiveIntegerField(default=0)
    poll_count = models.PositiveIntegerField(default=0)
    # When the next piece of work for this job is due. The reconciler re-enqueues in-flight
    # jobs whose work is overdue, so Redis can lose every queued job and nothing is lost.
    next_check_at = models.DateTimeField(null=True, blank=True)
    via_callback = models.BooleanField(
        default=False, help_text="Submitted in callback mode: APIXO posts the outcome to us."
    )

    class Meta:
        indexes = [
            models.Index(fields=["user", "-created"], name="job_user_created"),
            models.Index(fields=["user", "updated"], name="job_user_updated"),
            models.Index(fields=["state", "updated"], name="job_state_updated"),
            models.Index(fields=["state", "next_check_at"], name="job_state_next_check"),
        ]

    def __str__(self) -> str:
        return f"{self.source_name} ({self.resolution} {self.output_format})"

    def get_absolute_url(self) -> str:
        return reverse("job_detail", args=[self.code])

    # --- derived values for pages -------------------------------------------------------

    @property
    def in_flight(self) -> bool:
        return self.state in self.IN_FLIGHT

    @property
    def cancelable(self) -> bool:
        return self.state == self.State.QUEUED

    @property
    def retryable(self) -> bool:
        return self.state in (self.State.FAILED, self.State.CANCELED)

    @property
    def long_edge(self) -> int:
        return self.LONG_EDGE[self.resolution]

    @property
    def download_name(self) -> str:
        stem = self.source_name.rsplit(".", 1)[0] or "image"
        return f"{stem}_{self.resolution}.{self.output_format}"

    @property
    def elapsed_seconds(self) -> int:
        end = self.finished_at or timezone.now()
        return max(0, int((end - self.created).total_seconds()))

    @property
    def advice(self) -> str:
        from jobs.advice import advice_for

        return advice_for(self.fail_code)

    # --- state moves: one-way, by conditional UPDATE ------------------------------------

    def move(self, sources: tuple[str, ...] | list[str], target: str, **fields: Any) -> bool:
        """Move to target if the job is in one of sources. Return True if this call moved it.

        The UPDATE's WHERE clause is the compare-and-swap: of two workers (or a worker and a
        webhook) racing to move the same job, exactly one sees 1 row updated.
        """
        now = timezone.now()
        fields.setdefault("updated", now)
        if target in (self.State.SUCCESS, self.State.FAILED, self.State.CANCELED):
            fields.setdefault("finished_at", now)
        updated = Job.objects.filter(pk=self.pk, state__in=sources).update(state=target, **fields)
        if updated:
            self.state = target
            for name, value in fields.items():
                setattr(self, name, value)
        return updated == 1

    def fail(self, sources: tuple[str, ...], code: str, message: str) -> bool:
        """Move to failed with a code and message; release the reservation if one was held."""
        with transaction.atomic():
            moved = self.move(sources, self.State.FAILED, fail_code=code, fail_msg=message[:2000])
            if moved and set(sources) <= set(self.RESERVED):
                self.budget.release(settings.PRICE_CENTS)
        return moved

    def cancel(self) -> bool:
        """Cancel a job still queued, releasing its reservation. Return True if canceled."""
        with transaction.atomic():
            moved = self.move((self.State.QUEUED,), self.State.CANCELED)
            if moved:
                self.budget.release(settings.PRICE_CENTS)
        return moved

    def retry(self) -> Job:
        """Queue a new job for the same source, linked to this one: a new task, a new charge.

        Raise QuotaExceeded if the budget cannot cover it.
        """
        from jobs.tasks import enqueue_start

        with transaction.atomic():
            if not self.budget.reserve(settings.PRICE_CENTS):
                self.budget.refresh_from_db()
                raise QuotaExceeded(settings.PRICE_CENTS, self.budget.left_cents)
            batch = Batch.objects.create(code=uuid.uuid4(), user=self.user)
            new = Job.objects.create(
                user=self.user,
                budget=self.budget,
                batch=batch,
                retry_of=self,
                source_url=self.source_url,
                # A URL source is fetched afresh: the link may have been fixed since.
                source_file=self.source_file if not self.source_url else "",
                source_name=self.source_name,
                source_width=self.source_width,
                source_height=self.source_height,
                source_bytes=self.source_bytes,
                resolution=self.resolution,
                output_format=self.output_format,
                next_check_at=timezone.now(),
            )
            transaction.on_commit(partial(enqueue_start, new.pk))
        return new

    def accept(self, task_id: str, via_callback: bool = False) -> bool:
        """Record APIXO's taskId and charge the job once. Return True if this call did it.

        The move submitting -> pending, the ledger row (unique per job) and the budget's
        spent/reserved counters change in one transaction: all or nothing.
        """
        with transaction.atomic():
            moved = self.move(
                (self.State.SUBMITTING,),
                self.State.PENDING,
                task_id=task_id,
                submitted_at=timezone.now(),
                via_callback=via_callback,
            )
            if not moved:
                return False
            Charge.objects.create(
                job=self,
                job_code=self.code,
                budget=self.budget,
                user=self.user,
                amount_cents=settings.PRICE_CENTS,
            )
            Budget.objects.filter(pk=self.budget_id).update(
                spent_cents=F("spent_cents") + settings.PRICE_CENTS,
                reserved_cents=F("reserved_cents") - settings.PRICE_CENTS,
            )
        return True


class Charge(models.Model):
    """The append-only ledger: one row per job APIXO accepted; refunds are negative rows."""

    class Kind(models.TextChoices):
        CHARGE = "charge"
        REFUND = "refund"

    job = models.ForeignKey(Job, models.SET_NULL, null=True, blank=True, related_name="charges")
    # Kept so the ledger still names the job after the job itself is deleted.
    job_code = models.UUIDField(null=True, blank=True)
    budget = models.ForeignKey(Budget, models.PROTECT, related_name="charges")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(max_length=10, choices=Kind, default=Kind.CHARGE)
    amount_cents = models.IntegerField()
    note = models.CharField(max_length=500, blank=True)
    created = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["job"], condition=Q(kind="charge"), name="one_charge_per_job"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {cents(self.amount_cents)} ({self.created:%Y-%m-%d})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ValueError("The ledger is append-only: add a refund instead of editing.")
        super().save(*args, **kwargs)


def latest_change(jobs: models.QuerySet[Job]) -> datetime | None:
    return jobs.aggregate(m=models.Max("updated"))["m"]


@dataclass
class Source:
    """One checked source of a batch: a URL, or an uploaded file with what we read of it."""

    name: str
    url: str = ""
    upload: UploadedFile | None = None
    width: int | None = None
    height: int | None = None
    size: int | None = None
    ext: str = ""


class QuotaExceeded(Exception):
    def __init__(self, needed: int, left: int | None) -> None:
        super().__init__(f"needs {needed}, {left} left")
        self.needed = needed
        self.left = left


def submit_batch(
    user: Any, budget: Budget, key: uuid.UUID, sources: list[Source], resolution: str, fmt: str
) -> tuple[Batch, bool]:
    """Create one queued job per source, reserving their cost first. Return (batch, created).

    All or nothing: if the budget cannot cover the whole batch, QuotaExceeded is raised and
    nothing is kept. A repeated key returns the first post's batch with created=False.
    """
    from jobs.tasks import enqueue_start

    with transaction.atomic():
        try:
            with transaction.atomic():
                batch = Batch.objects.create(code=key, user=user)
        except IntegrityError:
            return Batch.objects.get(code=key, user=user), False
        needed = settings.PRICE_CENTS * len(sources)
        if not budget.reserve(needed):
            budget.refresh_from_db()
            raise QuotaExceeded(needed, budget.left_cents)
        for source in sources:
            job = Job(
                user=user,
                budget=budget,
                batch=batch,
                source_url=source.url,
                source_name=source.name[:255],
                source_width=source.width,
                source_height=source.height,
                source_bytes=source.size,
                resolution=resolution,
                output_format=fmt,
                next_check_at=timezone.now(),
            )
            if source.upload is not None:
                source.upload.seek(0)
                job.source_file.save(f"x.{source.ext}", source.upload, save=False)
            job.save()
            transaction.on_commit(partial(enqueue_start, job.pk))
    return batch, True
