"""Start the whole app for `make run`: Redis, the embedded engine, an RQ worker with its
scheduler, and the web server. Ctrl-C (or any of them dying) stops them all."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
PY = sys.executable
HOST = "127.0.0.1"
WEB_PORT = int(os.getenv("PORT", "8000"))
ENGINE_PORT = int(os.getenv("ENGINE_PORT", "8100"))
REDIS_PORT = int(os.getenv("REDIS_PORT", "6379"))


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex((HOST, port)) == 0


def wait_for(url: str, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except OSError:
            time.sleep(0.3)
    return False


def main() -> int:
    VAR.mkdir(exist_ok=True)
    env = dict(os.environ)
    env.setdefault("SITE_URL", f"http://{HOST}:{WEB_PORT}")
    env.setdefault("ENGINE_URL", f"http://{HOST}:{ENGINE_PORT}")
    # The engine fetches uploaded sources from this site, a loopback address.
    env.setdefault("ENGINE_ALLOWED_HOSTS", f"{HOST}:{WEB_PORT}")
    procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(name: str, cmd: list[str]) -> None:
        procs.append((name, subprocess.Popen(cmd, cwd=ROOT, env=env)))

    if "REDIS_URL" not in env:
        env["REDIS_URL"] = f"redis://{HOST}:{REDIS_PORT}/0"
        if port_open(REDIS_PORT):
            print(f"Using the Redis already on port {REDIS_PORT}.")
        else:
            redis = shutil.which("redis-server")
            if not redis:
                print("redis-server is not installed: run `make run` (it installs it).")
                return 1
            (VAR / "redis").mkdir(exist_ok=True)
            start(
                "redis",
                [
                    redis,
                    "--bind",
                    HOST,
                    "--port",
                    str(REDIS_PORT),
                    "--dir",
                    str(VAR / "redis"),
                    "--loglevel",
                    "warning",
                ],
            )
    start(
        "engine",
        [
            PY,
            "-m",
            "apixo_engine",
            "--host",
            HOST,
            "--port",
            str(ENGINE_PORT),
            "--data-dir",
            str(VAR / "engine"),
        ],
    )
    start("worker", [PY, "manage.py", "rqworker", "default", "--with-scheduler"])
    start("cron", [PY, "manage.py", "rqcron", "jobs.cron"])
    start("web", [PY, "manage.py", "runserver", f"{HOST}:{WEB_PORT}", "--noreload"])

    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    if wait_for(f"http://{HOST}:{WEB_PORT}/accounts/login/"):
        print(
            f"\n  Upscaler is running at http://{HOST}:{WEB_PORT}/\n"
            "  Demo login: demo / upscale-demo (or sign up)\n"
            "  Images go to the embedded APIXO-compatible engine; no key needed.\n"
            "  Ctrl-C stops everything.\n",
            flush=True,
        )
    code = 0
    while not stopping:
        for name, p in procs:
            if p.poll() is not None:
                print(f"{name} exited with code {p.returncode}; stopping the others.")
                stopping, code = True, 1
        time.sleep(0.3)
    for _, p in reversed(procs):
        if p.poll() is None:
            p.terminate()
    for _, p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
    return code


if __name__ == "__main__":
    sys.exit(main())
