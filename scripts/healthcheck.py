"""Docker's HEALTHCHECK: exit 0 when this container's process is healthy, 1 otherwise.

    python scripts/healthcheck.py [web|engine|worker|cron|migrate]

Without an argument the role is read from PID 1's command line, so one HEALTHCHECK in
the Dockerfile serves every role of the image:
- web: GET /healthz (database, Redis, a live worker) must answer 200;
- engine: the engine's own /healthz must answer;
- worker, cron: the process is alive, which Docker sees already; the web's /healthz
  reports a missing worker.
Standard library only, so it starts fast.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit


def role_of_pid1() -> str:
    try:
        cmdline = Path("/proc/1/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return "web"
    if "apixo_engine" in cmdline:
        return "engine"
    if "gunicorn" in cmdline:
        return "web"
    return "other"


def host_header() -> str:
    """A name Django's ALLOWED_HOSTS accepts, since the probe comes in on 127.0.0.1."""
    for host in os.environ.get("ALLOWED_HOSTS", "").split(","):
        host = host.strip().lstrip(".")
        if host and host != "*":
            return host
    return urlsplit(os.environ.get("SITE_URL", "")).hostname or "localhost"


def get(url: str, host: str | None = None) -> int:
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as e:
        print(e.read().decode(errors="replace")[:500])
        return e.code
    except OSError as e:
        print(e)
        return 0


def main(argv: list[str]) -> int:
    role = argv[1] if len(argv) > 1 else role_of_pid1()
    if role == "web":
        port = os.environ.get("BIND", "").rpartition(":")[2] or os.environ.get("PORT", "8000")
        status = get(f"http://127.0.0.1:{port}/healthz", host_header())
    elif role == "engine":
        port = os.environ.get("ENGINE_PORT", "8100")
        status = get(f"http://127.0.0.1:{port}/healthz")
    else:
        return 0
    return 0 if status == 200 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
