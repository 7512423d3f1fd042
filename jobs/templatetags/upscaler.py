"""Template filters and tags every template has (TEMPLATES builtins): money, durations and
the live poller's URL."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django import template
from django.template.context import Context
from django.urls import reverse
from django.utils import timezone
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe

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


@register.simple_tag(takes_context=True)
def poll_url(context: Context) -> SafeString:
    """The live poller's next request (#poller's hx-get), from what the page or the last poll
    saw: since/oldest (change stamps of the cards shown), job (one job's page), team, the
    gallery's filters, v (the gallery's version: 204 while it is unchanged), r (deletions
    seen) and p (the APIXO pause seen)."""
    only, team, filters = context.get("only"), context.get("team"), context.get("filter_query")
    parts = [f"since={context.get('since', '')}", f"oldest={context.get('oldest', '')}"]
    if only:
        parts.append(f"job={only}")
    if team:
        parts.append(f"team={team.code}")
    if filters and not only:
        parts.append(filters)
    for name, key in (("v", "v"), ("r", "removed"), ("p", "apixo_pause")):
        if value := context.get(key):
            parts.append(f"{name}={value}")
    # Each value escaped for the attribute, the separators not (as the template wrote it).
    return mark_safe(reverse("gallery_poll") + "?" + "&".join(conditional_escape(p) for p in parts))
