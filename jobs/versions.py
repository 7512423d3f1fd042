"""A change counter per gallery, kept in the cache, so an idle gallery poll costs one cache
read and no query at all (bench/idle_poll.py).

Every change a gallery poll can show bumps the counter of the job's gallery (the personal
gallery of its user, or its team's): `Job.save`, `Job.move` and the note view call `bump`.
A page or poll reads the counter *before* it reads any job and hands it to the client; a
client that comes back with the same counter gets 204 at once, without loading the user:
the user's id comes from the session, which is in the cache too.

That fast path trusts a session without checking it against the user's row, so whatever
could end a session's right to a gallery bumps the counters it could use: a save of the
user (a password change, deactivation) bumps theirs, a membership ending bumps the
team's. The next poll then goes the long way, which checks the login and the membership.

Why that can't hide a change:
- A change committed after the reader read the counter bumps it after the read, so the
  client's next poll carries an old counter and goes to the database.
- A writer bumps once its change is visible: at once outside a transaction; inside one, at
  once (its own connection already sees the row) and again on commit, so a reader that saw
  the first bump before the commit and missed the row looks again.
- The counter is compared for equality only, never ordered, so a lost key (Redis restarted,
  flushed or evicted) is re-seeded with a random 62-bit value, which no client holds.
- If the cache can't be read, the poll asks the database, as it did before the counter
  existed. A bump lost that way (the cache unreachable just then) would hide the change from
  open galleries, so a client's version also carries when it was read, and one older than
  MAX_AGE is checked against the database anyway: a lost bump costs a minute, never more.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Iterable
from functools import partial
from typing import TYPE_CHECKING, Any

from django.core.cache import cache
from django.db import connection, transaction

if TYPE_CHECKING:
    from jobs.models import Job

logger = logging.getLogger(__name__)
# Re-seeding costs one database poll per open tab, so an hour is plenty; and a counter is
# only created for a gallery the user was shown (see `current`), so none lingers for junk.
TTL = 3600
# A deletion note must outlive a page that stopped polling for a while.
REMOVED_TTL = 24 * 3600
# How long a client's version spares it the database; see "a lost bump" above.
MAX_AGE = 60


def key(user_id: Any, team_code: Any) -> str:
    """The counter of the team's gallery (by its code, which the poll URL carries, so the
    poll needs no query to find it), else of the user's personal gallery."""
    return f"gallery-version:t:{team_code}" if team_code else f"gallery-version:u:{user_id}"


def current(user_id: Any, team_code: Any, *, create: bool = True) -> str:
    """The gallery's version as a client keeps it, "<counter>.<unix time>": the counter
    and when it was read; "" if the cache can't be read, or it is missing and not `create`.

    Create it only once the user is known to see that gallery: the poll's fast path runs
    before any check, and would otherwise make a key for any team value it is sent."""
    name = key(user_id, team_code)
    try:
        value = cache.get(name)
        if value is None and create:
            cache.add(name, secrets.randbits(62), TTL)
            value = cache.get(name)
    except Exception:
        logger.warning("Gallery version unreadable (%s); polls ask the database", name)
        return ""
    return "" if value is None else f"{value}.{int(time.time())}"


def unchanged(seen: str | None, now: str) -> bool:
    """Has the gallery not changed since the client read version `seen`? (`now` is what
    `current` says at the start of this request.)"""
    counter, _, read_at = (seen or "").partition(".")
    try:
        age = time.time() - int(read_at)
    except ValueError:
        return False
    return bool(now) and counter == now.partition(".")[0] and 0 <= age < MAX_AGE


def bump(job: Job) -> None:
    """The job changed in a way its gallery's poll shows."""
    _bump(_job_key(job))


def removed(jobs: Iterable[Job]) -> None:
    """These jobs were deleted. A poll can't show a card that is gone (it sends changed
    rows), so each gallery they were in notes when, and its open pages redraw their first
    page once (the poll's `r`: the last removal a page has seen)."""
    for name in {_job_key(job) for job in jobs}:
        try:
            cache.set(f"{name}:removed", time.time_ns() // 1000, REMOVED_TTL)
        except Exception:
            logger.warning("Gallery removal not noted (%s); open pages keep the cards", name)
        _bump(name)


def removed_at(user_id: Any, team_code: Any) -> int:
    """When a job of the gallery was last deleted (microseconds), 0 if not lately."""
    try:
        return int(cache.get(f"{key(user_id, team_code)}:removed") or 0)
    except Exception:
        return 0


def bump_key(name: str) -> None:
    """Something other than a job changed what the gallery with counter `name` (from
    `key`) may show: jobs.signals, for a user's or a membership's change."""
    _bump(name)


def _job_key(job: Job) -> str:
    """The counter of the job's gallery."""
    team = job.team  # no query for a personal job, nor when the team came with the job
    return key(job.user_id, team.code if team else None)


def _bump(name: str) -> None:
    _incr(name)
    if connection.in_atomic_block:
        transaction.on_commit(partial(_incr, name), robust=True)


def _incr(name: str) -> None:
    try:
        try:
            cache.incr(name)
        except ValueError:  # missing: a new random start is as good as any increment
            cache.set(name, secrets.randbits(62), TTL)
    except Exception:
        logger.warning("Gallery version not bumped (%s); open galleries may lag", name)
