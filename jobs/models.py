from __future__ import annotations

import logging
import secrets
import uuid
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.dispatch import Signal
from django.urls import reverse
from django.utils import timezone

from jobs import versions
from jobs.advice import advice_for
from lib.money import cents
from lib.tokens import hash_token

logger = logging.getLogger(__name__)

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


def month_start(today: date | None = None) -> date:
    """The first day of this month (UTC, the site's time zone): when monthly budgets reset."""
    return (today or timezone.now().date()).replace(day=1)


class Budget(models.Model):
    """Money that jobs draw on: a user's personal quota, or a team's budget.

    `spent_cents` mirrors the sum of the budget's ledger rows in the current period (all of
    them for a lifetime budget; those since `period_start` for a monthly one), and
    `reserved_cents` the jobs that are queued or being submitted. Both only ever change
    through conditional UPDATEs with F() expressions, so concurrent submits can never take a
    budget past its limit.
    """

    class Period(models.TextChoices):
        LIFETIME = "lifetime"
        MONTHLY = "monthly"

    class Unit(models.TextChoices):
        DOLLARS = "usd", "dollars"
        IMAGES = "images"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # SET_NULL: deleting an account keeps its budget row, because the ledger points at it.
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="budget"
    )
    limit_cents = models.PositiveIntegerField(
        null=True, blank=True, help_text="Quota in cents; empty means unlimited."
    )
    spent_cents = models.IntegerField(default=0, editable=False)
    reserved_cents = models.IntegerField(default=0, editable=False)
    period = models.CharField(max_length=10, choices=Period, default=Period.LIFETIME)
    period_start = models.DateField(
        default=month_start, help_text="First day of the current monthly period."
    )
    unit = models.CharField(
        max_length=6,
        choices=Unit,
        default=Unit.DOLLARS,
        help_text="How the limit is shown. It is always stored in cents ($0.01 per image).",
    )
    cap_cents = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Teams only: the highest limit the team's admins may set (staff decide); "
        "empty means no cap.",
    )
    # The highest spend alert (80 or 100 percent) already sent this period, so each is
    # sent once; a new period or a new limit starts it over.
    alert_level = models.PositiveSmallIntegerField(default=0, editable=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(reserved_cents__gte=0), name="budget_reserved_not_negative"
            ),
        ]

    def __str__(self) -> str:
        if self.user:
            return f"Budget of {self.user}"
        team = Team.objects.filter(budget=self).first()
        return f"Budget of team {team.name}" if team else f"Budget {self.code}"

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

    @property
    def monthly(self) -> bool:
        return self.period == self.Period.MONTHLY

    @property
    def used_percent(self) -> int | None:
        """Spent as a whole percentage of the limit; None when unlimited."""
        if self.limit_cents is None:
            return None
        if self.limit_cents == 0:
            return 100
        return self.spent_cents * 100 // self.limit_cents

    def amount_display(self, amount: int | None) -> str:
        """An amount in the budget's unit: "$0.42", or "42 images"."""
        if amount is None:
            return "unlimited"
        if self.unit == self.Unit.IMAGES:
            n = amount // settings.PRICE_CENTS
            return f"{n} image{'' if n == 1 else 's'}"
        return cents(amount)

    @property
    def spent_display(self) -> str:
        return self.amount_display(self.spent_cents)

    @property
    def limit_display(self) -> str:
        return self.amount_display(self.limit_cents)

    def roll_period(self) -> bool:
        """Start a new month for a monthly budget whose period is over. Return True if this
        call did it.

        One conditional UPDATE, so of many concurrent callers exactly one resets. Only the
        counter starts over: every charge stays in the ledger.
        """
        start = month_start()
        if self.period != self.Period.MONTHLY or self.period_start >= start:
            return False
        rolled = (
            Budget.objects.filter(
                pk=self.pk, period=self.Period.MONTHLY, period_start__lt=start
            ).update(spent_cents=0, period_start=start, alert_level=0)
            == 1
        )
        self.refresh_from_db(fields=["spent_cents", "period_start", "alert_level"])
        return rolled

    def reserve(self, amount: int) -> bool:
        """Reserve amount cents if the limit allows it. Return True if reserved.

        One conditional UPDATE: of two concurrent reservations for the last cent, the
        database lets exactly one match the WHERE clause.
        """
        self.roll_period()
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
    def download_name(self) -> str:
        stem = self.source_name.rsplit(".", 1)[0] or "image"
        return f"{stem}_{self.resolution}.{self.output_format}"

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

    def cancel(self) -> bool:
        """Cancel a job still queued, releasing its reservation. Return True if canceled."""
        with transaction.atomic():
            moved = self.move((self.State.QUEUED,), self.State.CANCELED)
            if moved:
                self.budget.release(settings.PRICE_CENTS)
        return moved

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
    # Refunds only: the charge refunded (once, by a constraint) and the admin who did it.
    refund_of = models.ForeignKey(
        "self", models.PROTECT, null=True, blank=True, related_name="refunds"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["job"], condition=Q(kind="charge"), name="one_charge_per_job"
            ),
            models.UniqueConstraint(fields=["refund_of"], name="one_refund_per_charge"),
        ]
        indexes = [models.Index(fields=["budget", "created"], name="charge_budget_created")]

    def __str__(self) -> str:
        return f"{self.kind} {cents(self.amount_cents)} ({self.created:%Y-%m-%d})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ValueError("The ledger is append-only: add a refund instead of editing.")
        super().save(*args, **kwargs)


def _token() -> str:
    return secrets.token_urlsafe(32)


class Team(models.Model):
    """A shared gallery and budget. What each member may do comes from their Membership."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=100)
    # Who created it; rights come from memberships (the last owner cannot leave).
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created = models.DateTimeField(default=timezone.now)
    budget = models.OneToOneField(Budget, models.PROTECT, related_name="team")

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("team_detail", args=[self.code])


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner"
        ADMIN = "admin"
        MEMBER = "member"
        VIEWER = "viewer"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, models.CASCADE, related_name="memberships")
    team = models.ForeignKey(Team, models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role, default=Role.MEMBER)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "team"], name="one_membership_per_team"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"

    @property
    def can_manage(self) -> bool:
        """Owners and admins manage members, invitations and the budget."""
        return self.role in (self.Role.OWNER, self.Role.ADMIN)

    @property
    def can_submit(self) -> bool:
        """Everyone but a viewer submits, cancels, retries and shares the team's images."""
        return self.role != self.Role.VIEWER


def invitation_expiry() -> datetime:
    return timezone.now() + timedelta(days=settings.INVITATION_DAYS)


class Invitation(models.Model):
    """A single-use, expiring link that makes whoever follows it (with that email) a member.

    Only the SHA-256 of the link's token is stored: the emailed link is its only copy, so
    someone who reads the database (a leaked backup) can't join a team with it.
    """

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    team = models.ForeignKey(Team, models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Membership.Role, default=Membership.Role.MEMBER)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created = models.DateTimeField(default=timezone.now)
    expires = models.DateTimeField(default=invitation_expiry)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    accepted_at = models.DateTimeField(null=True, blank=True)

    # The raw token: known only to the instance that created the invitation, or that was
    # found by it (`find`).
    token = ""

    def __str__(self) -> str:
        return f"{self.email} to {self.team}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self.token_hash:
            self.token = _token()
            self.token_hash = hash_token(self.token)
        super().save(*args, **kwargs)

    @classmethod
    def find(cls, token: str) -> Invitation | None:
        """The invitation behind a link's token (any state), or None."""
        found = cls.objects.select_related("team").filter(token_hash=hash_token(token)).first()
        if found is not None:
            found.token = token
        return found

    def get_absolute_url(self) -> str:
        if not self.token:
            raise ValueError("Only the token's hash is stored: the link is in the email.")
        return reverse("invitation", args=[self.token])

    @property
    def is_open(self) -> bool:
        return self.accepted_at is None and self.expires > timezone.now()


def share_expiry() -> datetime:
    return timezone.now() + timedelta(days=settings.SHARE_LINK_DAYS)


class ShareLink(models.Model):
    """A public, read-only, expiring and revocable page for one finished job."""

    token = models.CharField(max_length=64, unique=True, default=_token, editable=False)
    job = models.ForeignKey(Job, models.CASCADE, related_name="share_links")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created = models.DateTimeField(default=timezone.now)
    expires = models.DateTimeField(default=share_expiry)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Share link for {self.job}"

    def get_absolute_url(self) -> str:
        return reverse("share_page", args=[self.token])

    @property
    def url(self) -> str:
        return settings.SITE_URL + self.get_absolute_url()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and self.expires > timezone.now()


class AuditEntry(models.Model):
    """What an admin did to money: refunds and quota changes. Never edited or deleted.

    Our own table rather than Django's LogEntry, whose user foreign key cascades: deleting
    an admin's account would delete the record of what they did.
    """

    created = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_name = models.CharField(max_length=150)
    action = models.CharField(max_length=50)
    target = models.CharField(max_length=200)
    budget = models.ForeignKey(
        Budget, models.SET_NULL, null=True, blank=True, related_name="audit_entries"
    )
    detail = models.TextField(blank=True)

    class Meta:
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.created:%Y-%m-%d %H:%M} {self.actor_name}: {self.action} {self.target}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ValueError("The audit log is append-only.")
        super().save(*args, **kwargs)


def latest_change(jobs: models.QuerySet[Job]) -> datetime | None:
    return jobs.aggregate(m=models.Max("updated"))["m"]


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
