from __future__ import annotations

from django import template

from jobs.models import cents as format_cents

register = template.Library()


@register.filter
def cents(value: int | None) -> str:
    """Integer cents as dollars: {{ 103|cents }} -> $1.03."""
    return "" if value is None else format_cents(int(value))
