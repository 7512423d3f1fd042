"""Start the whole app for `make run`: Redis, the embedded engine, an RQ worker with its
scheduler, the reconciler and the web server. Ctrl-C (or any of them dying) stops them all.

Redis comes first, and the rest only once it answers: migrating and creating the demo user
already bump gallery counters in Redis (jobs/versions.py), which warn when it isn't there.
Each child runs in a process group of its own, so Ctrl-C in the terminal reaches only this
script, which stops the children in order and Redis last: a worker still releasing its
locks in Redis, or a web request still reading the cache, never meets a Redis already gone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: devtools/ is a package at the top level

from devtools.procs import (  # noqa: E402
    HOST,
    PY,
    engine_command,
    port_open,
    redis_answers,
    redis_command,
    redis_server,
    worker_command,
)

VAR = ROOT / "var"
WEB_PORT = int(os.getenv("PORT", "8000"))
ENGINE_PORT = int(os.getenv("ENGINE_PORT", "8100"))
REDIS_PORT = int(os.getenv("REDIS_PORT", "6379"))


def wait_until(ready: Callable[[], bool], give_up: Callable[[], bool], seconds: float) -> bool:
    """Poll ready() until it is true (True), or time runs out or give_up() says so (False)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not give_up():
        if ready():
            return True
        time.sleep(0.2)
    return False


def banner() -> str:
    site, engine = f"http://{HOST}:{WEB_PORT}", f"http://{HOST}:{ENGINE_PORT}"
    return (
        f"\n  Upscaler is running at {site}/\n"
        "  Demo login: demo / upscale-demo (a staff superuser, for local use only), or sign up\n"
        f"  Try a sample: {engine}/samples/landscape.jpg or {engine}/samples/logo.png\n"
        f"  Emails (resets, invitations) are printed here and listed at {site}/dev/emails/\n"
        "  Images go to the embedded APIXO-compatible engine; no key needed.\n"
        "  Ctrl-C stops everything.\n"
    )


def stop_all(procs: list[tuple[str, subprocess.Popen[bytes]]]) -> None:
    """Stop the children, newest first, and Redis only once all the others have exited."""
    if procs:
        print("Stopping (a job in progress finishes first)...", flush=True)
    last = [(name, p) for name, p in procs if name == "redis"]
    for group in ([item for item in procs if item not in last], last):
        for _, p in reversed(group):
            if p.poll() is None:
                p.terminate()
        for _, p in group:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    if procs:
        print("Stopped.")


def main() -> int:
    VAR.mkdir(exist_ok=True)
    env = dict(os.environ)
    env.setdefault("SITE_URL", f"http://{HOST}:{WEB_PORT}")
    env.setdefault("ENGINE_URL", f"http://{HOST}:{ENGINE_PORT}")
    # The engine fetches uploaded sources from this site, a loopback address.
    env.setdefault("ENGINE_ALLOWED_HOSTS", f"{HOST}:{WEB_PORT}")
    # Our banner says what runserver's "This is a development server" warning would.
    env.setdefault("DJANGO_RUNSERVER_HIDE_WARNING", "true")
    procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    def start(name: str, cmd: list[str]) -> None:
        # process_group=0: the terminal's Ctrl-C goes to us only; stop_all stops the child.
        procs.append((name, subprocess.Popen(cmd, cwd=ROOT, env=env, process_group=0)))

    def setup(*args: str) -> bool:
        if stopping:
            return False
        result = subprocess.run(
            [PY, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, process_group=0
        )
        if result.returncode != 0 and not stopping:
            sys.stdout.buffer.write(result.stdout + result.stderr)
            print(f"manage.py {' '.join(args)} failed; stopping.")
        return result.returncode == 0

    try:
        if "REDIS_URL" not in env:
            env["REDIS_URL"] = f"redis://{HOST}:{REDIS_PORT}/0"
            if port_open(REDIS_PORT):
                print(f"Using the Redis already on port {REDIS_PORT}.")
            else:
                if not redis_server():
                    print("redis-server is not installed: run `make run` (it installs it).")
                    return 1
                (VAR / "redis").mkdir(exist_ok=True)
                # Its start-up notes (and its warning about memory overcommit) go to the file.
                log = ("--loglevel", "warning", "--logfile", str(VAR / "redis" / "redis.log"))
                start("redis", redis_command(REDIS_PORT, VAR / "redis", *log, persist=True))
                if not wait_until(
                    lambda: redis_answers(REDIS_PORT), lambda: stopping or exited(procs), 30
                ):
                    if not stopping:
                        print(f"Redis did not start: see {VAR / 'redis' / 'redis.log'}.")
                    return 0 if stopping else 1
        if not (setup("migrate", "--noinput") and setup("ensure_demo_user")):
            return 0 if stopping else 1
        start("engine", engine_command(ENGINE_PORT, VAR / "engine", "--host", HOST))
        start("worker", worker_command())
        start("cron", [PY, "manage.py", "runcron"])
        start("web", [PY, "manage.py", "runserver", f"{HOST}:{WEB_PORT}", "--noreload"])
        # A connection, not a request: the request log's first line would be ours.
        if wait_until(lambda: port_open(WEB_PORT), lambda: stopping or exited(procs), 60):
            print(banner(), flush=True)
        code = 0
        while not stopping:
            for name, p in procs:
                if p.poll() is not None:
                    print(f"{name} exited with code {p.returncode}; stopping the others.")
                    stopping, code = True, 1
            time.sleep(0.3)
        return code
    finally:
        stop_all(procs)


def exited(procs: list[tuple[str, subprocess.Popen[bytes]]]) -> bool:
    return any(p.poll() is not None for _, p in procs)


if __name__ == "__main__":
    sys.exit(main())
