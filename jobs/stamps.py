"""The live gallery's change stamps: a moment as the integer microseconds since the epoch
that the gallery page and its poller pass back and forth (`since`, `oldest`), so a poll
compares the client's view of the gallery with `Job.updated` without parsing dates."""

from __future__ import annotations

from datetime import UTC, datetime


def stamp(dt: datetime | None) -> str:
    """`dt` as a stamp; "0" (before everything) for none."""
    return str(int(dt.timestamp() * 1_000_000)) if dt else "0"


def from_stamp(value: str | None) -> datetime:
    """The moment a stamp names; the epoch for a missing or malformed one (a client's junk
    asks for everything, which is safe)."""
    try:
        return datetime.fromtimestamp(int(value or 0) / 1_000_000, tz=UTC)
    except (ValueError, OverflowError, OSError):
        return datetime.fromtimestamp(0, tz=UTC)
