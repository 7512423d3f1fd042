"""Benchmark: the login page while uploads claim more pixels than they weigh (issue 13).

    .venv/bin/python bench/decode_attack.py [--quick]

The attack: 381 KB PNGs that claim 49 megapixels (7000x7000, 16 bits per channel), ten in
one form post plus one file that is no image (so the batch is refused and nothing is
charged), sent by 16 clients at once, again and again. Before, each such PNG was decoded
whole in the web request (about 200 MB, 1-2.5 s), and the login page took 27 s. Served by
gunicorn as in production (2 gthread workers x 4 threads), we time `GET /accounts/login/`
one request after another, idle and then under the attack (16 posts at once, every
second; `--flood`: back to back). Target: its p95 under attack stays within 2x of the idle
p95. (Answers: 400 the batch refused after its checks, 429 or
0 (closed early) another upload of the same user's in flight, refused unread.)

Phone photos: a 12 KB HEIC and a 1 KB AVIF that hold 49 megapixels each
(bench/fixtures/flat_49mp.*, a flat colour) were converted to PNG in the web request
before, seconds and hundreds of MB each. The request now reads their header only and the
worker converts them; the first table times both for each. `--phone` makes the attack
post ten HEICs instead of the PNGs.
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import queue
import secrets
import struct
import sys
import time
import uuid
import zlib
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (  # noqa: E402
    HOST,
    Stack,
    flag,
    load_note,
    login_cookie,
    median,
    pct,
    table,
    verdict,
)

CLIENTS = 16
BOMBS_PER_POST = 10
# The attack: 16 such posts at once; here a wave of them every second, for as long
# as the login page is timed. --flood sends them back to back instead (16 clients sending
# 3 MB posts as fast as loopback takes them: a flood, whatever the posts hold).
WAVE_SECONDS = 1.0


def bomb_png(width: int = 7000, height: int = 7000) -> bytes:
    """A valid 16-bit RGB PNG of zeros, compressed a scanline at a time."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    z = zlib.compressobj(9)
    line = b"\0" * (1 + width * 6)
    data = b"".join(z.compress(line) for _ in range(height)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


FIXTURES = Path(__file__).resolve().parent / "fixtures"
# The request's check of one phone photo must cost this little (ten per post).
PHONE_CHECK_MS = 100


def phone_photo_checks() -> bool:
    """Time the web request's check of each 49 MP phone photo (its header) against the
    worker's conversion to PNG; print a table. Return True if every check is cheap."""
    from lib.images import convert_phone_photo, inspect_phone_photo

    rows, ok = [], True
    for path in sorted(FIXTURES.glob("flat_49mp.*")):
        data = path.read_bytes()
        inspect_phone_photo(io.BytesIO(data), len(data))  # the plugins' imports
        checks = []
        for _ in range(5):
            start = time.perf_counter()
            info = inspect_phone_photo(io.BytesIO(data), len(data))
            checks.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        made = convert_phone_photo(io.BytesIO(data))
        png = made.png if made else b""
        converted = time.perf_counter() - start
        assert info is not None
        ok = ok and median(checks) <= PHONE_CHECK_MS
        rows.append(
            [
                path.suffix[1:].upper(),
                f"{len(data) / 1024:.1f} KB",
                f"{info.width}x{info.height}",
                f"{median(checks):.1f}",
                f"{converted:.2f}",
                f"{len(png) / 1024:.0f} KB",
            ]
        )
    table(
        "Phone photos claiming 49 megapixels: the request's check and the worker's conversion",
        ["format", "file", "pixels", "request check ms", "worker conversion s", "PNG"],
        rows,
    )
    print(
        f"{verdict(ok)} a phone photo's check in the request takes at most "
        f"{PHONE_CHECK_MS} ms (its header; the conversion is the worker's)",
        flush=True,
    )
    return ok


def attack_body(bomb: bytes, csrf: str, ext: str = "png") -> tuple[bytes, str]:
    boundary = "bench" + secrets.token_hex(8)
    parts = []
    fields = {"resolution": "2k", "output_format": "jpg", "key": str(uuid.uuid4())}
    fields["csrfmiddlewaretoken"] = csrf
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        )
    files = [(f"bomb{i}.{ext}", bomb) for i in range(BOMBS_PER_POST)] + [("bad.png", b"no image")]
    body = "".join(parts).encode()
    for filename, content in files:
        body += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="images"; '
            f'filename="{filename}"\r\nContent-Type: image/png\r\n\r\n'
        ).encode()
        body += content + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def login_page_times(port: int, n: int) -> list[float]:
    times = []
    for _ in range(n):
        conn = HTTPConnection(HOST, port, timeout=120)
        start = time.perf_counter()
        conn.request("GET", "/accounts/login/")
        r = conn.getresponse()
        r.read()
        times.append((time.perf_counter() - start) * 1000)
        conn.close()
        assert r.status == 200, r.status
        time.sleep(0.05)
    return times


def attacker(
    port: int,
    body: bytes,
    headers: dict[str, str],
    stop: Any,
    results: Any,
) -> None:
    """Post body until stop is set, once per WAVE_SECONDS (back to back with --flood); put
    (status, ms) of each on results."""
    wave = 0.0 if flag("--flood") else WAVE_SECONDS
    while not stop.is_set():
        tick = time.monotonic()
        conn = HTTPConnection(HOST, port, timeout=300)
        start = time.perf_counter()
        try:
            conn.request("POST", "/jobs/", body, headers)
            r = conn.getresponse()
            r.read()
            status = r.status
        except OSError:  # refused before its body was read: the server closed early
            status = 0
        results.put((status, (time.perf_counter() - start) * 1000))
        conn.close()
        stop.wait(max(0.0, tick + wave - time.monotonic()))


def main() -> None:
    quick = flag("--quick")
    samples = 40 if quick else 120
    with Stack("decode_attack") as stack:
        stack.start_redis()
        stack.setup_django(static=True)
        from django.contrib.auth.models import User

        phone_photo_checks()
        user = User.objects.create_user("mallory", password="x")
        session = login_cookie(user)
        csrf = secrets.token_hex(16)  # 32 characters: Django's cookie secret
        cookie = f"{session}; csrftoken={csrf}"
        stack.start_gunicorn(settings="upscaler_site.settings")
        port = stack.web_port
        phone = flag("--phone")
        bomb = (FIXTURES / "flat_49mp.heic").read_bytes() if phone else bomb_png()

        idle = login_page_times(port, samples)

        # The attackers run in processes of their own, so this one's GIL times only the
        # login page. Each posts the same body (the batch is refused, its key never kept).
        body, content_type = attack_body(bomb, csrf, "heic" if phone else "png")
        headers = {"Content-Type": content_type, "Cookie": cookie, "X-CSRFToken": csrf}
        stop = multiprocessing.Event()
        results: multiprocessing.Queue[tuple[int, float]] = multiprocessing.Queue()
        procs = [
            multiprocessing.Process(target=attacker, args=(port, body, headers, stop, results))
            for _ in range(CLIENTS)
        ]
        for proc in procs:
            proc.start()
        time.sleep(2)  # let the attack fill every worker thread
        attacked = login_page_times(port, samples)
        stop.set()
        posts: list[tuple[int, float]] = []
        # Drain while they finish: a child can't exit with its queue's pipe still full.
        while any(proc.is_alive() for proc in procs) or not results.empty():
            with contextlib.suppress(queue.Empty):
                posts.append(results.get(timeout=0.2))

        statuses = sorted({s for s, _ in posts})
        ratio = pct(attacked, 95) / pct(idle, 95)
        table(
            "Login page while 16 clients post 49-megapixel "
            + ("HEICs" if phone else "PNGs")
            + (" back to back" if flag("--flood") else " at once, every second"),
            ["", "p50 ms", "p95 ms", "max ms", "requests"],
            [
                [
                    "idle",
                    f"{median(idle):.1f}",
                    f"{pct(idle, 95):.1f}",
                    f"{max(idle):.1f}",
                    len(idle),
                ],
                [
                    "under attack",
                    f"{median(attacked):.1f}",
                    f"{pct(attacked, 95):.1f}",
                    f"{max(attacked):.1f}",
                    len(attacked),
                ],
            ],
        )
        attack_times = [ms for _, ms in posts]
        table(
            "The attack's own posts",
            ["posts", "answers", "p50 ms", "p95 ms", "file size", "claimed pixels"],
            [
                [
                    len(posts),
                    ",".join(map(str, statuses)),
                    f"{median(attack_times):.0f}",
                    f"{pct(attack_times, 95):.0f}",
                    f"{len(bomb) / 1024:.0f} KB",
                    "7000x7000 (49 MP)" + ("" if phone else ", 16-bit"),
                ]
            ],
        )
        print(
            f"{verdict(ratio <= 2)} login p95 under attack is {ratio:.2f}x idle (target <= 2x); "
            f"{load_note()}",
            flush=True,
        )


if __name__ == "__main__":
    main()
