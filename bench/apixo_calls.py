"""Benchmark: APIXO calls per image, polling mode vs callback mode vs a naive 2-s poller;
and how soon polling mode sees a task done, before and after it learnt the tier's latency.

    .venv/bin/python bench/apixo_calls.py [--quick] [--time-factor 1] [--images 8]

Each task's latency is drawn from a spread-out distribution (log-normal, median 20 s,
sigma SPREAD: 90% between 17 and 24 s), set per image with `engine_delay`, compressed by
ENGINE_TIME_FACTOR; our poll schedule is compressed by the same factor (first read 12 s,
then every 7 s, safety poll 300 s, as against real APIXO), so the counts are the ones real
timings give. Round 1 runs on a site that knows nothing of the tier (APIXO's documented
schedule: reads at 12, 19, 26 s); round 2, polling mode only, on what round 1 taught it
(jobs/estimates.py). The lag is from APIXO's completeTime to the job's success, and to the
card's: two gallery pages poll beside the rounds as a browser's page does (bench/card_poller.py,
the same poll URL and 204 fast path, logged in): one every 2 s (the page before), one as
static/js/app.js does now (every 2 s, and every 0.5 s near a card's learnt estimate); each
notes when a card first comes back as success. The default factor is 1 (about 30 s): RQ's scheduler wakes once a second,
and at a compressed factor that second is worth more, so a read can land late enough to
find the task done one read sooner (--quick uses 0.5 and may count 2 reads, not 3). Both of our modes run at once, each with its own RQ worker and queue (the
callback worker's queue is the one the web server's webhook enqueues confirmations on);
the naive client (submit, then a status read every 2 s until done) runs beside them.

Counted twice: by the app (Job.submit_attempts, Job.poll_count) and from the engine's
access log (generateTask posts and statusTask reads per taskId).
"""

from __future__ import annotations

import math
import random
import re
import sys
import threading
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from statistics import NormalDist
from typing import Any
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.card_poller import CardPoller  # noqa: E402
from bench.harness import Stack, flag, load_note, median, option, pct, table, verdict  # noqa: E402

LATENCY = 20.0  # seconds, the median task, as APIXO would take
SPREAD = 0.1  # sigma of the log-normal around it
NAIVE_INTERVAL = 2.0
FIRST_POLL_ADVICE = 10.0  # APIXO: "first poll 10-15 s after task creation"
draw = random.Random(11)


def latencies(k: int) -> list[float]:
    """k task latencies from the distribution, one from each k-quantile (in random order),
    so that a batch of 8 spans it rather than landing by luck in one half of it."""
    z = NormalDist()
    drawn = [LATENCY * math.exp(SPREAD * z.inv_cdf((i + draw.random()) / k)) for i in range(k)]
    draw.shuffle(drawn)
    return [round(x, 2) for x in drawn]


def nominal_reads(first: float, interval: float, latency: float) -> int:
    """Status reads a job makes on our schedule if the task is done at `latency` s."""
    reads, t = 1, first
    while t < latency:
        t += interval
        reads += 1
    return reads


def main() -> int:
    quick = flag("--quick")
    f = float(option("--time-factor", "0.5" if quick else "1"))
    n = int(option("--images", "6" if quick else "8"))  # round 2 learns from 2n
    with Stack("apixo-calls") as stack:
        stack.start_redis()
        base = stack.redis_url.rsplit("/", 1)[0]
        polling_redis, callback_redis = f"{base}/0", f"{base}/2"
        stack.start_engine(
            ENGINE_TIME_FACTOR=str(f),
            ENGINE_CALLBACK_DELAY_FACTOR=str(f),
            ENGINE_WORKERS=str(3 * n + 2),
        )
        timing = {
            "APIXO_FIRST_POLL": str(12 * f),
            "APIXO_POLL_INTERVAL": str(7 * f),
            "APIXO_POLL_INTERVAL_8K": str(12 * f),
            "APIXO_SAFETY_POLL": str(300 * f),
            "APIXO_BACKOFF_BASE": str(5 * f),
            "APIXO_BACKOFF_MAX": str(120 * f),
        }
        stack.env.update(timing)
        stack.setup_django(static=True)  # the pages below render the gallery in-process
        import logging

        logging.disable(logging.WARNING)
        import redis
        import requests
        from django.contrib.auth.models import User
        from rq import Queue

        from jobs.models import Budget, Job
        from jobs.submit import Source, submit_batch

        # The web server only receives callbacks; their confirmations go to the callback queue.
        stack.start_gunicorn("upscaler_site.settings", workers=1, REDIS_URL=callback_redis)
        stack.start_worker("worker-polling", REDIS_URL=polling_redis, APIXO_CALLBACKS="off")
        stack.start_worker("worker-callback", REDIS_URL=callback_redis, APIXO_CALLBACKS="on")
        time.sleep(2)  # both workers registered and their schedulers holding the lock

        user = User.objects.create_user("bench-calls")
        budget = Budget.objects.create(user=user, limit_cents=None)
        pages = {
            "every 2 s (before)": CardPoller(user, soon=False, f=f),
            "2 s, 0.5 s near the estimate (now)": CardPoller(user, soon=True, f=f),
        }
        for page in pages.values():
            page.start()
        queues = {
            "polling": Queue("default", connection=redis.Redis.from_url(polling_redis)),
            "callback": Queue("default", connection=redis.Redis.from_url(callback_redis)),
        }
        engine = stack.engine_url
        headers = {"Authorization": "Bearer embedded-engine-key"}

        def run_round(tag: str) -> tuple[dict[str, Any], list[dict[str, object]]]:
            """Both of our modes and the naive client at once, n images each; wait for all."""
            batches = {}
            for mode in ("polling", "callback"):
                sources = [
                    Source(
                        name=f"{tag}-{mode}-{i}.jpg",
                        url=f"{engine}/samples/landscape.jpg?engine_delay={d:g}&b={tag}-{mode}-{i}",
                    )
                    for i, d in enumerate(latencies(n))
                ]

                def enqueue(job_id: int, q: Queue = queues[mode]) -> None:
                    q.enqueue("jobs.tasks.start_job", job_id)

                with mock.patch("jobs.tasks.enqueue_start", enqueue):
                    import uuid

                    batches[mode], _ = submit_batch(
                        user, budget, uuid.uuid4(), sources, "2k", "jpg", force_new=True
                    )

            # --- the naive client: submit, then read the status every 2 s until it is done ---
            naive: list[dict[str, object]] = []

            def naive_client(i: int) -> None:
                s = requests.Session()
                t0 = time.monotonic()
                payload = {
                    "request_type": "async",
                    "input": {
                        "mode": "image-to-image",
                        "image_urls": [
                            f"{engine}/samples/landscape.jpg?engine_delay={delays[i]:g}&b={tag}-naive-{i}"
                        ],
                        "resolution": "2k",
                        "output_format": "jpg",
                    },
                }
                r = s.post(
                    f"{engine}/api/v1/generateTask/image-upscaler", json=payload, headers=headers
                )
                task_id = r.json()["data"]["taskId"]
                reads = 0
                state = "pending"
                while state not in ("success", "failed"):
                    time.sleep(NAIVE_INTERVAL * f)
                    reads += 1
                    state = s.get(
                        f"{engine}/api/v1/statusTask/image-upscaler",
                        params={"taskId": task_id},
                        headers=headers,
                    ).json()["data"]["state"]
                naive.append(
                    {"task": task_id, "submits": 1, "reads": reads, "took": time.monotonic() - t0}
                )

            delays = latencies(n)
            threads = [threading.Thread(target=naive_client, args=(i,)) for i in range(n)]
            for t in threads:
                t.start()

            deadline = time.monotonic() + (LATENCY + 60) * f + 60
            done_at: dict[str, float] = {}
            while time.monotonic() < deadline and len(done_at) < 2:
                for mode, batch in batches.items():
                    jobs = Job.objects.filter(batch=batch)
                    if mode not in done_at and not jobs.filter(state__in=Job.IN_FLIGHT).exists():
                        done_at[mode] = time.monotonic()
                time.sleep(0.1)
            for t in threads:
                t.join(timeout=max(1.0, deadline - time.monotonic()))
            if len(done_at) < 2:
                print("Timed out; worker logs:\n" + stack.log_tail("worker-polling"))
                print(stack.log_tail("worker-callback"))

            return batches, naive

        batches, naive = run_round("r1")
        # Round 2: the same load again, on what round 1 taught the site.
        from jobs import estimates

        learnt = estimates.table().get("2k") or {}
        r2_start = time.time()
        learnt_batch = run_round("r2")[0]["polling"]
        r2_end = time.time()
        time.sleep(2 * f + 0.5)  # the pages' next poll after the last job
        for page in pages.values():
            page.stop.set()
            page.join(timeout=10)

        # --- the engine's own count, from its access log --------------------------------
        log = (stack.tmp / "engine.log").read_text(errors="replace")
        engine_reads = Counter(
            re.findall(r"GET /api/v1/statusTask/image-upscaler\?taskId=(\S+)", log)
        )
        engine_submits = len(re.findall(r"POST /api/v1/generateTask/image-upscaler", log))

        rows: list[list[object]] = []
        totals_submits = 0
        results = {}
        for mode in ("polling", "callback"):
            mode_jobs = list(Job.objects.filter(batch=batches[mode]))
            states = Counter(j.state for j in mode_jobs)
            submits = [j.submit_attempts for j in mode_jobs]
            reads = [j.poll_count for j in mode_jobs]
            logged = [engine_reads.get(j.task_id, 0) for j in mode_jobs]
            totals_submits += sum(submits)
            took = [
                (j.finished_at - j.created).total_seconds() / f for j in mode_jobs if j.finished_at
            ]
            via = sum(j.via_callback for j in mode_jobs)
            results[mode] = (max(submits), max(reads), min(submits))
            rows.append(
                [
                    f"ours, {mode}"
                    + (f" ({via}/{len(mode_jobs)} via callback)" if mode == "callback" else ""),
                    f"{len(mode_jobs)} ({dict(states)})",
                    f"{sum(submits) / len(mode_jobs):.2f} (max {max(submits)})",
                    f"{sum(reads) / len(mode_jobs):.2f} (max {max(reads)})",
                    f"{sum(logged) / len(mode_jobs):.2f} (max {max(logged)})",
                    f"{sum(took) / max(1, len(took)):.1f}",
                ]
            )
        nv_reads = [int(str(x["reads"])) for x in naive]
        nv_logged = [engine_reads.get(str(x["task"]), 0) for x in naive]
        nv_took = [float(str(x["took"])) / f for x in naive]
        rows.append(
            [
                f"naive, read every {NAIVE_INTERVAL:g} s",
                len(naive),
                "1.00 (max 1)",
                f"{sum(nv_reads) / max(1, len(nv_reads)):.2f} (max {max(nv_reads, default=0)})",
                f"{sum(nv_logged) / max(1, len(nv_logged)):.2f} (max {max(nv_logged, default=0)})",
                f"{sum(nv_took) / max(1, len(nv_took)):.1f}",
            ]
        )
        table(
            f"APIXO calls per image (task takes {LATENCY:g} s; time factor {f:g}; {n} images each)",
            [
                "client",
                "images",
                "submits / image",
                "status reads / image (app)",
                "status reads / image (engine log)",
                "submit to done, s (real-time equivalent)",
            ],
            rows,
        )
        p_sub, p_reads, p_min = results["polling"]
        c_sub, c_reads, c_min = results["callback"]
        poll_ok = p_sub == 1 and p_min == 1 and p_reads <= 4
        cb_ok = c_sub == 1 and c_min == 1 and c_reads <= 1
        expected = nominal_reads(12, 7, LATENCY)
        table(
            "APIXO calls: targets",
            ["mode", "target", "measured (worst image)", "on paper", "verdict"],
            [
                [
                    "polling",
                    "<= 1 submit + 4 reads",
                    f"{p_sub} submit + {p_reads} read{'s' * (p_reads != 1)}",
                    f"1 + {expected} (reads at 12, 19, 26 s)",
                    verdict(poll_ok),
                ],
                [
                    "callback",
                    "1 submit + <= 1 read",
                    f"{c_sub} submit + {c_reads} read{'s' * (c_reads != 1)}",
                    "1 + 1 (the confirmation)",
                    verdict(cb_ok),
                ],
                [
                    "naive 2-s poller",
                    "(for comparison)",
                    f"1 submit + {max(nv_reads, default=0)} reads",
                    f"1 + {math.ceil(LATENCY / NAIVE_INTERVAL)}",
                    "",
                ],
            ],
        )
        print(
            f"engine log: {engine_submits} generateTask posts for {2 * (3 * n)} images in two "
            f"rounds (round 1: app counted {totals_submits} + naive {len(naive)})"
        )
        _completion_to_success(log, f, batches["polling"], learnt_batch, learnt, pages)
        _polls_per_round(pages, r2_start, r2_end, f)
        print(f"Measured with {load_note()}.")
        return 0


BEFORE = "round 1: unknown tier (APIXO's schedule)"
AFTER = "round 2: learnt"


def _known[T](value: T | None) -> T:
    """A field the query above made sure is set (the jobs that APIXO finished)."""
    assert value is not None
    return value


def _polls_per_round(pages: dict[str, CardPoller], start: float, end: float, f: float) -> None:
    """What the faster poll costs: gallery polls per minute during round 2 (learnt)."""
    minutes = max(1e-9, (end - start) / f / 60)
    print(
        "gallery polls per minute in round 2 (real-time equivalent): "
        + "; ".join(
            f"{name}: {page.polls_between(start, end) / minutes:.0f}"
            + (f" ({page.errors} failed)" if page.errors else "")
            for name, page in pages.items()
        )
    )


def _completion_to_success(
    log: str,
    f: float,
    before: Any,
    after: Any,
    learnt: dict[str, Any],
    pages: dict[str, CardPoller],
) -> None:
    """Table and targets: APIXO's completion to the job's success, rounds 1 and 2."""
    from jobs.models import Job

    first_read: dict[str, float] = {}
    last_read: dict[str, float] = {}
    stamp = r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) .*GET /api/v1/statusTask/image-upscaler\?taskId=(\S+)"
    for when, task in re.findall(stamp, log):
        t = datetime.strptime(when, "%Y-%m-%d %H:%M:%S,%f").timestamp()
        first_read.setdefault(task, t)
        last_read[task] = t
    rows, measured = [], {}
    card_rows: list[list[object]] = []
    card_measured: dict[str, dict[str, float]] = {}
    for label, batch in (
        ("round 1: unknown tier (APIXO's schedule)", before),
        ("round 2: learnt", after),
    ):
        jobs = [j for j in Job.objects.filter(batch=batch) if j.apixo_complete_time]
        lags = [
            (_known(j.finished_at).timestamp() - _known(j.apixo_complete_time) / 1000) / f
            for j in jobs
        ]
        reads = [j.poll_count for j in jobs]
        # The lag in two parts: until the read that saw success, and from it to success
        # (the worker's fork, the result's download, the thumbnail).
        to_read = [
            (last_read[j.task_id] - _known(j.apixo_complete_time) / 1000) / f
            for j in jobs
            if j.task_id in last_read
        ]
        after_read = [
            (_known(j.finished_at).timestamp() - last_read[j.task_id]) / f
            for j in jobs
            if j.task_id in last_read
        ]
        firsts = [
            (first_read[j.task_id] - _known(j.apixo_create_time) / 1000) / f
            for j in jobs
            if j.task_id in first_read and j.apixo_create_time
        ]
        took = [
            (_known(j.apixo_complete_time) - _known(j.apixo_create_time)) / 1000 / f for j in jobs
        ]
        # What the engine added to each task's drawn delay (fetch, resize, encode, load).
        extra = [
            t - float(re.search(r"engine_delay=([\d.]+)", j.source_url)[1])  # type: ignore[index]
            for t, j in zip(took, jobs, strict=True)
        ]
        measured[label] = (median(lags), max(reads, default=99), min(firsts, default=0.0))
        cards = {
            name: [
                (page.success_at[str(j.code)] - _known(j.apixo_complete_time) / 1000) / f
                for j in jobs
                if str(j.code) in page.success_at
            ]
            for name, page in pages.items()
        }
        card_measured[label] = {name: median(v) for name, v in cards.items()}
        card_rows.extend(
            [
                label,
                name,
                f"{len(v)}/{len(jobs)}",
                f"{median(v):.2f}",
                f"{pct(v, 90):.2f}",
                f"{median(v) - median(lags):.2f}",
            ]
            for name, v in cards.items()
        )
        rows.append(
            [
                label,
                f"{len(jobs)}",
                f"{min(took, default=0):.1f}-{max(took, default=0):.1f}",
                f"{median(extra):.1f}",
                f"{median(lags):.2f}",
                f"{pct(lags, 90):.2f}",
                f"{median(to_read):.2f} + {median(after_read):.2f}",
                f"{sum(reads) / max(1, len(reads)):.2f} (max {max(reads, default=0)})",
                f"{min(firsts, default=0):.1f}",
            ]
        )
    table(
        f"Polling: APIXO's completion to the job's success (real-time equivalent s; time factor {f:g})",
        [
            "round",
            "images",
            "task latency, s",
            "engine's own part, s (median)",
            "median lag, s",
            "p90 lag, s",
            "median: to the read + after it, s",
            "status reads / image",
            "earliest first read after createTime, s",
        ],
        rows,
    )
    table(
        f"Polling: APIXO's completion to the card showing success, as a gallery page polls "
        f"(real-time equivalent s; time factor {f:g})",
        ["round", "page polls", "cards seen", "median lag, s", "p90 lag, s", "added by the page"],
        card_rows,
    )
    plan = learnt.get("reads") or []
    print(
        f"learnt for 2k before round 2: {learnt.get('n', 0)} jobs, median latency "
        f"{(learnt.get('latency') or 0) / f:.1f} s, reads at "
        + ", ".join(f"{t / f:.1f}" for t in plan)
        + " s after the submit"
    )
    from jobs import estimates

    print(
        f"status reads ran {estimates.lateness() / f:.2f} s late on average (learnt; sent that much sooner)"
    )
    lag, worst, _ = measured[AFTER]
    before_lag, before_reads, first = measured[BEFORE]
    card_before, card_now = card_measured[AFTER].values()
    table(
        "Polling lag: targets",
        ["target", "measured", "before (round 1)", "verdict"],
        [
            [
                "median completion to success <= 2 s (learnt)",
                f"{lag:.2f} s",
                f"{before_lag:.2f} s",
                verdict(lag <= 2),
            ],
            [
                "median completion to the CARD's success <= 2 s (learnt; the page's poll)",
                f"{card_now:.2f} s",
                f"{card_before:.2f} s (round 2, 2-s poll)",
                verdict(card_now <= 2),
            ],
            [
                "<= 4 status reads per image (learnt, worst image)",
                f"{worst}",
                f"{before_reads}",
                verdict(worst <= 4),
            ],
            [
                f"unknown tier: first read >= {FIRST_POLL_ADVICE:g} s after creation (advice)",
                f"{first:.1f} s",
                "",
                verdict(first >= FIRST_POLL_ADVICE - 0.05),
            ],
        ],
    )


if __name__ == "__main__":
    sys.exit(main())
