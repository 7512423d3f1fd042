"""Benchmark: 1,000 images submitted as one batch; time until the engine accepted them all.

    .venv/bin/python bench/throughput.py [--quick] [--images 1000] [--workers 1,2,4]

One batch of URL sources (`submit_batch`, as the form does, without the form's 50-image
cap), worked by 1, 2 and 4 `manage.py rqworker --with-scheduler` processes. Each job is
the real path: the worker downloads and checks the source (from the engine's /samples/),
stores it, claims a submission slot, calls generateTask, charges the job and schedules its
first status read. The engine holds every task (`engine_stall=1`), so it spends no CPU
upscaling, as remote APIXO would not; first status reads are deferred past the run
(APIXO_FIRST_POLL=3600) so the table measures the submit path alone.

CPU per job is read from /proc: the worker processes with their finished work horses
(RQ forks one per job), the engine, and Redis. The alternative beside it is the floor: this
process posting the same 1,000 generateTask calls straight to the engine (1 and 4 threads).
A last row runs 2 workers with RQ's SimpleWorker (no fork per job), to show what the
per-job fork costs.
"""

from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (  # noqa: E402
    Stack,
    child_pids,
    flag,
    load_note,
    option,
    proc_cpu_seconds,
    run_parallel,
    table,
)

KEY = "embedded-engine-key"


def main() -> int:
    quick = flag("--quick")
    n = int(option("--images", "200" if quick else "1000"))
    counts = [int(x) for x in option("--workers", "1,2,4").split(",")]
    # (workers, worker class): the default forks a work horse per job; SimpleWorker does not.
    runs = [(w, "") for w in counts] + [(2, "rq.worker.SimpleWorker")]
    with Stack("throughput") as stack:
        stack.start_redis()
        engine = stack.start_engine()
        stack.env["APIXO_FIRST_POLL"] = "3600"
        stack.setup_django()
        import logging

        logging.disable(logging.WARNING)
        import redis
        import requests
        from django.contrib.auth.models import User
        from rq import Worker

        from jobs.models import Budget, Job
        from jobs.submit import Source, submit_batch

        conn = redis.Redis.from_url(stack.redis_url)
        engine_proc = next(p for name, p in stack.procs if name == "engine")
        redis_proc = next(p for name, p in stack.procs if name == "redis")
        user = User.objects.create_user("bench-throughput")
        budget = Budget.objects.create(user=user, limit_cents=None)

        def cpu(pids: list[int]) -> float:
            return sum(proc_cpu_seconds(pid, children=True) for pid in pids)

        results = []
        for workers, worker_class in runs:
            conn.flushdb()
            args = ["--worker-class", worker_class] if worker_class else []
            procs = [
                stack.start_worker(f"worker-{workers}-{i}{worker_class}", args)
                for i in range(workers)
            ]
            deadline = time.monotonic() + 60
            while len(Worker.all(connection=conn)) < workers and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(1)
            sources = [
                Source(
                    name=f"w{workers}-{i}.jpg",
                    url=f"{engine}/samples/landscape.jpg?engine_stall=1&w={workers}&n={i}",
                )
                for i in range(n)
            ]
            pids = [p.pid for p in procs]
            cpu0 = (cpu(pids), cpu([engine_proc.pid]), cpu([redis_proc.pid]))
            start = time.monotonic()
            batch, _ = submit_batch(user, budget, uuid.uuid4(), sources, "4k", "jpg")
            enqueued = time.monotonic() - start
            marks: dict[int, float] = {}
            jobs = Job.objects.filter(batch=batch)
            timeout = time.monotonic() + max(120, n * 0.6)
            accepted = 0
            while time.monotonic() < timeout:
                accepted = jobs.filter(submitted_at__isnull=False).count()
                for q in (50, 90, 100):
                    if q not in marks and accepted >= n * q / 100:
                        marks[q] = time.monotonic() - start
                if accepted >= n or not jobs.filter(state__in=Job.IN_FLIGHT[:2]).exists():
                    break
                time.sleep(0.2)
            took = time.monotonic() - start
            # Work horses still running are children of the workers: include them now.
            live = [c for pid in pids for c in child_pids(pid)]
            used = (
                cpu(pids) + sum(proc_cpu_seconds(c) for c in live) - cpu0[0],
                cpu([engine_proc.pid]) - cpu0[1],
                cpu([redis_proc.pid]) - cpu0[2],
            )
            failed = jobs.exclude(state__in=Job.IN_FLIGHT).exclude(state="success").count()
            results.append((workers, worker_class, accepted, marks, took, used, failed, enqueued))
            for p in procs:
                stack.stop(p)

        # The floor: the same generateTask calls straight from here, with keep-alive.
        floor = []
        for threads in (1, 4):
            sessions = [requests.Session() for _ in range(threads)]

            def post(
                w: int, i: int, threads: int = threads, sessions: list[requests.Session] = sessions
            ) -> int:
                payload = {
                    "request_type": "async",
                    "input": {
                        "mode": "image-to-image",
                        "image_urls": [
                            f"{engine}/samples/landscape.jpg?engine_stall=1&floor={threads}&n={i}"
                        ],
                        "resolution": "4k",
                        "output_format": "jpg",
                    },
                }
                r = sessions[w].post(
                    f"{engine}/api/v1/generateTask/image-upscaler",
                    json=payload,
                    headers={"Authorization": f"Bearer {KEY}"},
                )
                return int(r.status_code)

            e0 = cpu([engine_proc.pid])
            t = time.monotonic()
            statuses = run_parallel(list(range(n)), threads, post)
            floor.append(
                (threads, time.monotonic() - t, cpu([engine_proc.pid]) - e0, statuses.count(200))
            )

        rows = []
        for workers, worker_class, accepted, marks, took, used, failed, _ in results:
            worker_ms, engine_ms, redis_ms = (x * 1000 / max(1, accepted) for x in used)
            total = took if accepted >= n else float("nan")
            rows.append(
                [
                    f"ours, {workers} worker{'s' if workers > 1 else ''}"
                    + (
                        f" ({worker_class.rsplit('.', 1)[-1]}: no fork per job)"
                        if worker_class
                        else ""
                    ),
                    f"{accepted}/{n}" + (f" ({failed} failed)" if failed else ""),
                    f"{marks.get(50, float('nan')):.1f}",
                    f"{marks.get(90, float('nan')):.1f}",
                    f"{total:.1f}",
                    f"{accepted / took:.1f}",
                    f"{worker_ms:.0f} / {engine_ms:.0f} / {redis_ms:.1f}",
                ]
            )
        for threads, took, engine_s, ok in floor:
            rows.append(
                [
                    f"floor: generateTask straight from one process, {threads} thread"
                    + ("s" if threads > 1 else ""),
                    f"{ok}/{n}",
                    "",
                    "",
                    f"{took:.1f}",
                    f"{n / took:.1f}",
                    f"- / {engine_s * 1000 / n:.0f} / -",
                ]
            )
        table(
            f"Throughput: {n} images in one batch until all accepted by the engine "
            f"(batch enqueued in {results[0][7]:.1f} s)",
            [
                "submitter",
                "accepted",
                "50% at s",
                "90% at s",
                "all at s",
                "images/s",
                "CPU ms per image: workers / engine / Redis",
            ],
            rows,
        )
        print(
            "This machine has 2 cores (200 CPU-ms per 100 ms); the worker CPU per image "
            "bounds what more workers can add. Jobs' first status reads were deferred."
        )
        print(f"Measured with {load_note()}.")
        return 0


if __name__ == "__main__":
    sys.exit(main())
