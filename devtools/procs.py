"""Starting and stopping the processes of a local stack: the one place that knows how
Redis, the embedded engine, an RQ worker and gunicorn are started, how to wait for them
and how to stop a process with its children.

Used by tests/conftest.py, tests/integration/conftest.py, tests/browser/conftest.py,
bench/harness.py, bench/page_weight.py, scripts/run.py and scripts/image_test.py. It imports nothing of the app (nor Django), so a script can use
it before settings exist.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
HOST = "127.0.0.1"


def free_port(host: str = HOST) -> int:
    """A TCP port nothing listens on right now (the OS's pick)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = HOST) -> bool:
    """Does something accept connections on this port?"""
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex((host, port)) == 0


def wait_http(url: str, seconds: float = 30, ok: Sequence[int] = (200,)) -> None:
    """Wait until url answers one of the `ok` statuses; RuntimeError after `seconds`."""
    deadline = time.monotonic() + seconds
    last: object = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status in ok:
                    return
        except urllib.error.HTTPError as e:
            if e.code in ok:
                return
            last = e
        except OSError as e:
            last = e
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up in {seconds} s ({last})")


# --- Redis ----------------------------------------------------------------------------------


def redis_server() -> str | None:
    """The redis-server program, if installed."""
    return shutil.which("redis-server")


def redis_command(
    port: int, workdir: Path, *extra: str, host: str = HOST, persist: bool = False
) -> list[str]:
    """A redis-server on loopback only, its files in workdir: throwaway (nothing saved), or
    with persist=True keeping Redis's default snapshots (`make run`'s, so queued work
    survives a restart). Extra options go after, e.g. a log file."""
    server = redis_server()
    if server is None:
        raise FileNotFoundError("redis-server is not installed (apt-get install redis-server)")
    throwaway = [] if persist else ["--save", "", "--appendonly", "no"]
    return [server, "--port", str(port), "--bind", host, "--dir", str(workdir), *throwaway, *extra]


def redis_answers(port: int, host: str = HOST) -> bool:
    """Does a Redis on this port answer PING (not just accept the connection)?"""
    try:
        with socket.create_connection((host, port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def wait_redis(port: int, seconds: float = 10, host: str = HOST) -> bool:
    """Wait until the Redis on this port answers PING; False if it doesn't in time."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if redis_answers(port, host):
            return True
        time.sleep(0.05)
    return False


# --- the app's own processes ----------------------------------------------------------------


def engine_command(port: int, data_dir: Path, *extra: str) -> list[str]:
    """The embedded APIXO-compatible engine on this port, its storage in data_dir."""
    return [PY, "-m", "apixo_engine", "--port", str(port), "--data-dir", str(data_dir), *extra]


def worker_command(*extra: str) -> list[str]:
    """An RQ worker of the default queue with its scheduler (run from ROOT)."""
    return [PY, "manage.py", "rqworker", "default", "--with-scheduler", *extra]


def gunicorn_command(bind: str, workers: int, threads: int, tmp_dir: Path) -> list[str]:
    """gunicorn as scripts/entrypoint.sh runs it (gthread workers); its heartbeat files in
    /dev/shm when it can write there, else tmp_dir."""
    heartbeat = "/dev/shm" if os.access("/dev/shm", os.W_OK) else str(tmp_dir)
    return [
        PY,
        "-m",
        "gunicorn",
        "--bind",
        bind,
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--worker-tmp-dir",
        heartbeat,
        "upscaler_site.wsgi:application",
    ]


# --- the browser --------------------------------------------------------------------------

# Debian's Chromium, never one Playwright downloads: the browser tests, the CSP test and
# bench/page_weight.py all launch this one, with these flags (no sandbox: it runs as root
# in a container; no GPU, no background traffic, no first-run pages to skew what is seen).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
)


# --- stopping -------------------------------------------------------------------------------


def stop(proc: subprocess.Popen[bytes], timeout: float = 10, group: bool = False) -> None:
    """Stop proc: SIGTERM (to its whole process group with group=True), then SIGKILL after
    timeout; then SIGKILL whatever is left in the process group it leads, if it leads one
    (started with start_new_session or process_group=0), such as a worker's scheduler and
    work horses. A process that shares our group is never group-killed."""
    if proc.poll() is None:
        if group and _leads_group(proc):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        else:
            proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if _leads_group(proc):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


def _leads_group(proc: subprocess.Popen[bytes]) -> bool:
    try:
        return os.getpgid(proc.pid) == proc.pid
    except ProcessLookupError:
        # Reaped: its group may outlive it, and the group id is still its pid; never ours.
        return proc.pid != os.getpgrp()
