"""Jobs and their batches: one source image = one APIXO task, and the form post that made
it; the job's state machine (`move`, `accept`, `cancel`, `fail`)."""

from __future__ import annotations

import logging
import secrets
import uuid
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.db.models import Exists, F, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.dispatch import Signal
from django.urls import reverse
from django.utils import timezone

from jobs import versions
from jobs.advice import advice_for
from jobs.models.money import Budget, Charge, OperatorCost
from lib.images import source_needs_preview
from lib.money import cents

# Named for the package, not this module: the logging settings, jobs.dev and the docs
# know the state-move lines as the "jobs.models" logger.
logger = logging.getLogger("jobs.models")

# Sent by Job.move, inside its transaction, when a job reaches success or failed (and for a
# reused copy, finished at once: jobs.submit). Receivers that reach outside (the submitter's
# webhook: api) act on commit. A signal, so that jobs needn't import the apps above it.
job_finished = Signal()


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


def preview_path(instance: Job, filename: str) -> str:
    return _random_name("previews", filename)


UNKNOWN_TOO_OFTEN = (
    "APIXO took this image several times without answering, so we stopped sending it. "
    "An admin will check; you won't be charged more than once."
)


class Batch(models.Model):
    """The jobs of one form post. Its code is the form's idempotency key: a second post of
    the same form (double click, browser retry) hits the unique constraint, not APIXO."""

    code = models.UUIDField(unique=True)
    # SET_NULL: a team's batches outlive the account that submitted them.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="batches"
    )
    created = models.DateTimeField(default=timezone.now)
    # Email the submitter when the batch finishes, if it was long (jobs.notifications).
    notify = models.BooleanField(default=False)
    notified_at = models.DateTimeField(null=True, blank=True)

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

    class Wait(models.TextChoices):
        """What a queued job is waiting for before its next try (its card says so, live)."""

        NONE = "", "nothing"
        BUSY = "busy", "APIXO is busy (429)"
        ERROR = "error", "APIXO answered with an error (5xx)"
        UNREACHABLE = "unreachable", "APIXO could not be reached"
        SOURCE = "source", "the source link did not answer"
        PAUSED = "paused", "submissions paused (circuit breaker)"
        SLOT = "slot", "a free submission slot"

    IN_FLIGHT = (State.QUEUED, State.SUBMITTING, State.PENDING, State.PROCESSING)
    RESERVED = (State.QUEUED, State.SUBMITTING)
    LONG_EDGE = {"2k": 2048, "4k": 4096, "8k": 8192}

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # The submitter. Deleting an account deletes its personal jobs first (accounts.services);
    # SET_NULL keeps its team jobs with the team.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="jobs"
    )
    # Empty for a personal job; a team job belongs to the team and is charged to its budget.
    team = models.ForeignKey("Team", models.CASCADE, null=True, blank=True, related_name="jobs")
    budget = models.ForeignKey(Budget, models.PROTECT, related_name="jobs")
    batch = models.ForeignKey("Batch", models.CASCADE, related_name="jobs")
    retry_of = models.ForeignKey(
        "self", models.SET_NULL, null=True, blank=True, related_name="retries"
    )
    # The other way: the one job that retried this one. Set by a conditional UPDATE
    # (jobs.submit.retry), so two Retry clicks can't make (and pay for) two new jobs.
    retried_as = models.OneToOneField(
        "self", models.SET_NULL, null=True, blank=True, related_name="+"
    )

    source_url = models.URLField(max_length=2048, blank=True)
    source_file = models.FileField(upload_to=source_path, blank=True)
    source_name = models.CharField(max_length=255)
    source_width = models.PositiveIntegerField(null=True, blank=True)
    source_height = models.PositiveIntegerField(null=True, blank=True)
    source_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    # The source at a long edge of 2048 px (WebP) for the compare's before side, made by the
    # worker when the source is larger or heavier than that (lib.images.source_needs_preview);
    # empty for a source the page shows as is, and for jobs from before source previews.
    source_preview = models.FileField(upload_to=preview_path, blank=True)
    resolution = models.CharField(max_length=2, choices=Resolution, default=Resolution.R4K)
    output_format = models.CharField(max_length=4, choices=Format, default=Format.JPG)

    state = models.CharField(max_length=20, choices=State, default=State.QUEUED)
    task_id = models.CharField(max_length=200, blank=True, db_index=True)
    callback_secret = models.CharField(max_length=64, default=secrets.token_urlsafe, editable=False)
    fail_code = models.CharField(max_length=100, blank=True)
    fail_msg = models.TextField(blank=True)

    result_file = models.FileField(upload_to=result_path, blank=True)
    thumbnail = models.FileField(upload_to=thumb_path, blank=True)
    # The result at a long edge of 2048 px (WebP), for the compare and the tier strip; empty
    # for jobs finished before previews existed, until a visit makes one (make_preview).
    preview = models.FileField(upload_to=preview_path, blank=True)
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
    # Why a queued job waits (next_check_at says until when); set with `updated`, so open
    # galleries redraw its card, and cleared when the next try begins.
    wait_reason = models.CharField(max_length=12, choices=Wait, default=Wait.NONE, blank=True)
    via_callback = models.BooleanField(
        default=False, help_text="Submitted in callback mode: APIXO posts the outcome to us."
    )
    # sha256 of the stored source's bytes (uploads at submit, URL sources once the worker
    # has them): with tier, format and the GPS choice, the key that finds a result already
    # paid for (jobs.dedupe).
    source_sha256 = models.CharField(max_length=64, blank=True)
    strip_gps = models.BooleanField(
        default=False, help_text="Leave the GPS location out of the result's EXIF."
    )
    force_new = models.BooleanField(
        default=False, help_text="Upscale again even if an earlier result could be reused."
    )
    skip_small = models.BooleanField(
        default=False,
        help_text="Cancel (no charge) if the source is already at or above the tier's edge.",
    )
    # A reused copy: a success with no APIXO task and no charge, sharing this job's files.
    reused_from = models.ForeignKey(
        "self", models.SET_NULL, null=True, blank=True, related_name="reuses"
    )
    metadata_kept = models.BooleanField(
        default=False, help_text="The source's EXIF and/or ICC profile were copied to the result."
    )
    note = models.CharField(max_length=200, blank=True, help_text="The user's note or tags.")
    made_by = models.CharField(
        max_length=100,
        blank=True,
        help_text='"APIXO", or the embedded engine and the model that made the result.',
    )

    class Meta:
        indexes = [
            models.Index(fields=["user", "-created"], name="job_user_created"),
            models.Index(fields=["user", "updated"], name="job_user_updated"),
            models.Index(fields=["state", "updated"], name="job_state_updated"),
            models.Index(fields=["state", "next_check_at"], name="job_state_next_check"),
            models.Index(fields=["team", "-created"], name="job_team_created"),
            models.Index(fields=["team", "updated"], name="job_team_updated"),
            models.Index(
                fields=["source_sha256", "resolution", "output_format"], name="job_source_hash"
            ),
            # The unauthenticated callback URL looks a job up by it: no table scan per forgery.
            models.Index(fields=["callback_secret"], name="job_callback_secret"),
        ]

    def __str__(self) -> str:
        return f"{self.source_name} ({self.resolution} {self.output_format})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        super().save(*args, **kwargs)
        versions.bump(self)  # open galleries look again

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
        """Failed or canceled, and not retried yet (its card links to the retry instead)."""
        return self.state in (self.State.FAILED, self.State.CANCELED) and not self.retried_as_id

    @property
    def waiting(self) -> str:
        """What the card says a queued job waits for ("" when nothing in particular).

        The try number is the next try's; 429s are not counted against the limit (only the
        deadline ends a job APIXO keeps calling busy), so past it the card says until when.
        """
        if self.state != self.State.QUEUED or not self.wait_reason:
            return ""
        W = self.Wait
        if self.wait_reason == W.PAUSED:
            return "Paused: APIXO refused our key/balance; an admin has been told"
        if self.wait_reason == W.SLOT:
            return "Waiting for a free slot"
        n, most = self.submit_attempts + 1, settings.APIXO_SUBMIT_ATTEMPTS
        what: dict[str, str] = {
            W.BUSY: "APIXO is busy",
            W.ERROR: "APIXO answered with an error",
            W.UNREACHABLE: "APIXO could not be reached",
            W.SOURCE: "The source link did not answer",
        }
        text = what.get(self.wait_reason, "Waiting")
        if n <= most or self.wait_reason != W.BUSY:
            return f"{text}: try {n} of {most}"
        start = self.submitted_at or self.created
        until = start + timedelta(seconds=settings.APIXO_DEADLINE)
        return f"{text}: try {n} (we keep trying until {until:%H:%M} UTC)"

    @property
    def wait_seconds(self) -> int | None:
        """Seconds until the next try, from now (the page counts down from there); None
        when the card shows no countdown."""
        if not self.waiting or self.wait_reason == self.Wait.SLOT or not self.next_check_at:
            return None
        return max(0, round((self.next_check_at - timezone.now()).total_seconds()))

    def eta(self, table: dict[str, Any] | None) -> datetime | None:
        """When this in-flight job should be done, from what this site learnt of its tier
        (jobs.estimates: `table` is its `table()`); None without data, or while paused."""
        tier = (table or {}).get(self.resolution)
        if not tier or not self.in_flight or self.wait_reason == self.Wait.PAUSED:
            return None
        turnaround = timedelta(seconds=float(tier["turnaround"]))
        if self.state in (self.State.PENDING, self.State.PROCESSING) and self.submitted_at:
            return self.submitted_at + turnaround
        now = timezone.now()
        if self.waiting and self.next_check_at and self.next_check_at > now:
            return self.next_check_at + turnaround
        return now + turnaround

    @property
    def long_edge(self) -> int:
        """The tier's long edge in pixels (2048, 4096, 8192)."""
        return self.LONG_EDGE[self.resolution]

    @property
    def wont_enlarge(self) -> bool:
        """The source is known (an upload, or a link the worker fetched) and already at or
        above the tier's long edge: APIXO would return it at the same size."""
        edge = max(self.source_width or 0, self.source_height or 0)
        return edge >= self.long_edge

    @property
    def source_stem(self) -> str:
        """The source's name without its extension ("holiday" of holiday.jpg)."""
        return self.source_name.rsplit(".", 1)[0] or "image"

    @property
    def download_name(self) -> str:
        return f"{self.source_stem}_{self.resolution}.{self.output_format}"

    @property
    def needs_source_preview(self) -> bool:
        """A stored source without its preview, and large or heavy enough that the compare
        should show one (lib.images.source_needs_preview)."""
        return (
            bool(self.source_file)
            and not self.source_preview
            and source_needs_preview(
                self.source_width or 0, self.source_height or 0, self.source_bytes or 0
            )
        )

    def stored(self, kind: str) -> tuple[models.fields.files.FieldFile, str]:
        """One of the job's stored files ("result", "preview", "thumb", "source",
        "source_preview") and the name to serve it under: the result's download name, the
        source's own, and for a rendition the source's stem with what it is and its real
        extension ("rocket_4k_preview.webp"), so "Save image as" keeps the right type."""
        field = {
            "result": self.result_file,
            "preview": self.preview,
            "thumb": self.thumbnail,
            "source": self.source_file,
            "source_preview": self.source_preview,
        }[kind]
        if kind == "result":
            return field, self.download_name
        if kind == "source":
            return field, self.source_name
        made_of = "" if kind == "source_preview" else f"_{self.resolution}"
        what = "preview" if kind.endswith("preview") else kind
        stored = field.name or ""
        ext = stored.rsplit(".", 1)[1] if "." in stored else "webp"
        return field, f"{self.source_stem}{made_of}_{what}.{ext}"

    @property
    def elapsed_seconds(self) -> int:
        end = self.finished_at or timezone.now()
        return max(0, int((end - self.created).total_seconds()))

    @property
    def fail_detail(self) -> str:
        """The failure message, unless the advice already says it (APIXO's messages often
        restate the code's meaning)."""
        msg = self.fail_msg.strip()
        return "" if not msg or msg.rstrip(".").lower() in self.advice.lower() else msg

    @property
    def advice(self) -> str:
        return advice_for(self.fail_code)

    def _ledger(self) -> tuple[int, bool]:
        """(net cents, ever charged) from the job's ledger rows: annotated by `for_cards`
        (one query for a whole page), else read here, once."""
        known = self.__dict__
        if "ledger_cents" not in known:
            rows = list(Charge.objects.filter(job=self).values_list("kind", "amount_cents"))
            known["ledger_cents"] = sum(amount for _, amount in rows)
            known["ledger_charged"] = any(kind == Charge.Kind.CHARGE for kind, _ in rows)
        return int(known["ledger_cents"]), bool(known["ledger_charged"])

    @property
    def charged_cents(self) -> int:
        """What this job cost its budget: its ledger rows, charges less refunds. APIXO bills
        every image it accepted, so a failed job can cost money too."""
        return self._ledger()[0]

    @property
    def refunded(self) -> bool:
        """Charged once, and given back in full by an admin."""
        net, charged = self._ledger()
        return charged and net == 0

    @property
    def charge_note(self) -> str:
        """Whether the job cost money, in words for its card."""
        if self.charged_cents > 0:
            return f"Charged {cents(self.charged_cents)}: APIXO bills every accepted image"
        return "Not charged: the charge was refunded" if self.refunded else "Not charged"

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
            previous = self.state if self.state in sources else "|".join(sources)
            self.state = target
            for name, value in fields.items():
                setattr(self, name, value)
            versions.bump(self)
            # Logged on commit: a move rolled back with its transaction didn't happen.
            transaction.on_commit(
                partial(logger.info, "%s", self._move_line(previous)), robust=True
            )
            if target in (self.State.SUCCESS, self.State.FAILED):
                job_finished.send(sender=Job, job_id=self.pk)  # the submitter's webhook, if any
        return updated == 1

    def _move_line(self, previous: str) -> str:
        """The log's account of a state change, one line: "job 12 rocket.png: pending ->
        success (4k jpg, 21 s)", with the fail code when it failed."""
        line = (
            f"job {self.pk} {self.source_name}: {previous} -> {self.state} "
            f"({self.resolution} {self.output_format}, {self.elapsed_seconds} s)"
        )
        failed = self.state == self.State.FAILED and self.fail_code
        return f"{line}: {self.fail_code}" if failed else line

    def fail(self, sources: tuple[str, ...], code: str, message: str) -> bool:
        """Move to failed with a code and message; release the reservation if one was held."""
        with transaction.atomic():
            moved = self.move(sources, self.State.FAILED, fail_code=code, fail_msg=message[:2000])
            if moved and set(sources) <= set(self.RESERVED):
                self.budget.release(settings.PRICE_CENTS)
        return moved

    def cancel(self, reason: str = "") -> bool:
        """Cancel a job still queued, releasing its reservation. Return True if canceled.
        `reason` is shown on its card (the worker's skip of a source too large to enlarge)."""
        with transaction.atomic():
            fields = {"fail_msg": reason} if reason else {}
            moved = self.move((self.State.QUEUED,), self.State.CANCELED, **fields)
            if moved:
                self.budget.release(settings.PRICE_CENTS)
        return moved

    def resend_unknown_submit(self, reason: str) -> str:
        """Settle a submit whose outcome is unknown without an admin: back to `queued` (the
        reservation stays held and pays for the resend; the user is charged once, when a
        taskId comes back), with the possible APIXO charge of the lost request recorded as
        an operator cost. After SUBMIT_UNKNOWN_RESENDS such outcomes in a row the job goes
        to `needs_attention` instead: an APIXO that takes requests and never answers may be
        billing for each, which code can't tell. Return the state moved to, or "" if the
        job was no longer submitting.
        """
        with transaction.atomic():
            unknown = OperatorCost.objects.filter(job=self).count() + 1
            if unknown > settings.SUBMIT_UNKNOWN_RESENDS:
                target = self.State.NEEDS_ATTENTION
                fields: dict[str, Any] = {"fail_msg": UNKNOWN_TOO_OFTEN}
            else:
                target = self.State.QUEUED
                fields = {"next_check_at": timezone.now()}
            if not self.move((self.State.SUBMITTING,), target, **fields):
                return ""
            OperatorCost.objects.create(
                job=self,
                job_code=self.code,
                amount_cents=settings.PRICE_CENTS,
                note=f"Submit {self.submit_attempts}: {reason}"[:500],
            )
        return target

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
            # A charge in a new month counts towards the new month: start it first.
            self.budget.roll_period()
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


def latest_change(jobs: models.QuerySet[Job]) -> datetime | None:
    latest: datetime | None = jobs.aggregate(m=models.Max("updated"))["m"]
    return latest


def for_cards(jobs: QuerySet[Job]) -> QuerySet[Job]:
    """jobs with what their cards show beyond the job's own row, in the same query: the
    ledger's net amount for each (Job.charged_cents), whether it was ever charged, and the
    job that retried it (the card's link)."""
    ledger = Charge.objects.filter(job=OuterRef("pk")).order_by().values("job")
    net = ledger.annotate(net=Sum("amount_cents")).values("net")
    return jobs.select_related("retried_as").annotate(
        ledger_cents=Coalesce(Subquery(net), 0),
        ledger_charged=Exists(ledger.filter(kind=Charge.Kind.CHARGE)),
    )
