"""Benchmark: what one site needs per image (docs/deploy.md, "Sizing").

    .venv/bin/python bench/sizing.py [--quick] [--images 60] [--in-flight 200]

Three numbers, each on a private stack (Redis, the engine with ENGINE_MODEL=lanczos, one
`rqworker --with-scheduler`, SQLite or the DATABASE_URL it is given):

1. Worker CPU per finished image, the whole path (download and check the URL source,
   store it, submit, charge, status reads, download the result, thumbnail), worker
   processes plus their work horses, over one batch; so images per hour per worker core.
   The engine's CPU is not counted: with a real APIXO key the upscaling is APIXO's.
2. Database rows per finished image: every table counted before and after that batch.
3. Redis memory per in-flight job: `INFO memory` (used_memory) before, and after N jobs
   accepted by the engine, which holds them (engine_stall=1) so they stay in flight, then
   again after some status reads, because RQ keeps each finished read's job hash for the
   queue's result TTL (600 s).
"""

from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import Stack, child_pids, flag, load_note, option, proc_cpu_seconds  # noqa: E402

POLL = 1.0  # seconds between status reads in this run (APIXO: 7 s, callbacks: 300 s)


def main() -> int:
    quick = flag("--quick")
    n = int(option("--images", "20" if quick else "60"))
    m = int(option("--in-flight", "50" if quick else "200"))
    with Stack("sizing") as stack:
        stack.start_redis()
        engine = stack.start_engine()
        stack.env.update(APIXO_FIRST_POLL=str(POLL), APIXO_POLL_INTERVAL=str(POLL))
        stack.setup_django()
        import logging

        logging.disable(logging.WARNING)
        import redis
        from django.contrib.auth.models import User
        from django.db import connection
        from rq import Worker

        from jobs.models import Budget, Job
        from jobs.submit import Source, submit_batch

        conn = redis.Redis.from_url(stack.redis_url)

        def start_worker(name: str) -> int:
            proc = stack.start_worker(name)
            deadline = time.monotonic() + 60
            while not Worker.all(connection=conn) and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(1)
            return proc.pid

        def rows() -> dict[str, int]:
            with connection.cursor() as c:
                counts = {}
                for table in connection.introspection.table_names(c):
                    c.execute(f'SELECT COUNT(*) FROM "{table}"')
                    counts[table] = c.fetchone()[0]
                return counts

        def wait(jobs, done, seconds: float) -> float:
            start = time.monotonic()
            while time.monotonic() - start < seconds:
                if done(jobs):
                    return time.monotonic() - start
                time.sleep(0.2)
            raise SystemExit(f"timed out: {list(jobs.values_list('state', flat=True))[:20]}")

        user = User.objects.create_user("bench-sizing")
        budget = Budget.objects.create(user=user, limit_cents=None)

        # 1 and 2: one batch of n images, start to finish, one worker.
        pid = start_worker("worker-1")
        before = rows()
        cpu0 = proc_cpu_seconds(pid, children=True)
        sources = [
            Source(name=f"s{i}.jpg", url=f"{engine}/samples/landscape.jpg?n={i}") for i in range(n)
        ]
        batch, _ = submit_batch(user, budget, uuid.uuid4(), sources, "2k", "jpg", force_new=True)
        jobs = Job.objects.filter(batch=batch)
        took = wait(jobs, lambda q: not q.filter(state__in=Job.IN_FLIGHT).exists(), 60 + n * 3)
        cpu = proc_cpu_seconds(pid, children=True) - cpu0
        cpu += sum(proc_cpu_seconds(c) for c in child_pids(pid))
        ok = jobs.filter(state="success").count()
        polls = sum(jobs.values_list("poll_count", flat=True)) / n
        after = rows()
        delta = {t: after[t] - before.get(t, 0) for t in after if after[t] != before.get(t, 0)}
        ms = 1000 * cpu / n
        print(load_note())
        print(f"\n1. {ok}/{n} images finished in {took:.1f} s with one worker")
        print(f"   worker CPU {ms:.0f} ms per image ({polls:.1f} status reads each)")
        print(f"   = {3_600_000 / ms:,.0f} images per hour per worker core")
        print(f"\n2. database rows per finished image: {sum(delta.values()) / n:.2f}")
        for table, d in sorted(delta.items(), key=lambda x: -x[1]):
            print(f"   {table}: {d / n:.2f}")

        # 3: m jobs held in flight by the engine.
        stack.stop(next(p for name, p in stack.procs if name == "worker-1"))
        conn.flushall()
        pid = start_worker("worker-2")
        used0 = int(conn.info("memory")["used_memory"])
        keys0 = conn.dbsize()
        sources = [
            Source(name=f"f{i}.jpg", url=f"{engine}/samples/logo.png?engine_stall=1&n={i}")
            for i in range(m)
        ]
        batch, _ = submit_batch(user, budget, uuid.uuid4(), sources, "2k", "jpg", force_new=True)
        jobs = Job.objects.filter(batch=batch)
        wait(jobs, lambda q: q.filter(state__in=("pending", "processing")).count() == m, 60 + m)
        time.sleep(2)  # the queue drains to the first status reads
        used1 = int(conn.info("memory")["used_memory"])
        reads0 = sum(jobs.values_list("poll_count", flat=True))
        cpu0 = proc_cpu_seconds(pid, children=True)
        time.sleep(15 if quick else 30)
        used2 = int(conn.info("memory")["used_memory"])
        reads = sum(jobs.values_list("poll_count", flat=True)) - reads0
        cpu = proc_cpu_seconds(pid, children=True) - cpu0
        per_job = (used1 - used0) / m
        per_read = (used2 - used1) / max(1, reads)
        print(f"\n3. Redis: {m} jobs in flight, {conn.dbsize() - keys0} more keys")
        print(f"   {per_job / 1024:.1f} KiB per in-flight job once accepted")
        print(f"   +{per_read / 1024:.2f} KiB per status read (kept for the 600 s result TTL)")
        print(
            f"   ({reads} status reads in the window, worker CPU {1000 * cpu / max(1, reads):.0f} ms each)"
        )
        kinds: dict[str, list[int]] = {}
        for key in conn.scan_iter(count=1000):
            name = key.decode()
            kind = ":".join(p for p in name.split(":")[:3] if not any(ch.isdigit() for ch in p))
            kinds.setdefault(kind, []).append(int(conn.memory_usage(key) or 0))
        for kind, sizes in sorted(kinds.items(), key=lambda x: -sum(x[1]))[:6]:
            print(f"   {kind}: {len(sizes)} keys, {sum(sizes) / 1024:.0f} KiB")
        for label, interval in (("polling every 7 s", 7), ("callbacks, 300 s safety", 300)):
            steady = per_job + per_read * 600 / interval
            print(f"   steady state, {label}: ~{steady / 1024:.0f} KiB per job")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
