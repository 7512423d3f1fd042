"""Fixtures of the jobs app's tests split out of test_views.py and test_tasks.py (the
autouse ones of test_tasks.py are named by each task module's pytestmark instead)."""

from __future__ import annotations

from tests.jobs.tasks_support import apixo_settings, mock, public_hosts, scheduled  # noqa: F401
from tests.jobs.views_support import queue  # noqa: F401
