"""Benchmark: the "nothing changed" gallery poll beside a bare authenticated 204 view.

    .venv/bin/python bench/idle_poll.py [--quick]

gunicorn with 2 gthread workers (as scripts/entrypoint.sh runs it), a logged-in session in
the Redis cache (SESSION_ENGINE cached_db), a personal gallery of 30 cards (5 in flight)
and a team gallery of 30 more.
wrk (1 thread, 2 keep-alive connections: it measures the app, not contention) alternates
between `/gallery/poll/?since=<newest>&oldest=...` (204) and `/bench/bare204/`, a view that
only passes the same middleware (session, auth, login required) and answers 204, and two
variants of the poll that are fixes to suggest if it is too slow: behind an `exists()`
check, and behind a change stamp in the cache (read side only; see bench/site_views.py).
Five rounds of 3 s each, interleaved; the table shows the median round. Server time and
queries come from the bench middleware inside each gunicorn worker (first middleware to
response); the in-process column is Django's test client in this process, sequential.
"""

from __future__ import annotations

import socket
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (  # noqa: E402
    HOST,
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


def raw_response(port: int, path: str, cookie: str) -> bytes:
    """The whole HTTP response (status line, headers, body) as the client receives it."""
    with socket.create_connection((HOST, port), timeout=10) as s:
        s.sendall(
            f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nCookie: {cookie}\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def main() -> int:
    quick = flag("--quick")
    seconds = 2 if quick else 3
    rounds = 2 if quick else 5
    with Stack("idle-poll") as stack:
        stack.start_redis()
        timing_dir = stack.tmp / "timing"
        stack.setup_django("bench.site_settings")
        import logging

        logging.disable(logging.WARNING)
        from django.contrib.auth.models import User
        from django.core.cache import cache
        from django.db import connection
        from django.test import Client
        from django.test.utils import CaptureQueriesContext
        from django.utils import timezone

        from bench import site_views
        from jobs import views
        from jobs.models import Batch, Budget, Job
        from jobs.teams import create_team

        timing = TimingLog(timing_dir)
        stack.start_gunicorn(BENCH_TIMING_DIR=str(timing_dir))

        user = User.objects.create_user("bench-idle")
        budget = Budget.objects.create(user=user, limit_cents=None)
        batch = Batch.objects.create(code=uuid.uuid4(), user=user)
        now = timezone.now()
        Job.objects.bulk_create(
            Job(
                user=user,
                budget=budget,
                batch=batch,
                source_url=f"https://images.example.com/{i}.jpg",
                source_name=f"photo-{i}.jpg",
                state=Job.State.PROCESSING if i >= 25 else Job.State.SUCCESS,
                created=now - timedelta(minutes=30 - i),
                updated=now - timedelta(minutes=30 - i),
            )
            for i in range(30)
        )
        team = create_team(user, "Bench team")
        Job.objects.bulk_create(
            Job(
                user=user,
                team=team,
                budget=team.budget,
                batch=batch,
                source_url=f"https://images.example.com/t{i}.jpg",
                source_name=f"team-photo-{i}.jpg",
                state=Job.State.PROCESSING if i >= 25 else Job.State.SUCCESS,
                created=now - timedelta(minutes=30 - i),
                updated=now - timedelta(minutes=30 - i),
            )
            for i in range(30)
        )
        cards = list(
            Job.objects.filter(user=user, team=None).order_by("-created")[: views.PAGE_SIZE]
        )
        since = views._stamp(max(c.updated for c in cards))
        oldest = views._stamp(cards[-1].created)
        team_cards = list(Job.objects.filter(team=team).order_by("-created")[: views.PAGE_SIZE])
        team_query = (
            f"since={views._stamp(max(c.updated for c in team_cards))}"
            f"&oldest={views._stamp(team_cards[-1].created)}&team={team.code}"
        )
        cookie = login_cookie(user)
        paths = {
            "ours: gallery poll, nothing changed": f"/gallery/poll/?since={since}&oldest={oldest}",
            "ours: team gallery poll, nothing changed": f"/gallery/poll/?{team_query}",
            "bare authenticated 204 view": "/bench/bare204/",
            "suggested: poll behind an exists() check": (
                f"/bench/poll-precheck/?since={since}&oldest={oldest}"
            ),
            "suggested: poll behind a cached change stamp": (
                f"/bench/poll-stamp/?since={since}&oldest={oldest}"
            ),
        }
        cache.set(site_views.stamp_key(user.pk, None), int(since), None)
        whole = {name: raw_response(stack.web_port, p, cookie) for name, p in paths.items()}
        for name, response in whole.items():
            assert response.startswith(b"HTTP/1.1 204"), (name, response[:200])

        # What the poll's queries are (this process, same cache and database).
        client = Client()
        client.cookies.load(cookie)
        with CaptureQueriesContext(connection) as captured:
            assert client.get(paths["ours: gallery poll, nothing changed"]).status_code == 204
        sql = [q["sql"][:110] for q in captured.captured_queries]

        runs: dict[str, list[dict[str, float]]] = {name: [] for name in paths}
        cpu: dict[str, list[float]] = {name: [] for name in paths}
        server: dict[str, list[tuple[str, float, int, int, int]]] = {name: [] for name in paths}
        for _ in range(rounds):
            for i, (name, path) in enumerate(paths.items()):
                timing.mark()
                cpu0 = stack.gunicorn_cpu()
                runs[name].append(
                    load(
                        stack.web_url + path,
                        seconds,
                        connections=2,
                        cookie=cookie,
                        tmp=stack.tmp,
                        tag=f"e{i}",
                    )
                )
                served = timing.since_mark(f"e{i}")
                cpu[name].append((stack.gunicorn_cpu() - cpu0) / max(1, len(served)) * 1e6)
                server[name].extend(served)

        # Cross-check without sockets or a load generator: Django's test client in this
        # process, endpoints interleaved, sequential (steadier on a busy machine).
        inproc: dict[str, list[float]] = {name: [] for name in paths}
        per_round = 150 if quick else 300
        for _ in range(3 if quick else 5):
            for name, path in paths.items():
                t = time.perf_counter()
                for _ in range(per_round):
                    assert client.get(path).status_code == 204
                inproc[name].append((time.perf_counter() - t) / per_round * 1000)

        rows = []
        summary = {}
        for name in paths:
            rps = median([r["rps"] for r in runs[name]])
            times = [r[1] for r in server[name]]
            queries = sorted({r[2] for r in server[name]})
            statuses = sorted({r[3] for r in server[name]})
            body = max(r[4] for r in server[name])
            cpu_us = median(cpu[name])
            summary[name] = (rps, max(queries), body, cpu_us, median(inproc[name]))
            rows.append(
                [
                    name,
                    f"{rps:,.0f}",
                    f"{cpu_us:,.0f}",
                    f"{median(inproc[name]):.2f}",
                    f"{median([r['p50'] for r in runs[name]]):.2f} / "
                    f"{median([r['p95'] for r in runs[name]]):.2f}",
                    f"{pct(times, 50):.2f} / {pct(times, 95):.2f}",
                    "/".join(map(str, queries)),
                    ",".join(map(str, statuses)),
                    body,
                    len(whole[name]),
                ]
            )
        tool = runs[next(iter(paths))][0]["tool"]
        table(
            f"Idle poll vs bare 204 view (gunicorn 2 workers x 4 threads; {tool} 1 thread, "
            f"2 connections, {seconds} s x {rounds} rounds)",
            [
                "endpoint",
                "requests/s",
                "server CPU us/request",
                "in-process ms/request",
                "client p50 / p95 ms",
                "server p50 / p95 ms",
                "queries",
                "status",
                "body bytes",
                "response bytes (headers + body)",
            ],
            rows,
        )
        ours_rps, ours_q, ours_body, ours_cpu, ours_ms = summary[
            "ours: gallery poll, nothing changed"
        ]
        team_rps, team_q, team_body, team_cpu, team_ms = summary[
            "ours: team gallery poll, nothing changed"
        ]
        bare_rps, bare_q, _, bare_cpu, bare_ms = summary["bare authenticated 204 view"]
        fix_rps, _, _, fix_cpu, fix_ms = summary["suggested: poll behind an exists() check"]
        stamp_rps, stamp_q, _, stamp_cpu, stamp_ms = summary[
            "suggested: poll behind a cached change stamp"
        ]
        table(
            "Idle poll: targets",
            ["target", "measured", "verdict"],
            [
                [
                    ">= 0.8x the bare view's throughput",
                    f"{ours_rps / bare_rps:.2f}x ({ours_rps:,.0f} vs {bare_rps:,.0f} req/s); "
                    f"by CPU per request {bare_cpu / ours_cpu:.2f}x, in-process {bare_ms / ours_ms:.2f}x",
                    verdict(ours_rps >= 0.8 * bare_rps),
                ],
                [
                    "team poll: >= 0.8x the bare view's throughput",
                    f"{team_rps / bare_rps:.2f}x ({team_rps:,.0f} vs {bare_rps:,.0f} req/s); "
                    f"by CPU per request {bare_cpu / team_cpu:.2f}x, in-process {bare_ms / team_ms:.2f}x",
                    verdict(team_rps >= 0.8 * bare_rps),
                ],
                [
                    "<= 2 queries",
                    f"{ours_q}; team poll {team_q} (bare view: {bare_q})",
                    verdict(ours_q <= 2 and team_q <= 2),
                ],
                [
                    "body <= 200 bytes",
                    f"{ours_body}; team poll {team_body}",
                    verdict(ours_body <= 200 and team_body <= 200),
                ],
                [
                    "(suggested fix) >= 0.8x the bare view's throughput",
                    f"{fix_rps / bare_rps:.2f}x ({fix_rps:,.0f} vs {bare_rps:,.0f} req/s); "
                    f"by CPU per request {bare_cpu / fix_cpu:.2f}x, in-process {bare_ms / fix_ms:.2f}x",
                    verdict(fix_rps >= 0.8 * bare_rps),
                ],
                [
                    "(suggested fix, stamp) >= 0.8x the bare view's throughput",
                    f"{stamp_rps / bare_rps:.2f}x ({stamp_rps:,.0f} vs {bare_rps:,.0f} req/s); "
                    f"by CPU per request {bare_cpu / stamp_cpu:.2f}x, in-process {bare_ms / stamp_ms:.2f}x; {stamp_q} queries",
                    verdict(stamp_rps >= 0.8 * bare_rps),
                ],
            ],
        )
        print("The poll's queries:\n" + "\n".join(f"  {i + 1}. {q}" for i, q in enumerate(sql)))
        print(f"Measured with {load_note()}.")
        return 0


if __name__ == "__main__":
    sys.exit(main())
