"""Benchmark: the "nothing changed" gallery poll beside a bare authenticated 204 view.

    .venv/bin/python bench/idle_poll.py [--quick]

gunicorn with 2 gthread workers (as scripts/entrypoint.sh runs it), a logged-in session in
the Redis cache (SESSION_ENGINE cached_db), a personal gallery of 30 cards (5 in flight)
and a team gallery of 30 more.
wrk (1 thread, 2 keep-alive connections: it measures the app, not contention) alternates
between the poll a gallery page makes, `/gallery/poll/?since=...&oldest=...&v=<version>`
(204: the gallery's change counter in the cache says nothing changed, jobs/versions.py),
`/bench/bare204/`, a view that only passes the same middleware (session, auth, login
required) and answers 204, and the design the counter replaced: an EXISTS query on the
gallery's jobs changed since the client's stamp (bench/site_views.py).
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
        from django.db import connection
        from django.test import Client
        from django.test.utils import CaptureQueriesContext
        from django.utils import timezone

        from jobs import stamps, versions, views
        from jobs.models import Batch, Budget, Job
        from teams.services import create_team

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
        since = stamps.stamp(max(c.updated for c in cards))
        oldest = stamps.stamp(cards[-1].created)
        team_cards = list(Job.objects.filter(team=team).order_by("-created")[: views.PAGE_SIZE])
        team_query = (
            f"since={stamps.stamp(max(c.updated for c in team_cards))}"
            f"&oldest={stamps.stamp(team_cards[-1].created)}&team={team.code}"
        )
        cookie = login_cookie(user)

        def fresh_paths() -> dict[str, str]:
            """The URLs, with the version a gallery page would hand out now (a client's
            version is good for versions.MAX_AGE seconds, longer than this run)."""
            mine, theirs = versions.current(user.pk, None), versions.current(user.pk, team.code)
            return {
                "ours: gallery poll, nothing changed": (
                    f"/gallery/poll/?since={since}&oldest={oldest}&v={mine}"
                ),
                "ours: team gallery poll, nothing changed": (
                    f"/gallery/poll/?{team_query}&v={theirs}"
                ),
                "bare authenticated 204 view": "/bench/bare204/",
                "before: an EXISTS query on the jobs": (
                    f"/bench/poll-exists/?since={since}&oldest={oldest}"
                ),
            }

        paths = fresh_paths()
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
            for i, (name, path) in enumerate(fresh_paths().items()):
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
        # process, endpoints interleaved, CPU time per request (process_time: what other
        # processes on a busy machine take doesn't count).
        inproc: dict[str, list[float]] = {name: [] for name in paths}
        per_round = 150 if quick else 300
        for _ in range(3 if quick else 5):
            for name, path in fresh_paths().items():
                t = time.process_time()
                for _ in range(per_round):
                    assert client.get(path).status_code == 204
                inproc[name].append((time.process_time() - t) / per_round * 1000)

        bare = "bare authenticated 204 view"

        def vs_bare(name: str) -> dict[str, float]:
            """Throughput relative to the bare view: wrk as the median of each round's
            ratio (the rounds are interleaved, so a busy moment hits both), and by CPU."""
            return {
                "wrk": median(
                    [r["rps"] / b["rps"] for r, b in zip(runs[name], runs[bare], strict=True)]
                ),
                "cpu": median(cpu[bare]) / median(cpu[name]),
                "inproc": median(inproc[bare]) / median(inproc[name]),
            }

        rows = []
        for name in paths:
            times = [r[1] for r in server[name]]
            ratio = vs_bare(name)
            rows.append(
                [
                    name,
                    f"{median([r['rps'] for r in runs[name]]):,.0f}",
                    f"{ratio['wrk']:.2f}x",
                    f"{median(cpu[name]):,.0f}",
                    f"{median(inproc[name]):.2f}",
                    f"{median([r['p50'] for r in runs[name]]):.2f} / "
                    f"{median([r['p95'] for r in runs[name]]):.2f}",
                    f"{pct(times, 50):.2f} / {pct(times, 95):.2f}",
                    "/".join(map(str, sorted({r[2] for r in server[name]}))),
                    ",".join(map(str, sorted({r[3] for r in server[name]}))),
                    max(r[4] for r in server[name]),
                    len(whole[name]),
                ]
            )
        tool = runs[next(iter(paths))][0]["tool"]
        table(
            f"Idle poll vs bare 204 view (gunicorn 2 workers x 4 threads; {tool} 1 thread, "
            f"2 connections, {seconds} s x {rounds} interleaved rounds)",
            [
                "endpoint",
                "requests/s",
                "vs bare",
                "server CPU us/request",
                "in-process CPU ms/request",
                "client p50 / p95 ms",
                "server p50 / p95 ms",
                "queries",
                "status",
                "body bytes",
                "response bytes (headers + body)",
            ],
            rows,
        )

        def throughput_row(label: str, name: str) -> list[str]:
            r = vs_bare(name)
            return [
                label,
                f"{r['wrk']:.2f}x by wrk; by CPU per request {r['cpu']:.2f}x (server), "
                f"{r['inproc']:.2f}x (in process)",
                verdict(r["wrk"] >= 0.8),
            ]

        def most(name: str, field: int) -> int:
            return max(int(r[field]) for r in server[name])

        personal, team_poll = (
            "ours: gallery poll, nothing changed",
            "ours: team gallery poll, nothing changed",
        )
        table(
            "Idle poll: targets",
            ["target", "measured", "verdict"],
            [
                throughput_row(">= 0.8x the bare view's throughput", personal),
                throughput_row("team poll: >= 0.8x the bare view's throughput", team_poll),
                [
                    "<= 2 queries",
                    f"{most(personal, 2)}; team poll {most(team_poll, 2)} (bare view: {most(bare, 2)})",
                    verdict(most(personal, 2) <= 2 and most(team_poll, 2) <= 2),
                ],
                [
                    "body <= 200 bytes",
                    f"{most(personal, 4)}; team poll {most(team_poll, 4)}",
                    verdict(most(personal, 4) <= 200 and most(team_poll, 4) <= 200),
                ],
                [
                    "(before: an EXISTS query on the jobs)",
                    throughput_row("", "before: an EXISTS query on the jobs")[1],
                    "-",
                ],
            ],
        )
        listed = "\n".join(f"  {i + 1}. {q}" for i, q in enumerate(sql))
        print("The poll's queries:\n" + (listed or "  none"))
        print(f"Measured with {load_note()}.")
        return 0


if __name__ == "__main__":
    sys.exit(main())
