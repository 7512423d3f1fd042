from __future__ import annotations

from datetime import timedelta

from django import template

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
