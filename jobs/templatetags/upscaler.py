from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django import template
from django.utils import timezone

from jobs.models import Job
from lib.money import cents as format_cents

register = template.Library()


@register.filter
def cents(value: int | None) -> str:
    """Integer cents as dollars: {{ 103|cents }} -> $1.03."""
    return "" if value is None else format_cents(int(value))


@register.filter
def minutes(value: timedelta | None) -> str:
    """A timedelta as "15 minutes" (at least 1)."""
    if value is None:
        return "a few minutes"
    n = max(1, round(value.total_seconds() / 60))
    return f"{n} minute{'s' if n != 1 else ''}"


@register.filter
def span(seconds: int | float | None) -> str:
    """Seconds as a short duration: "40 s", "4 min 50 s" (static/js/app.js says the same)."""
    s = max(0, round(seconds or 0))
    return f"{s} s" if s < 60 else f"{s // 60} min {s % 60} s"


@register.filter
def eta(job: Job, table: dict[str, Any] | None) -> datetime | None:
    """When the job should be done, from the learnt table (jobs.estimates.table)."""
    return job.eta(table) if table else None


@register.filter
def left(when: datetime | None) -> str:
    """An estimate's end as the card says it: "about 20 s left" (5-s steps below a minute),
    "about 3 min left", "almost done" once it is past."""
    if when is None:
        return ""
    s = (when - timezone.now()).total_seconds()
    if s <= 2:
        return "almost done"
    if s < 60:
        return f"about {max(5, 5 * round(s / 5))} s left"
    return f"about {round(s / 60)} min left"
