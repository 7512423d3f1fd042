"""The admin spend review: ledger totals and breakdowns, the CSV export, refunds and quota
changes. Every number is a query on the ledger (Charge), never on the budget counters, so
the page agrees with the CSV to the cent."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import TruncDate, TruncMonth
from django.utils import timezone

from jobs.models import AuditEntry, Budget, Charge, Job, OperatorCost, Team, month_start
from lib.money import cents


class SpendError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, UTC)


@dataclass(frozen=True)
class DateRange:
    """Whole UTC days, both ends included."""

    start: date
    end: date

    @classmethod
    def last_days(cls, n: int, today: date | None = None) -> DateRange:
        today = today or timezone.now().date()
        return cls(today - timedelta(days=n - 1), today)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def charges(self) -> QuerySet[Charge]:
        return Charge.objects.filter(
            created__gte=day_start(self.start), created__lt=day_start(self.end + timedelta(1))
        )

    def operator_costs(self) -> QuerySet[OperatorCost]:
        return OperatorCost.objects.filter(
            created__gte=day_start(self.start), created__lt=day_start(self.end + timedelta(1))
        )

    def jobs(self) -> QuerySet[Job]:
        return Job.objects.filter(
            created__gte=day_start(self.start), created__lt=day_start(self.end + timedelta(1))
        )


def total(charges: QuerySet[Charge] | QuerySet[OperatorCost]) -> int:
    return int(charges.aggregate(s=Sum("amount_cents"))["s"] or 0)


def operator_totals(now: datetime | None = None) -> dict[str, int]:
    """What APIXO may have billed that no user pays (OperatorCost), like totals()."""
    today = (now or timezone.now()).date()
    costs = OperatorCost.objects.all()
    return {
        "today": total(costs.filter(created__gte=day_start(today))),
        "month": total(costs.filter(created__gte=day_start(month_start(today)))),
        "all_time": total(costs),
    }


def totals(now: datetime | None = None) -> dict[str, int]:
    """Net spend (charges less refunds) today, this month and all time, in cents."""
    today = (now or timezone.now()).date()
    return {
        "today": total(Charge.objects.filter(created__gte=day_start(today))),
        "month": total(Charge.objects.filter(created__gte=day_start(month_start(today)))),
        "all_time": total(Charge.objects.all()),
    }


# --- spend over time, as a server-rendered SVG bar chart ----------------------------------


@dataclass(frozen=True)
class Bar:
    label: str
    cents: int
    x: float
    y: float
    width: float
    height: float

    @property
    def centre(self) -> float:
        return round(self.x + self.width / 2, 2)

    @property
    def value_y(self) -> float:
        """Where the bar's value is written: just above it."""
        return round(self.y - 4, 2)


@dataclass(frozen=True)
class Tick:
    """A line across the chart at a value, labelled on the y axis."""

    cents: int
    y: float


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    max_cents: int
    by: str  # "day" or "month"
    width: int = 720
    height: int = 200
    left: int = 0  # room for the y axis's labels

    @property
    def baseline(self) -> int:
        return self.height

    @property
    def right(self) -> int:
        """Where the bars end (the last bar's value needs room beyond it)."""
        return self.width - CHART_RIGHT

    @property
    def empty(self) -> bool:
        """Nothing spent (net) in any bucket: the page says so instead of drawing zeros."""
        return not any(b.cents for b in self.bars)

    @property
    def ticks(self) -> list[Tick]:
        """The y axis: evenly spaced round amounts from zero up to the tallest bar, at most
        CHART_TICKS steps (1, 2 or 5 times a power of ten cents: $0.01, $0.05, $2, ...)."""
        step = _round_step(self.max_cents)
        top = self.height - CHART_HEADROOM
        return [
            Tick(v, round(self.height - v / self.max_cents * top, 2))
            for v in range(0, self.max_cents + 1, step)
        ]

    @property
    def x_labels(self) -> list[Bar]:
        """The buckets named under the x axis: the first, the middle and the last one."""
        if not self.bars:
            return []
        picks = sorted({0, len(self.bars) // 2, len(self.bars) - 1})
        return [self.bars[n] for n in picks]

    @property
    def labelled(self) -> list[Bar]:
        """Bars whose value is written above them: every non-empty one while they are wide
        enough for "$0.00", else only the tallest (the axis and the table give the rest)."""
        spent = [b for b in self.bars if b.cents > 0]
        if spent and spent[0].width < CHART_LABEL_WIDTH:
            return [max(spent, key=lambda b: b.cents)]
        return spent


CHART_HEADROOM = 22  # above the tallest bar: room for its value
CHART_LEFT = 72  # the y axis's labels ("$12.34")
CHART_RIGHT = 32  # half the last bar's value, so it isn't cut off
CHART_LABEL_WIDTH = 34  # the narrowest bar a value is written over
CHART_TICKS = 4  # most steps on the y axis above zero


def _round_step(top: int) -> int:
    """The smallest round step (1, 2 or 5 x 10^k cents) that reaches `top` in at most
    CHART_TICKS steps."""
    power = 1
    while True:
        for m in (1, 2, 5):
            if top <= m * power * CHART_TICKS:
                return m * power
        power *= 10


def spend_over_time(r: DateRange) -> Chart:
    """Net spend per day (per month for ranges over 92 days), every bucket present."""
    by_month = r.days > 92
    trunc = TruncMonth("created", tzinfo=UTC) if by_month else TruncDate("created", tzinfo=UTC)
    rows = r.charges().annotate(b=trunc).values("b").annotate(s=Sum("amount_cents"))
    sums: dict[date, int] = {}
    for row in rows:
        bucket = row["b"].date() if isinstance(row["b"], datetime) else row["b"]
        sums[bucket] = sums.get(bucket, 0) + int(row["s"])
    buckets = _months(r) if by_month else [r.start + timedelta(n) for n in range(r.days)]
    values = [(b, sums.get(b, 0)) for b in buckets]
    top = max([v for _, v in values] + [1])
    width, height, left = 720, 200, CHART_LEFT
    step = (width - left - CHART_RIGHT) / len(values)
    bars = []
    for n, (bucket, value) in enumerate(values):
        h = max(0.0, value) / top * (height - CHART_HEADROOM)
        label = bucket.strftime("%Y-%m" if by_month else "%Y-%m-%d")
        bars.append(
            Bar(
                label,
                value,
                round(left + n * step + 1, 2),
                round(height - h, 2),
                round(max(step - 2, 1), 2),
                round(h, 2),
            )
        )
    return Chart(bars, top, "month" if by_month else "day", width, height, left)


def _months(r: DateRange) -> list[date]:
    months, month = [], r.start.replace(day=1)
    while month <= r.end:
        months.append(month)
        month = (month + timedelta(days=32)).replace(day=1)
    return months


# --- breakdowns ---------------------------------------------------------------------------


def per_user(r: DateRange) -> list[dict[str, Any]]:
    """Net spend per submitter (personal and team images), biggest first."""
    rows = (
        r.charges()
        .values("user__username")
        .annotate(cents=Sum("amount_cents"), images=Count("id", filter=Q(kind=Charge.Kind.CHARGE)))
        .order_by("-cents", "user__username")
    )
    return [{**row, "name": row["user__username"] or "(deleted account)"} for row in rows]


def per_team(r: DateRange) -> list[dict[str, Any]]:
    """Net spend per team budget, biggest first."""
    rows = (
        r.charges()
        .filter(budget__team__isnull=False)
        .values("budget__team__name", "budget__team__code")
        .annotate(cents=Sum("amount_cents"), images=Count("id", filter=Q(kind=Charge.Kind.CHARGE)))
        .order_by("-cents", "budget__team__name")
    )
    return [{**row, "name": row["budget__team__name"]} for row in rows]


def failures(r: DateRange) -> dict[str, Any]:
    """Of the jobs created in the range that finished (success or failed), how many failed,
    and the commonest fail codes."""
    jobs = r.jobs()
    done = jobs.filter(state__in=(Job.State.SUCCESS, Job.State.FAILED))
    counts = done.aggregate(
        finished=Count("id"), failed=Count("id", filter=Q(state=Job.State.FAILED))
    )
    finished, failed = counts["finished"], counts["failed"]
    top = (
        done.filter(state=Job.State.FAILED)
        .values("fail_code")
        .annotate(n=Count("id"))
        .order_by("-n", "fail_code")[:5]
    )
    return {
        "finished": finished,
        "failed": failed,
        "rate": round(100 * failed / finished, 1) if finished else None,
        "top_codes": list(top),
        "needs_attention": jobs.filter(state=Job.State.NEEDS_ATTENTION).count(),
    }


def budgets_near_limit() -> list[tuple[str, Budget]]:
    """Budgets at 80% of their limit or more, monthly ones rolled into this month first."""
    candidates = (
        Budget.objects.filter(limit_cents__isnull=False)
        .annotate(used=F("spent_cents") * 100)
        .filter(used__gte=F("limit_cents") * 80)
        .order_by("-spent_cents")
    )
    near: list[tuple[str, Budget]] = []
    for budget in candidates[:50]:
        budget.roll_period()
        if (budget.used_percent or 0) >= 80:
            near.append((budget_name(budget), budget))
    return near


def reserved_work_cents() -> int:
    """What the jobs waiting to be sent to APIXO will cost."""
    return Job.objects.filter(state__in=Job.RESERVED).count() * settings.PRICE_CENTS


# --- the CSV export -----------------------------------------------------------------------

CSV_HEADER = [
    "created_utc",
    "kind",
    "amount_cents",
    "amount_usd",
    "user",
    "team",
    "job",
    "note",
    "refunded_by",
    # "user" for the ledger of user charges and refunds, "operator" for the operator's
    # costs (OperatorCost: a possible APIXO charge no user pays), listed after them.
    "paid_by",
]


class _Echo:
    """A file-like object whose write() returns the line, for csv.writer in a generator."""

    def write(self, value: str) -> str:
        return value


# A spreadsheet runs a cell that starts with one of these as a formula (=HYPERLINK(...)).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _text_cell(value: str | None) -> str:
    """A user-chosen text (a name, a note) as a CSV cell no spreadsheet runs as a formula:
    a leading quote makes it plain text (OWASP's advice). Numbers are written as they are."""
    text = value or ""
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text


def ledger_csv(r: DateRange, chunk_size: int = 2000) -> Iterator[str]:
    """The ledger rows in the range, oldest first, as CSV lines.

    A generator over .iterator(chunk_size): rows are fetched and written a chunk at a time,
    so a million rows never sit in memory at once.
    """
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_HEADER)
    rows = (
        r.charges()
        .order_by("created", "id")
        .values_list(
            "created",
            "kind",
            "amount_cents",
            "user__username",
            "budget__team__name",
            "job_code",
            "note",
            "created_by__username",
        )
    )
    for created, kind, amount, user, team, job, note, by in rows.iterator(chunk_size=chunk_size):
        yield writer.writerow(
            [
                created.astimezone(UTC).isoformat(),
                kind,
                amount,
                cents(amount).replace("$", ""),
                _text_cell(user),
                _text_cell(team),
                job or "",
                _text_cell(note),
                _text_cell(by),
                "user",
            ]
        )
    costs = (
        r.operator_costs()
        .order_by("created", "id")
        .values_list("created", "kind", "amount_cents", "job_code", "note")
    )
    for created, kind, amount, job, note in costs.iterator(chunk_size=chunk_size):
        yield writer.writerow(
            [
                created.astimezone(UTC).isoformat(),
                kind,
                amount,
                cents(amount).replace("$", ""),
                "",
                "",
                job or "",
                _text_cell(note),
                "",
                "operator",
            ]
        )


# --- refunds and quota changes (audit-logged) ---------------------------------------------


def _audit(by: User, action: str, target: str, budget: Budget | None, detail: str) -> None:
    AuditEntry.objects.create(
        actor=by,
        actor_name=by.get_username(),
        action=action,
        target=target,
        budget=budget,
        detail=detail,
    )


def refund(charge: Charge, by: User, reason: str) -> Charge:
    """Refund a charge: a new negative ledger row (the charge itself is never changed), and
    the budget's spent counter goes down by as much, in one transaction.

    Raise SpendError if it isn't a charge or was refunded already (a constraint makes sure).
    """
    reason = reason.strip()
    if charge.kind != Charge.Kind.CHARGE:
        raise SpendError("Only a charge can be refunded.")
    if not reason:
        raise SpendError("Say why: the reason is kept in the ledger.")
    try:
        with transaction.atomic():
            budget = charge.budget
            budget.roll_period()
            entry = Charge.objects.create(
                kind=Charge.Kind.REFUND,
                amount_cents=-charge.amount_cents,
                refund_of=charge,
                job_id=charge.job_id,
                job_code=charge.job_code,
                budget=budget,
                user_id=charge.user_id,
                note=reason[:500],
                created_by=by,
            )
            # Spent counts this period's ledger rows, and the refund is one of them.
            Budget.objects.filter(pk=budget.pk).update(
                spent_cents=F("spent_cents") - charge.amount_cents
            )
            _audit(
                by,
                "refund",
                f"charge of job {charge.job_code}",
                budget,
                f"Refunded {cents(charge.amount_cents)}: {reason}",
            )
    except IntegrityError:
        raise SpendError("This charge was refunded already.") from None
    return entry


def budget_name(budget: Budget) -> str:
    team = Team.objects.filter(budget=budget).first()
    if team is not None:
        return f"team {team.name}"
    user = User.objects.filter(budget=budget).first()
    return f"user {user.username}" if user else f"budget {budget.code}"


def adjust_quota(budget: Budget, limit_cents: int | None, by: User, note: str = "") -> None:
    """Set a budget's limit (None: unlimited). For a team this is also the cap its admins
    may set. A new limit starts its 80%/100% alerts over."""
    is_team = Team.objects.filter(budget=budget).exists()
    old = budget.limit_display
    with transaction.atomic():
        fields: dict[str, Any] = {"limit_cents": limit_cents, "alert_level": 0}
        if is_team:
            fields["cap_cents"] = limit_cents
        Budget.objects.filter(pk=budget.pk).update(**fields)
        budget.refresh_from_db()
        detail = f"Quota {old} -> {budget.limit_display}" + (f": {note}" if note else "")
        _audit(by, "quota", budget_name(budget), budget, detail)
