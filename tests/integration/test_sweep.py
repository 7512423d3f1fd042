"""A web process killed mid-upload leaves Django's spooled upload behind: the sweep
removes it (a real gunicorn, killed with SIGKILL while a 6 MB upload is arriving)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from jobs import cron as _cron  # noqa: F401  (registers the periodic jobs)
from jobs.sweep import sweep_temp_files
from tests.conftest import free_port
from tests.integration.conftest import ROOT, _database_env

pytestmark = [pytest.mark.integration, pytest.mark.django_db, pytest.mark.timeout(60)]


def _spooled(folder: Path) -> list[Path]:
    return list(folder.glob("tmp*.upload*"))


def test_an_upload_left_by_a_killed_web_process_is_swept(tmp_path: Path, settings: Any) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    port = free_port()
    env = {**os.environ, **_database_env(), "TMPDIR": str(tmp)}
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1"]
        + ["upscaler_site.wsgi:application"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = socket.create_connection(("127.0.0.1", port), timeout=1)
                break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        # The master accepts before its worker has booted, which takes seconds under load.
        conn.settimeout(30)
        # A CSRF cookie, so the middleware reads the body (for the token) instead of
        # refusing at once; reading it is what spools the file.
        conn.sendall(f"GET /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        reply = b""
        while b"csrftoken=" not in reply or b"\r\n\r\n" not in reply:
            reply += conn.recv(65536)
        token = reply.split(b"csrftoken=", 1)[1].split(b";", 1)[0].decode()
        conn.close()
        conn = socket.create_connection(("127.0.0.1", port), timeout=30)
        boundary = "b0undary"
        head = (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="images"; filename="big.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        conn.sendall(
            b"POST /accounts/login/ HTTP/1.1\r\n"
            + f"Host: 127.0.0.1:{port}\r\n".encode()
            + f"Cookie: csrftoken={token}\r\n".encode()
            + f"Content-Type: multipart/form-data; boundary={boundary}\r\n".encode()
            + f"Content-Length: {len(head) + 8_000_000}\r\n\r\n".encode()
            + head
        )
        for _ in range(60):  # 6 MB of the promised 8: past the 2.5 MB kept in memory
            conn.sendall(b"\0" * 100_000)
        deadline = time.monotonic() + 20
        while not _spooled(tmp):
            assert time.monotonic() < deadline, "the upload was never spooled to disk"
            time.sleep(0.1)
        os.killpg(web.pid, signal.SIGKILL)
        web.wait(10)
        conn.close()
    finally:
        if web.poll() is None:
            os.killpg(web.pid, signal.SIGKILL)
            web.wait(10)
    [left] = _spooled(tmp)
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp)
    assert sweep_temp_files() == 0  # younger than an hour: may still be arriving
    old = time.time() - 3601
    os.utime(left, (old, old))
    assert sweep_temp_files() == 1
    assert _spooled(tmp) == []


def test_cron_runs_the_sweep_hourly() -> None:
    from rq.cron import _job_data_registry

    [entry] = [j for j in _job_data_registry if j["func"] is sweep_temp_files]
    assert entry["interval"] == 3600
