"""Benchmark: APIXO calls per image, polling mode vs callback mode vs a naive 2-s poller.

    .venv/bin/python bench/apixo_calls.py [--quick] [--time-factor 1] [--images 8]

The embedded engine takes a fixed 20 s per task (`engine_delay=20`), compressed by
ENGINE_TIME_FACTOR; our poll schedule is compressed by the same factor (first read 12 s,
then every 7 s, safety poll 300 s, as against real APIXO), so the counts are the ones real
timings give. The default factor is 1 (about 30 s): RQ's scheduler wakes once a second,
and at a compressed factor that second is worth more, so a read can land late enough to
find the task done one read sooner (--quick uses 0.5 and may count 2 reads, not 3). Both of our modes run at once, each with its own RQ worker and queue (the
callback worker's queue is the one the web server's webhook enqueues confirmations on);
the naive client (submit, then a status read every 2 s until done) runs beside them.

Counted twice: by the app (Job.submit_attempts, Job.poll_count) and from the engine's
access log (generateTask posts and statusTask reads per taskId).
"""

from __future__ import annotations

import math
import re
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import Stack, flag, load_note, option, table, verdict  # noqa: E402

LATENCY = 20.0  # seconds, as APIXO would take
NAIVE_INTERVAL = 2.0


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
    n = int(option("--images", "4" if quick else "8"))
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
        stack.setup_django()
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
        queues = {
            "polling": Queue("default", connection=redis.Redis.from_url(polling_redis)),
            "callback": Queue("default", connection=redis.Redis.from_url(callback_redis)),
        }
        engine = stack.engine_url
        started: dict[str, float] = {}
        batches = {}
        for mode in ("polling", "callback"):
            sources = [
                Source(
                    name=f"{mode}-{i}.jpg",
                    url=f"{engine}/samples/landscape.jpg?engine_delay={LATENCY:g}&b={mode}-{i}",
                )
                for i in range(n)
            ]

            def enqueue(job_id: int, q: Queue = queues[mode]) -> None:
                q.enqueue("jobs.tasks.start_job", job_id)

            with mock.patch("jobs.tasks.enqueue_start", enqueue):
                import uuid

                started[mode] = time.monotonic()
                batches[mode], _ = submit_batch(user, budget, uuid.uuid4(), sources, "2k", "jpg")

        # --- the naive client: submit, then read the status every 2 s until it is done ---
        naive: list[dict[str, object]] = []
        headers = {"Authorization": "Bearer embedded-engine-key"}

        def naive_client(i: int) -> None:
            s = requests.Session()
            t0 = time.monotonic()
            payload = {
                "request_type": "async",
                "input": {
                    "mode": "image-to-image",
                    "image_urls": [
                        f"{engine}/samples/landscape.jpg?engine_delay={LATENCY:g}&b=naive-{i}"
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
            f"engine log: {engine_submits} generateTask posts for {2 * n + len(naive)} images "
            f"(app counted {totals_submits} + naive {len(naive)})"
        )
        print(f"Measured with {load_note()}.")
        return 0


if __name__ == "__main__":
    sys.exit(main())
