"""Test knobs: markers in the source URL's query string, with env-wide defaults.

The real source server ignores these query parameters; the engine reads them to simulate
latency, failures, rate limits and HTTP errors without a real upstream.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from .config import EngineConfig

FAIL_MESSAGES = {
    "ImageFormatIncorrect": "Upstream rejected the input image format.",
    "SensitiveContent": "The input or output was rejected by safety checks.",
    "RateLimited": "Upstream rate limit reached.",
    "Timeout": "Upstream did not finish in time.",
    "Unknown error": "Unmapped upstream failure.",
}
GENERIC_FAIL_MESSAGE = "The task failed upstream ({code})."

HTTP_ERRORS = {
    400: "Invalid request",
    401: "Invalid or missing API key",
    402: "Insufficient balance",
    403: "Access to this model is denied",
    429: "Rate limit reached, retry with backoff",
    500: "Internal server error",
    502: "Upstream service error",
    504: "Upstream timeout",
}


def fail_message(code: str) -> str:
    return FAIL_MESSAGES.get(code, GENERIC_FAIL_MESSAGE.format(code=code))


@dataclass(frozen=True)
class Knobs:
    delay: float = 0.0  # seconds, already multiplied by the time factor
    fail_code: str | None = None
    fail_times: int = 0  # with fail_code: only the first n tasks of this URL fail (0: all)
    rate_limit_n: int = 0
    http_error: int | None = None
    stall: bool = False
    model: str | None = None  # `auto`, a model name or `lanczos` for this task alone


def read_knobs(image_url: str, config: EngineConfig) -> Knobs:
    """The URL's markers win over the config (env) defaults; bad values are ignored."""
    try:
        query = parse_qs(urlsplit(image_url).query, keep_blank_values=True)
    except ValueError:
        query = {}

    def last(name: str) -> str | None:
        values = query.get(name)
        return values[-1].strip() if values else None

    delay = _float(last("engine_delay"), config.delay)
    fail_code = last("engine_fail") or config.fail_code
    rate_limit_n = _int(last("engine_429"), config.rate_limit_n)
    fail_times = _int(last("engine_fail_times"), 0)
    http_error = _int(last("engine_http"), 0)
    stall = (last("engine_stall") or "").lower() in ("1", "true", "yes", "on")
    model = (last("engine_model") or "").lower() or None
    return Knobs(
        delay=max(0.0, delay) * config.time_factor,
        fail_code=fail_code or None,
        fail_times=max(0, fail_times),
        rate_limit_n=max(0, rate_limit_n),
        http_error=http_error if http_error in HTTP_ERRORS else None,
        stall=stall,
        model=model,
    )


def _float(raw: str | None, default: float) -> float:
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        return default
    return value if math.isfinite(value) else default


def _int(raw: str | None, default: int) -> int:
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        return default
