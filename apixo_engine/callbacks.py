"""Callback (webhook) delivery: POST the final payload, retry on non-2xx with backoff."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

import requests

from .fetcher import USER_AGENT

logger = logging.getLogger(__name__)


def deliver(
    url: str,
    payload: dict[str, Any],
    *,
    retry_delays: Sequence[float],
    stop: threading.Event,
    timeout: float = 30.0,
) -> bool | None:
    """Try once, then once after each delay. True: delivered, False: gave up,
    None: interrupted by shutdown (delivery is resumed on the next start)."""
    session = requests.Session()
    session.trust_env = False
    try:
        for attempt, delay in enumerate((0.0, *retry_delays), start=1):
            if delay and stop.wait(delay):
                return None
            if stop.is_set():
                return None
            try:
                response = session.post(
                    url,
                    json=payload,
                    timeout=timeout,
                    allow_redirects=False,
                    headers={"User-Agent": USER_AGENT},
                )
                status = response.status_code
                response.close()
            except requests.RequestException as exc:
                logger.info("callback %s attempt %d failed: %s", url, attempt, exc)
                continue
            if 200 <= status < 300:
                return True
            logger.info("callback %s attempt %d answered HTTP %d", url, attempt, status)
        return False
    finally:
        session.close()
