"""What this site has learnt about how long each tier takes, and when to read a task's status.

From the last SAMPLES finished jobs of a tier (only real runs, not reused copies):
- `turnaround`: the median seconds from our submit to the job's success, which is what a
  user waits for ("about 20 s left" on a card);
- `latency`: APIXO's own time for the task, completeTime - createTime (or costTime when
  those are missing), which knows nothing of our polling and so can't learn our lag;
- `reads`: when polling mode reads the status, in seconds after the submit (`plan_reads`).

One table for every tier, in the Django cache for TTL seconds and rebuilt by one small
query per tier when it is missing: a page reads it once (not per card) and a worker once
per status read. A tier with fewer than MIN_SAMPLES finished jobs has no entry: cards show
no estimate, and one with fewer than PLAN_SAMPLES keeps APIXO's documented read schedule.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import statistics
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.cache import cache

from jobs.models import Job

logger = logging.getLogger(__name__)
KEY = "estimates:v1"
TTL = 60
SAMPLES = 50
MIN_SAMPLES = 5
# A read plan wants more: the first jobs of a tier to finish are its fastest, and a plan
# learnt from them alone ends too soon for the ones still running.
PLAN_SAMPLES = 10
# Reads planned before the last one, which comes after every learnt latency (so a task as
# slow as the slowest seen is still read at most READS times).
READS = 4
# A read due at t lands up to a second either side (RQ schedules whole seconds and its
# scheduler wakes once a second): a plan only counts a read as catching a task this long
# after the task finished.
READ_SLACK = 0.6
GRID = 17
# The last planned read comes this much after the slowest latency seen: a task a little
# slower than any seen yet is still read at most READS times; it costs the median nothing.
TAIL = 1.25
# Each learnt latency counts as a little spread around itself, so a plan suits the tier
# rather than the exact tasks it happened to see (the next ones differ by a second or so).
KERNEL = (-1.0, -0.5, 0.0, 0.5, 1.0)
# How late a status read runs after the time it was scheduled for, on average (a moving
# average the workers keep): the scheduler's second, the fork, a busy machine. The learnt
# reads are scheduled that much sooner so they land where the plan put them.
LATE_KEY = "estimates:late"
LATE_MAX = 3.0


def table() -> dict[str, dict[str, Any]]:
    """{tier: {"n", "turnaround", "latency", "reads"}} for every tier with enough data."""
    try:
        found = cache.get(KEY)
    except Exception:  # a cache outage costs the queries, not the page
        found = None
    if isinstance(found, dict):
        return found
    built = build()
    try:
        cache.set(KEY, built, TTL)
    except Exception:
        logger.warning("Estimates not cached; the next reader builds them again")
    return built


def forget() -> None:
    """Drop the cached table (a tier just got its first data, or a test changed the jobs)."""
    try:
        cache.delete(KEY)
    except Exception:
        logger.warning("Estimates not dropped from the cache")


def learnt_from(resolution: str) -> None:
    """A job of this tier finished well: while the tier has fewer than SAMPLES jobs to
    learn from, rebuild at once rather than after the cache's TTL, so a new site (or tier)
    learns from its first jobs; after that the TTL's rebuild is soon enough."""
    if (table().get(resolution) or {}).get("n", 0) < SAMPLES:
        forget()


def build() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for tier in Job.LONG_EDGE:
        rows = list(
            Job.objects.filter(
                state=Job.State.SUCCESS,
                resolution=tier,
                reused_from__isnull=True,
                submitted_at__isnull=False,
                finished_at__isnull=False,
            )
            .order_by("-updated")  # the (state, updated) index; a success's last change
            .values_list(
                "submitted_at",
                "finished_at",
                "apixo_create_time",
                "apixo_complete_time",
                "apixo_cost_time",
            )[:SAMPLES]
        )
        turnarounds = [(done - sent).total_seconds() for sent, done, *_ in rows if sent and done]
        latencies = [x for x in (_latency(*r[2:]) for r in rows) if x is not None]
        if len(turnarounds) < MIN_SAMPLES:
            continue
        entry: dict[str, Any] = {
            "n": len(turnarounds),
            "turnaround": round(statistics.median(turnarounds), 2),
            "latency": None,
            "reads": None,
        }
        if len(latencies) >= PLAN_SAMPLES:
            entry["latency"] = round(statistics.median(latencies), 2)
            entry["reads"] = plan_reads(latencies)
        out[tier] = entry
    return out


def _latency(create: int | None, complete: int | None, cost: int | None) -> float | None:
    """APIXO's seconds for one task: its own clock's create-to-complete, else costTime."""
    if create and complete and complete >= create:
        return (complete - create) / 1000
    if cost and cost > 0:
        return cost / 1000
    return None


def plan_reads(latencies: Sequence[float], reads: int = READS) -> list[float]:
    """Status read times (seconds after the submit) for a tier whose tasks took
    `latencies`: the last one after the slowest seen, the others where they catch the most
    tasks soonest. Chosen from a grid over the learnt range to make the mean time from a
    task's completion to the read that sees it smallest (then the median), over the
    latencies each spread by KERNEL.
    """
    seen = sorted(latencies)
    lo, hi = seen[0], seen[-1]
    last = hi * TAIL + 2 * READ_SLACK
    if hi - lo < 0.1:
        return [round(hi + READ_SLACK, 2), round(last, 2)]
    grid = [lo + READ_SLACK + i * (hi - lo) / (GRID - 1) for i in range(GRID)]
    points = [x + d for x in seen for d in KERNEL]
    end = reads - 1
    best: tuple[tuple[float, float], list[float]] | None = None
    for combo in itertools.combinations(grid, reads - 1):
        plan = [*combo, last]
        lags = [plan[min(end, bisect.bisect_left(plan, x + READ_SLACK))] - x for x in points]
        score = (statistics.fmean(lags), statistics.median(lags))
        if best is None or score < best[0]:
            best = (score, plan)
    assert best is not None
    return [round(t, 2) for t in best[1]]


def next_read(resolution: str, since_submit: float, reads_done: int) -> float:
    """Seconds from now until the next status read of a polling-mode task of this tier,
    submitted `since_submit` s ago and read `reads_done` times.

    With a learnt plan: its next read still ahead; past the plan, the usual interval. With
    none (an unknown tier), APIXO's documented schedule (APIXO_FIRST_POLL after the submit,
    then APIXO_POLL_INTERVAL; 8k APIXO_POLL_INTERVAL_8K).
    """
    interval = (
        settings.APIXO_POLL_INTERVAL_8K if resolution == "8k" else settings.APIXO_POLL_INTERVAL
    )
    plan = (table().get(resolution) or {}).get("reads")
    if not plan:
        # The first read is called right after the submit: APIXO's advice as it stands,
        # never made sooner for lateness (it is a floor).
        return float(settings.APIXO_FIRST_POLL if reads_done == 0 else interval)
    lead = lateness()
    # The reads still allowed, from the plan's end: a job that began on APIXO's schedule
    # (before its tier was learnt) joins the plan for its last reads, never exceeding it.
    left = len(plan) - reads_done
    for t in plan[-left:] if left > 0 else []:
        if t - lead > since_submit:
            return float(t - lead - since_submit)
    return float(interval)


def note_lateness(seconds: float) -> None:
    """A status read ran `seconds` after the time it was scheduled for. Ignored when far
    off (a read the reconciler re-enqueued, a clock step): those say nothing of the usual."""
    if not -2 <= seconds <= 2 * LATE_MAX:
        return
    try:
        old = cache.get(LATE_KEY)
        new = seconds if not isinstance(old, float) else 0.8 * old + 0.2 * seconds
        cache.set(LATE_KEY, new, 3600)
    except Exception:
        logger.warning("Read lateness not noted")


def lateness() -> float:
    """How much sooner to schedule a learnt read (0 to LATE_MAX s)."""
    try:
        late = cache.get(LATE_KEY)
    except Exception:
        return 0.0
    return min(LATE_MAX, max(0.0, late)) if isinstance(late, float) else 0.0
