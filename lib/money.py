"""Money is stored as integer cents; this is how it is shown."""

from __future__ import annotations


def cents(amount: int) -> str:
    """Format integer cents as dollars: 103 -> "$1.03"."""
    sign = "-" if amount < 0 else ""
    return f"{sign}${abs(amount) // 100}.{abs(amount) % 100:02d}"
