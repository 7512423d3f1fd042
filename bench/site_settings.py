"""The app's settings plus the benchmarks' extra views and a timing middleware.

Used only by benchmarks that need the alternatives (per-card polling, a bare 204 view, a
naive gallery) served by the same gunicorn as the app: everything else is the app's own
settings, read from the same environment variables.
"""

from __future__ import annotations

from upscaler_site.settings import *  # noqa: F403
from upscaler_site.settings import MIDDLEWARE as APP_MIDDLEWARE

ROOT_URLCONF = "bench.site_urls"
# First, so it times every other middleware too (sessions, auth, ...), and counts queries.
MIDDLEWARE = ["bench.site_middleware.ServerTiming", *APP_MIDDLEWARE]
