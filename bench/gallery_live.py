"""Benchmark: what a live gallery costs the server, one poll per gallery vs per-card polling.

    .venv/bin/python bench/gallery_live.py [--quick]

50 in-flight cards; 1 and 20 open tabs, each polling every 2 s (the gallery's hx-trigger).
Each card changes once a minute (pending <-> processing, spread evenly), so some polls
carry changes. The three designs, served by the same gunicorn (2 gthread workers):

- ours: one `/gallery/poll/?since=&oldest=&v=` per tab: 204, or only the changed cards.
- per-card: every card polls `/bench/card/<code>/` and gets its HTML back (the obvious
  `hx-trigger="every 2s"` on each card).
- per-card + 204: the same with a per-card `since` stamp, 204 while unchanged.

The simulated minutes are replayed as fast as the server answers (the server's CPU is what
counts, not the wall clock), tick by tick in simulated-time order; requests per minute are
exact, CPU per minute is measured over the replayed ticks and scaled to a minute. Server
CPU is utime + stime of the gunicorn worker processes from /proc/<pid>/stat (all threads).
In this run every poll of ours carries a change (50 changes a minute, 30 polls a minute):
the worst case for it; bench/idle_poll.py measures the nothing-changed poll.
"""

from __future__ import annotations

import math
import re
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (  # noqa: E402
    KeepAlive,
    Stack,
    flag,
    load_note,
    login_cookie,
    run_parallel,
    table,
    verdict,
)

CARDS = 50
TAB_COUNTS = (1, 20)
POLL_EVERY = 2.0  # seconds, as templates/jobs/gallery.html polls
TICKS_PER_MINUTE = int(60 / POLL_EVERY)
SINCE = re.compile(rb"since=(\d+)")
VERSION = re.compile(rb"[?&]v=([0-9.]+)")


def main() -> int:
    quick = flag("--quick")
    min_requests = 400 if quick else 1200
    with Stack("gallery-live") as stack:
        stack.start_redis()
        stack.setup_django("bench.site_settings", static=True)
        import logging

        logging.disable(logging.WARNING)
        from django.contrib.auth.models import User
        from django.utils import timezone

        from jobs import stamps, versions, views
        from jobs.models import Batch, Budget, Job

        stack.start_gunicorn()

        user = User.objects.create_user("bench-live")
        budget = Budget.objects.create(user=user, limit_cents=None)
        now = timezone.now()
        batch = Batch.objects.create(code=uuid.uuid4(), user=user)
        jobs = Job.objects.bulk_create(
            Job(
                user=user,
                budget=budget,
                batch=batch,
                source_url=f"https://images.example.com/{i}.jpg",
                source_name=f"photo-{i}.jpg",
                resolution="4k",
                state=Job.State.PENDING,
                task_id=f"task_{i}",
                created=now - timedelta(seconds=CARDS - i),
                updated=now - timedelta(seconds=CARDS - i),
            )
            for i in range(CARDS)
        )
        codes = [str(j.code) for j in jobs]
        pks = [j.pk for j in jobs]
        cookie = login_cookie(user)
        page = KeepAlive(stack.web_url, cookie).get("/")
        assert page[0] == 200, page
        oldest = re.search(rb"oldest=(\d+)", page[2])
        assert oldest, "the gallery page has no poller"
        oldest_stamp = oldest.group(1).decode()
        cards_on_page = page[2].count(b'class="card state-')

        def apply_changes(t0: float, t1: float) -> None:
            """Cards whose once-a-minute change falls in [t0, t1) of simulated time."""
            due = []
            for i in range(CARDS):
                at = (i + 0.5) * 60 / CARDS
                minutes = math.floor((t1 - at) / 60)
                if at + 60 * minutes >= t0:
                    due.append(i)
            for i in due:
                job = Job.objects.only("state", "user_id", "team_id").get(pk=pks[i])
                new = Job.State.PROCESSING if job.state == Job.State.PENDING else Job.State.PENDING
                Job.objects.filter(pk=pks[i]).update(state=new, updated=timezone.now())
                versions.bump(job)  # as Job.move does

        def run(design: str, tabs: int) -> dict[str, float]:
            per_tick = tabs * (1 if design == "ours" else CARDS)
            ticks = max(3, math.ceil(min_requests / per_tick))
            start_stamp = stamps.stamp(Job.objects.filter(pk__in=pks).latest("updated").updated)
            tab_since = [start_stamp] * tabs
            tab_version = [versions.current(user.pk, None)] * tabs
            card_since = {
                (t, c): stamps.stamp(j.updated)
                for t in range(tabs)
                for c, j in enumerate(Job.objects.filter(pk__in=pks).order_by("pk"))
            }
            connections = [KeepAlive(stack.web_url, cookie) for _ in range(min(8, per_tick))]
            counts = {"requests": 0, "200": 0, "204": 0, "bytes": 0}

            def one(w: int, item: tuple[int, int]) -> tuple[int, int, bytes, dict[str, str]]:
                t, c = item
                if design == "ours":
                    path = (
                        f"/gallery/poll/?since={tab_since[t]}&oldest={oldest_stamp}"
                        f"&v={tab_version[t]}"
                    )
                elif design == "per-card":
                    path = f"/bench/card/{codes[c]}/"
                else:
                    path = f"/bench/card/{codes[c]}/?since={card_since[(t, c)]}"
                status, headers, body = connections[w].get(path)
                return t, c, body, {"status": str(status), **headers}

            cpu0 = stack.gunicorn_cpu()
            started = time.monotonic()
            for k in range(ticks):
                sim = k * POLL_EVERY
                apply_changes(sim - POLL_EVERY, sim)
                items = (
                    [(t, 0) for t in range(tabs)]
                    if design == "ours"
                    else [(t, c) for t in range(tabs) for c in range(CARDS)]
                )
                for t, c, body, headers in run_parallel(items, len(connections), one):
                    status = headers["status"]
                    counts["requests"] += 1
                    counts[status] = counts.get(status, 0) + 1
                    counts["bytes"] += len(body)
                    if status == "200" and design == "ours":
                        m = SINCE.search(body)
                        assert m, body[:300]
                        tab_since[t] = m.group(1).decode()
                        v = VERSION.search(body)
                        assert v, body[:300]
                        tab_version[t] = v.group(1).decode()
                    elif status == "200" and design == "per-card + 204":
                        card_since[(t, c)] = headers["x-since"]
                    elif status not in ("200", "204"):
                        raise RuntimeError(f"{design}: HTTP {status}: {body[:300]!r}")
            wall = time.monotonic() - started
            cpu = stack.gunicorn_cpu() - cpu0
            for conn in connections:
                conn.close()
            scale = TICKS_PER_MINUTE / ticks
            return {
                "ticks": ticks,
                "req_min": per_tick * TICKS_PER_MINUTE,
                "share204": counts.get("204", 0) / counts["requests"],
                "cpu_ms_min": cpu * 1000 * scale,
                "kb_min": counts["bytes"] / 1024 * scale,
                "wall": wall,
                "measured": counts["requests"],
            }

        results = {}
        for tabs in TAB_COUNTS:
            for design in ("ours", "per-card", "per-card + 204"):
                results[(design, tabs)] = run(design, tabs)

        rows = []
        verdicts = []
        for tabs in TAB_COUNTS:
            ours = results[("ours", tabs)]
            for design in ("ours", "per-card", "per-card + 204"):
                r = results[(design, tabs)]
                if design == "ours":
                    ratio, target = "1x", ""
                else:
                    rq, cpu = r["req_min"] / ours["req_min"], r["cpu_ms_min"] / ours["cpu_ms_min"]
                    ok = rq >= 10 and cpu >= 10
                    verdicts.append(ok)
                    ratio = f"{rq:.0f}x requests, {cpu:.1f}x CPU"
                    target = f">= 10x both: {verdict(ok)}"
                rows.append(
                    [
                        design,
                        tabs,
                        f"{r['req_min']:,.0f}",
                        f"{r['share204']:.0%}",
                        f"{r['cpu_ms_min']:,.0f}",
                        f"{r['kb_min']:,.0f}",
                        f"{r['measured']:,} in {r['wall']:.1f} s",
                        ratio,
                        target,
                    ]
                )
        table(
            f"Live gallery: {CARDS} in-flight cards, every tab polling every {POLL_EVERY:g} s",
            [
                "design",
                "tabs",
                "requests/min",
                "204s",
                "server CPU ms/min",
                "body KB/min",
                "replayed",
                "per-card / ours",
                "target",
            ],
            rows,
        )
        print(
            f"The gallery page shows {cards_on_page} cards (PAGE_SIZE {views.PAGE_SIZE}); "
            f"per-card polling above polls all {CARDS} (with only page 1's cards polling it "
            f"would be {cards_on_page}/{CARDS} of the per-card figures). "
            "A 2-core server has 120,000 CPU ms per minute: 20 tabs of per-card polling "
            "would take all of it."
        )
        print(f"Measured with {load_note()}.")
        return 0


if __name__ == "__main__":
    sys.exit(main())
