"""Shared plumbing for the benchmarks: a private stack of real processes, and tables.

Every benchmark builds its own world in a temp dir and tears it down: a redis-server on a
free port, a fresh SQLite file (or the DATABASE_URL it is given), the embedded engine,
gunicorn and `manage.py rqworker` processes, all configured only through environment
variables (DJANGO_SETTINGS_MODULE=upscaler_site.settings, or bench.site_settings where a
benchmark needs its extra views). Each child runs in a process group of its own, so
stopping it also stops what it forked (RQ work horses, gunicorn workers).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

from devtools import procs
from devtools.procs import free_port as free_port  # re-exported: bench scripts import it
from devtools.procs import wait_http

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
HOST = "127.0.0.1"
TICKS = os.sysconf("SC_CLK_TCK")


# --- CPU and memory of other processes -----------------------------------------------------


def proc_cpu_seconds(pid: int, children: bool = False) -> float:
    """utime + stime of a process (all its threads) from /proc/<pid>/stat; with children,
    plus the CPU of its children that it has waited for (cutime + cstime)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = raw.rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3); utime is field 14, stime 15, cutime 16, cstime 17.
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / TICKS


def child_pids(pid: int) -> list[int]:
    """Direct children of pid (by scanning /proc: works without CONFIG_PROC_CHILDREN)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        if int(raw.rsplit(")", 1)[1].split()[2]) == pid:
            found.append(int(entry.name))
    return found


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


# --- tables --------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def table(title: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A plain-text table that is also valid Markdown (so docs/performance.md can quote it)."""
    body = [[str(c) for c in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in body)) for i, h in enumerate(header)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    out = [f"\n### {title}\n", line([str(h) for h in header])]
    out.append("| " + " | ".join("-" * w for w in widths) + " |")
    out.extend(line(r) for r in body)
    text = "\n".join(out) + "\n"
    print(text, flush=True)
    return text


def load_note() -> str:
    """The machine's load while a wall-clock number was taken (other work shares the CPU)."""
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} CPUs"


def pct(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def flag(name: str) -> bool:
    return name in sys.argv[1:]


def option(name: str, default: str) -> str:
    args = sys.argv[1:]
    for i, a in enumerate(args):
        if a == name and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return default


# --- the stack -----------------------------------------------------------------------------


class Stack:
    """Processes and files of one benchmark run. Use as a context manager."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.tmp = Path(tempfile.mkdtemp(prefix=f"upscaler-bench-{name}-"))
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.web_port = free_port()
        self.redis_url = ""
        self.engine_url = ""
        self.web_url = f"http://{HOST}:{self.web_port}"
        self.gunicorn: subprocess.Popen[bytes] | None = None
        # Settings every process of the run shares (this one included, before django.setup()).
        self.env: dict[str, str] = {
            "DJANGO_SETTINGS_MODULE": "upscaler_site.settings",
            "DEBUG": "false",
            "SECRET_KEY": "bench-only-secret-key-" + "x" * 40,
            "SITE_URL": self.web_url,
            "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
            "DATA_DIR": str(self.tmp),
            "MEDIA_ROOT": str(self.tmp / "media"),
            "STATIC_ROOT": str(self.tmp / "static"),
            "SQLITE_PATH": str(self.tmp / "app.sqlite3"),
            "SUBMIT_RATE_LIMIT": "100000",
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p
            ),
        }

        (self.tmp / "static").mkdir()

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- processes ---------------------------------------------------------------------

    def spawn(
        self, name: str, cmd: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log = open(self.tmp / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env={**os.environ, **self.env, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.procs.append((name, proc))
        return proc

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.tmp / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        procs.stop(proc, group=True)

    def close(self) -> None:
        for _, proc in reversed(self.procs):
            self.stop(proc)
        self.procs.clear()
        if not os.environ.get("BENCH_KEEP_TMP"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    def start_redis(self) -> str:
        if not procs.redis_server():
            raise SystemExit("redis-server is not installed (apt-get install redis-server)")
        port = free_port()
        (self.tmp / "redis").mkdir()
        self.spawn("redis", procs.redis_command(port, self.tmp / "redis"))
        if not procs.wait_redis(port, seconds=10):
            raise RuntimeError("redis-server did not start")
        self.redis_url = f"redis://{HOST}:{port}/0"
        self.env["REDIS_URL"] = self.redis_url
        self.env["CACHE_URL"] = f"redis://{HOST}:{port}/1"
        return self.redis_url

    def start_engine(self, **env: str) -> str:
        port = free_port()
        self.engine_url = f"http://{HOST}:{port}"
        engine_env = {
            "ENGINE_ALLOWED_HOSTS": f"{HOST}:{self.web_port}",
            # These benchmarks measure the app around the engine, not the models.
            "ENGINE_MODEL": os.environ.get("ENGINE_MODEL", "lanczos"),
            **env,
        }
        self.spawn(
            "engine",
            procs.engine_command(port, self.tmp / "engine", "--verbose"),
            engine_env,
        )
        wait_http(self.engine_url + "/healthz")
        self.env["ENGINE_URL"] = self.engine_url
        self.env["APIXO_BASE_URL"] = f"{self.engine_url}/api/v1"
        self.env["FETCH_ALLOWED_HOSTS"] = f"{HOST}:{port}"
        return self.engine_url

    def start_gunicorn(
        self,
        settings: str = "bench.site_settings",
        workers: int = 2,
        threads: int = 4,
        **env: str,
    ) -> subprocess.Popen[bytes]:
        """gunicorn as scripts/entrypoint.sh runs it (gthread workers), on self.web_port."""
        self.gunicorn = self.spawn(
            "gunicorn",
            procs.gunicorn_command(f"{HOST}:{self.web_port}", workers, threads, self.tmp),
            {"DJANGO_SETTINGS_MODULE": settings, **env},
        )
        try:
            wait_http(self.web_url + "/healthz", 40, ok=(200, 503))
        except RuntimeError:
            print(self.log_tail("gunicorn"), file=sys.stderr)
            raise
        # Every worker must have booted (and imported Django) before CPU is counted.
        deadline = time.monotonic() + 20
        while len(child_pids(self.gunicorn.pid)) < workers and time.monotonic() < deadline:
            time.sleep(0.1)
        for _ in range(workers * 4):  # warm every worker's imports and connections
            with contextlib.suppress(OSError):
                urllib.request.urlopen(self.web_url + "/healthz", timeout=5).close()
        return self.gunicorn

    def gunicorn_workers(self) -> list[int]:
        assert self.gunicorn is not None
        return child_pids(self.gunicorn.pid)

    def gunicorn_cpu(self) -> float:
        return sum(proc_cpu_seconds(pid) for pid in self.gunicorn_workers())

    def start_worker(
        self, name: str = "worker", args: Sequence[str] = (), **env: str
    ) -> subprocess.Popen[bytes]:
        return self.spawn(name, procs.worker_command(*args), env)

    # --- Django in this process --------------------------------------------------------

    def setup_django(self, settings: str = "upscaler_site.settings", static: bool = False) -> None:
        """Point this process at the run's database and Redis, migrate, and set Django up."""
        if os.environ.get("DATABASE_URL"):
            self.env["DATABASE_URL"] = os.environ["DATABASE_URL"]
        os.environ.update(self.env)
        os.environ["DJANGO_SETTINGS_MODULE"] = settings
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        if static:
            call_command("collectstatic", verbosity=0, interactive=False)


# --- HTTP clients --------------------------------------------------------------------------


class KeepAlive:
    """One keep-alive HTTP/1.1 connection (http.client), reopened if the server closes it."""

    def __init__(self, base: str, cookie: str = "") -> None:
        host, port = base.split("//", 1)[1].split(":")
        self.host, self.port = host, int(port)
        self.headers = {"Cookie": cookie} if cookie else {}
        self.conn: HTTPConnection | None = None

    def get(
        self, path: str, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        for attempt in range(2):
            if self.conn is None:
                self.conn = HTTPConnection(self.host, self.port, timeout=30)
            try:
                self.conn.request("GET", path, headers={**self.headers, **(headers or {})})
                r = self.conn.getresponse()
                body = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return r.status, {k.lower(): v for k, v in r.getheaders()}, body
            except (OSError, ConnectionError):
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def run_parallel(tasks: list[Any], workers: int, fn: Any) -> list[Any]:
    """fn(worker_index, task) over tasks with `workers` threads; results in task order."""
    results: list[Any] = [None] * len(tasks)
    lock = threading.Lock()
    next_index = 0
    errors: list[BaseException] = []

    def loop(w: int) -> None:
        nonlocal next_index
        while True:
            with lock:
                i = next_index
                next_index += 1
            if i >= len(tasks) or errors:
                return
            try:
                results[i] = fn(w, tasks[i])
            except BaseException as e:  # noqa: BLE001 - re-raised in the caller
                errors.append(e)
                return

    threads = [threading.Thread(target=loop, args=(w,)) for w in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


# --- wrk -----------------------------------------------------------------------------------

WRK_SCRIPT = """
done = function(summary, latency, requests)
  io.write(string.format("WRKJSON {\\"requests\\": %d, \\"duration_us\\": %d, \\"p50\\": %d, \\"p95\\": %d, \\"p99\\": %d, \\"non2xx\\": %d, \\"errors\\": %d}\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def ensure_wrk() -> str | None:
    """wrk's path; installs Debian's wrk if missing and we may (root); else None (then the
    load generator falls back to Python threads)."""
    found = shutil.which("wrk")
    if found or os.environ.get("BENCH_NO_INSTALL") or os.geteuid() != 0:
        return found
    if not shutil.which("apt-get"):
        return None
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "wrk"]

    def quiet(cmd: list[str]) -> int:
        out = subprocess.DEVNULL
        return subprocess.run(cmd, env=env, stdout=out, stderr=out, check=False).returncode

    if quiet(install) != 0:
        quiet(["apt-get", "update", "-q"])
        quiet(install)
    return shutil.which("wrk")


def load(
    url: str,
    seconds: float,
    connections: int = 2,
    cookie: str = "",
    tmp: Path | None = None,
    tag: str = "",
) -> dict[str, Any]:
    """Requests per second and latency percentiles (ms) of GET url for `seconds`.

    wrk with one thread and few keep-alive connections; without wrk, the same shape from
    Python threads (keep-alive http.client), which is slower at the client side.
    """
    wrk = ensure_wrk()
    if wrk:
        script = (tmp or Path(tempfile.gettempdir())) / "bench-wrk.lua"
        script.write_text(WRK_SCRIPT)
        cmd = [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(script)]
        if cookie:
            cmd += ["-H", f"Cookie: {cookie}"]
        if tag:
            cmd += ["-H", f"X-Bench-Tag: {tag}"]
        out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout
        data = json.loads(next(line for line in out.splitlines() if line.startswith("WRKJSON"))[8:])
        return {
            "tool": "wrk",
            "rps": data["requests"] / (data["duration_us"] / 1e6),
            "p50": data["p50"] / 1000,
            "p95": data["p95"] / 1000,
            "p99": data["p99"] / 1000,
            "requests": data["requests"],
            "bad": data["non2xx"] + data["errors"],
        }
    base, path = url.split("/", 3)[2], "/" + url.split("/", 3)[3]
    latencies: list[float] = []
    bad = 0
    stop_at = time.monotonic() + seconds
    lock = threading.Lock()

    def worker() -> None:
        nonlocal bad
        client = KeepAlive("http://" + base, cookie)
        if tag:
            client.headers["X-Bench-Tag"] = tag
        mine: list[float] = []
        errors = 0
        while time.monotonic() < stop_at:
            t = time.perf_counter()
            status, _, _ = client.get(path)
            mine.append((time.perf_counter() - t) * 1000)
            errors += status >= 400
        client.close()
        with lock:
            latencies.extend(mine)
            bad += errors

    start = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - start
    return {
        "tool": "python",
        "rps": len(latencies) / took,
        "p50": pct(latencies, 50),
        "p95": pct(latencies, 95),
        "p99": pct(latencies, 99),
        "requests": len(latencies),
        "bad": bad,
    }


# --- server-side timing (bench.site_middleware writes these files) -------------------------


class TimingLog:
    """Reads the per-request lines the bench middleware appends in each gunicorn worker:
    `<tag> <microseconds> <queries> <status> <body bytes>`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.offsets: dict[Path, int] = {}

    def mark(self) -> None:
        self.offsets = {p: p.stat().st_size for p in self.folder.glob("*.log")}

    def since_mark(self, tag: str = "") -> list[tuple[str, float, int, int, int]]:
        """Lines written since mark() (only those tagged `tag`, if given)."""
        time.sleep(0.2)  # requests still in flight when the client stopped
        rows = []
        for p in self.folder.glob("*.log"):
            with p.open() as f:
                f.seek(self.offsets.get(p, 0))
                for line in f:
                    parts = line.split()
                    if len(parts) == 5 and (not tag or parts[0] == tag):
                        rows.append(
                            (
                                parts[0],
                                int(parts[1]) / 1000,
                                int(parts[2]),
                                int(parts[3]),
                                int(parts[4]),
                            )
                        )
        return rows


@contextlib.contextmanager
def timer() -> Iterator[dict[str, float]]:
    box: dict[str, float] = {}
    t = time.perf_counter()
    try:
        yield box
    finally:
        box["s"] = time.perf_counter() - t


def login_cookie(user: Any) -> str:
    """A session for user, made as a login makes it (cached_db: in Redis and the DB)."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
