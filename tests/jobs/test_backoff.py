"""The backoff between APIXO attempts (jobs.tasks): doubling, capped, jittered."""

from __future__ import annotations

import random

from jobs import tasks
from tests.jobs.tasks_support import TASK_MARKS

pytestmark = TASK_MARKS


def test_it_doubles_the_backoff_on_each_attempt(monkeypatch, settings):
    monkeypatch.setattr(random, "uniform", lambda low, high: high)
    assert [tasks.backoff(n) for n in (1, 2, 3, 4)] == [5, 10, 20, 40]


def test_it_caps_the_backoff(monkeypatch, settings):
    monkeypatch.setattr(random, "uniform", lambda low, high: high)
    assert tasks.backoff(6) == settings.APIXO_BACKOFF_MAX
    assert tasks.backoff(60) == settings.APIXO_BACKOFF_MAX


def test_it_jitters_the_backoff_within_half_to_full(settings):
    delays = [tasks.backoff(3) for _ in range(50)]
    ceiling = settings.APIXO_BACKOFF_BASE * 4
    assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert len(set(delays)) > 1
