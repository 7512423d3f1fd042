"""Per-request server time, query count and body size, for the benchmarks.

With BENCH_TIMING_DIR set, each request appends one line to <dir>/<pid>.log:
`<tag> <microseconds> <queries> <status> <body bytes>`, where tag is the request's
X-Bench-Tag header (or "-"). Measured from the first middleware to the response: the time
the Django app spends, not gunicorn's socket handling.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from django.db import connection
from django.http import HttpRequest, HttpResponseBase

FOLDER = os.environ.get("BENCH_TIMING_DIR", "")


class ServerTiming:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        self.file: Any = None

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not FOLDER:
            return self.get_response(request)
        queries = 0

        def count(execute: Any, sql: Any, params: Any, many: Any, context: Any) -> Any:
            nonlocal queries
            queries += 1
            return execute(sql, params, many, context)

        start = time.perf_counter_ns()
        with connection.execute_wrapper(count):
            response = self.get_response(request)
        took = (time.perf_counter_ns() - start) // 1000
        size = 0 if response.streaming else len(response.content)  # type: ignore[attr-defined]
        if self.file is None:
            self.file = open(os.path.join(FOLDER, f"{os.getpid()}.log"), "a", buffering=1)  # noqa: SIM115
        tag = request.headers.get("X-Bench-Tag", "-")
        self.file.write(f"{tag} {took} {queries} {response.status_code} {size}\n")
        return response
