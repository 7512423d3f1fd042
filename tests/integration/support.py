"""Helpers the integration tests share: wait for a condition, kill a process tree."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path


def seconds_until(predicate: Callable[[], object], limit: float, what: str) -> float:
    """Seconds until predicate() is true, checked every 0.25 s; fail the test after limit."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.25)
    raise AssertionError(f"{what}: not within {limit} s")


def kill_with_children(pid: int) -> None:
    """SIGKILL a process and every process it started, as a host or container death does."""
    children = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children += (task / "children").read_text().split()
    os.kill(pid, signal.SIGKILL)
    for child in children:
        with contextlib.suppress(ProcessLookupError):
            kill_with_children(int(child))
