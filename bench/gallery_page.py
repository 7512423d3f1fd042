"""Benchmark: the gallery page with 1,000 jobs in the account, vs an unpaginated gallery.

    .venv/bin/python bench/gallery_page.py [--quick]

Accounts: one with 10 jobs, one with 1,000 (mostly finished, with thumbnails; a few failed;
the newest 5 in flight), and a team of two members with 1,000 jobs (its cards say who
submitted each, so a missing select_related would show as one query per card).

1. Query counts, in this process (same database and Redis cache), for 10 and 1,000 jobs,
   page 1 and page 20, the team's gallery, and with PAGE_SIZE raised from 24 to 96.
   tests/test_query_counts.py asserts the same in the test suite.
2. Time, served by gunicorn (2 gthread workers): wrk with 1 thread and 1 connection; server
   time and queries from the bench middleware. The alternative is the obvious gallery
   without pagination or select_related (`/bench/gallery-naive/`), every card at once.
"""

from __future__ import annotations

import sys
import uuid
from datetime import timedelta
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (  # noqa: E402
    Stack,
    TimingLog,
    flag,
    load,
    load_note,
    login_cookie,
    median,
    pct,
    table,
    verdict,
)

P95_TARGET_MS = 50


def seed(user, n: int, budget, team=None, others=()) -> None:
    """n jobs in batches of 10 (as form posts make them), mostly finished with files, some
    failed, the newest 5 in flight; in a team, submitted by user and others in turn."""
    from django.utils import timezone

    from jobs.models import Batch, Job

    now = timezone.now()
    batches = Batch.objects.bulk_create(
        Batch(code=uuid.uuid4(), user=user, created=now - timedelta(minutes=n - i))
        for i in range(0, n, 10)
    )
    submitters = [user, *others]
    jobs = []
    for i in range(n):
        age = timedelta(minutes=n - i)
        state = (
            Job.State.PROCESSING
            if i >= n - 5
            else Job.State.FAILED
            if i % 37 == 0
            else Job.State.SUCCESS
        )
        done = state == Job.State.SUCCESS
        jobs.append(
            Job(
                user=submitters[i % len(submitters)],
                team=team,
                budget=budget,
                batch=batches[i // 10],
                source_url=f"https://images.example.com/{i}.jpg",
                source_name=f"holiday-photo-{i}.jpg",
                resolution="4k",
                state=state,
                fail_code="SensitiveContent" if state == Job.State.FAILED else "",
                result_file=f"results/r{i}.jpg" if done else "",
                thumbnail=f"thumbs/t{i}.webp" if done else "",
                result_width=4096 if done else None,
                result_height=2731 if done else None,
                result_bytes=3_400_000 if done else None,
                created=now - age,
                updated=now - age + timedelta(seconds=30),
                finished_at=now - age + timedelta(seconds=30) if done else None,
            )
        )
    Job.objects.bulk_create(jobs, batch_size=500)


def main() -> int:
    quick = flag("--quick")
    seconds = 3 if quick else 5
    with Stack("gallery-page") as stack:
        stack.start_redis()
        timing_dir = stack.tmp / "timing"
        stack.setup_django("bench.site_settings", static=True)
        import logging

        logging.disable(logging.WARNING)
        from django.contrib.auth.models import User
        from django.contrib.sessions.backends.cached_db import SessionStore
        from django.db import connection
        from django.test import Client
        from django.test.utils import CaptureQueriesContext

        from jobs import access, views
        from jobs.models import Budget, Membership
        from teams.services import create_team

        timing = TimingLog(timing_dir)
        stack.start_gunicorn(BENCH_TIMING_DIR=str(timing_dir))

        small = User.objects.create_user("bench-ten")
        seed(small, 10, Budget.objects.create(user=small, limit_cents=None))
        big = User.objects.create_user("bench-thousand")
        seed(big, 1000, Budget.objects.create(user=big, limit_cents=None))
        mate = User.objects.create_user("bench-mate")
        Budget.objects.create(user=mate)
        team = create_team(big, "Bench team")
        Membership.objects.create(team=team, user=mate, role=Membership.Role.MEMBER)
        seed(big, 1000, team.budget, team=team, others=[mate])

        cookies = {"10 jobs": login_cookie(small), "1,000 jobs": login_cookie(big)}
        team_cookie = login_cookie(mate)
        store = SessionStore(team_cookie.split("=", 1)[1])
        store[access.SESSION_KEY] = str(team.code)
        store.save()
        cookies["team, 1,000 jobs"] = team_cookie

        # --- 1. query counts ------------------------------------------------------------
        def count(cookie: str, path: str = "/") -> tuple[int, int]:
            client = Client()
            client.cookies.load(cookie)
            client.get(path)  # warm
            with CaptureQueriesContext(connection) as captured:
                response = client.get(path)
            assert response.status_code == 200, response.status_code
            return len(captured.captured_queries), response.content.count(b'class="card state-')

        rows = []
        counts: dict[tuple[str, ...] | tuple[str, str, int | None], int] = {}
        cases = [
            ("10 jobs", "/", None),
            ("1,000 jobs", "/", None),
            ("1,000 jobs", "/?page=20", None),
            ("team, 1,000 jobs", "/", None),
            ("1,000 jobs", "/", 96),
            ("team, 1,000 jobs", "/", 96),
        ]
        for account, path, size in cases:
            with mock.patch.object(views, "PAGE_SIZE", size or views.PAGE_SIZE):
                q, cards = count(cookies[account], path)
            counts[(account, path, size)] = q
            rows.append(["ours", account, path, size or views.PAGE_SIZE, cards, q])
        for account in ("1,000 jobs", "team, 1,000 jobs"):
            q, cards = count(cookies[account], "/bench/gallery-naive/")
            counts[("naive", account)] = q
            rows.append(["naive: no pagination, no select_related", account, "/", "all", cards, q])
        ours_counts = {q for k, q in counts.items() if k[0] != "naive"}
        constant = len({counts[("10 jobs", "/", None)], counts[("1,000 jobs", "/", None)]}) == 1
        constant_size = counts[("1,000 jobs", "/", None)] == counts[("1,000 jobs", "/", 96)] and (
            counts[("team, 1,000 jobs", "/", None)] == counts[("team, 1,000 jobs", "/", 96)]
        )
        table(
            "Gallery page: queries per page view",
            ["gallery", "account", "page", "page size", "cards shown", "queries"],
            rows,
        )

        # --- 2. time under gunicorn -------------------------------------------------------
        endpoints = [
            ("ours", "10 jobs", "/"),
            ("ours", "1,000 jobs", "/"),
            ("ours", "team, 1,000 jobs", "/"),
            ("naive", "1,000 jobs", "/bench/gallery-naive/"),
            ("naive", "team, 1,000 jobs", "/bench/gallery-naive/"),
        ]
        rows = []
        p95s = {}
        for i, (design, account, path) in enumerate(endpoints):
            timing.mark()
            cpu0 = stack.gunicorn_cpu()
            run = load(
                stack.web_url + path,
                seconds if design == "ours" else max(2, seconds // 2),
                connections=1,
                cookie=cookies[account],
                tmp=stack.tmp,
                tag=f"g{i}",
            )
            server = timing.since_mark(f"g{i}")
            cpu_ms = (stack.gunicorn_cpu() - cpu0) / max(1, len(server)) * 1000
            times = [r[1] for r in server]
            p95s[(design, account)] = (pct(times, 95), run["p95"])
            rows.append(
                [
                    design,
                    account,
                    f"{run['rps']:,.1f}",
                    f"{cpu_ms:.1f}",
                    f"{run['p50']:.1f} / {run['p95']:.1f}",
                    f"{pct(times, 50):.1f} / {pct(times, 95):.1f}",
                    "/".join(map(str, sorted({r[2] for r in server}))),
                    f"{median([r[4] for r in server]) / 1024:,.0f}",
                    run["bad"],
                ]
            )
        table(
            f"Gallery page time ({run['tool']}, 1 connection, {seconds} s; gunicorn 2 workers)",
            [
                "gallery",
                "account",
                "requests/s",
                "server CPU ms/request",
                "client p50 / p95 ms",
                "server p50 / p95 ms",
                "queries",
                "body KB",
                "errors",
            ],
            rows,
        )
        server_p95, client_p95 = p95s[("ours", "1,000 jobs")]
        team_server_p95, team_client_p95 = p95s[("ours", "team, 1,000 jobs")]
        table(
            "Gallery page: targets",
            ["target", "measured", "verdict"],
            [
                [
                    "queries do not grow with job count (10 vs 1,000)",
                    f"{counts[('10 jobs', '/', None)]} vs {counts[('1,000 jobs', '/', None)]}",
                    verdict(constant),
                ],
                [
                    "queries do not grow with page size (24 vs 96)",
                    f"{counts[('1,000 jobs', '/', None)]} vs {counts[('1,000 jobs', '/', 96)]} "
                    f"(team: {counts[('team, 1,000 jobs', '/', None)]} vs "
                    f"{counts[('team, 1,000 jobs', '/', 96)]})",
                    verdict(constant_size),
                ],
                [
                    f"p95 <= {P95_TARGET_MS} ms, 1,000 jobs (server / client)",
                    f"{server_p95:.1f} / {client_p95:.1f} ms",
                    verdict(server_p95 <= P95_TARGET_MS),
                ],
                [
                    f"p95 <= {P95_TARGET_MS} ms, team with 1,000 jobs (server / client)",
                    f"{team_server_p95:.1f} / {team_client_p95:.1f} ms",
                    verdict(team_server_p95 <= P95_TARGET_MS),
                ],
            ],
        )
        print(f"Query counts seen for ours: {sorted(ours_counts)}")
        print(f"Measured with {load_note()}.")
        return 0


if __name__ == "__main__":
    sys.exit(main())
