"""Benchmark: stream the ledger CSV for 1,000,000 charges; report time and peak memory.

    .venv/bin/python bench/ledger_csv.py [rows]

Uses its own SQLite file in the temp dir (kept, so a second run skips the slow seeding),
never the app's database, and no Redis (sessions in the database, a local cache).
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
DB = Path(tempfile.gettempdir()) / f"upscaler-bench-ledger-{ROWS}.sqlite3"
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "upscaler_site.settings")
os.environ["SQLITE_PATH"] = str(DB)

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402

from jobs.models import Budget, Charge  # noqa: E402

settings.SESSION_ENGINE = "django.contrib.sessions.backends.db"
settings.ALLOWED_HOSTS = ["testserver"]
settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def seed() -> None:
    Charge.objects.all().delete()
    users = [User.objects.get_or_create(username=f"u{n}")[0] for n in range(20)]
    budgets = [Budget.for_user(u) for u in users]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    t = time.monotonic()
    batch = []
    for n in range(ROWS):
        batch.append(
            Charge(
                job_code=uuid.uuid4(),
                budget=budgets[n % 20],
                user=users[n % 20],
                amount_cents=1,
                created=start + timedelta(seconds=n * 20),
            )
        )
        if len(batch) == 10_000:
            Charge.objects.bulk_create(batch)
            batch = []
    Charge.objects.bulk_create(batch)
    print(f"seeded {ROWS:,} charges in {time.monotonic() - t:.1f} s")


def main() -> None:
    call_command("migrate", verbosity=0)
    staff, _ = User.objects.get_or_create(username="root", defaults={"is_staff": True})
    if Charge.objects.count() != ROWS:
        seed()
    client = Client()
    client.force_login(staff)
    before = rss_mb()
    t = time.monotonic()
    response = client.get("/spend/ledger.csv?start=2026-01-01&end=2027-12-31")
    lines = size = total = 0
    for chunk in response.streaming_content:  # type: ignore[attr-defined]
        lines += 1
        size += len(chunk)
        if lines > 1:
            total += int(chunk.split(b",")[2])
    took = time.monotonic() - t
    print(
        f"streamed {lines - 1:,} rows ({size / 1e6:.0f} MB) in {took:.1f} s; "
        f"sum {total:,} cents; peak RSS {before:.0f} MB before, {rss_mb():.0f} MB after"
    )


if __name__ == "__main__":
    main()
