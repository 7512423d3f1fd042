"""A real Chromium (Debian's, never a downloaded one) driving the live server.

Playwright's sync API is used directly, not through the pytest-playwright plugin, so the
launch stays ours: one browser per run, one fresh context per test, and every page watched
for console errors, uncaught exceptions and failed requests, which fail the test.

The fixtures are named `chromium`, `open_page` and `tab`, not `browser` and `page`: if the
pytest-playwright plugin is installed, it parametrizes any test that uses those names.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from devtools.procs import CHROMIUM, CHROMIUM_ARGS
from tests.browser.support import ARTIFACTS, FIXTURES, BrowserProblems, card, log_in, submit
from tests.conftest import make_user

# The integration fixtures (the real engine, the RQ worker and their settings) are defined
# in a sibling folder's conftest, which pytest only applies there; a star import registers
# every one of them here too, so this stays right as that file grows or splits fixtures.
from tests.integration.conftest import *  # noqa: F403

HERE = Path(__file__).resolve().parent


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives a real Chromium against the live server")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the browser tests last (pytest-randomly still shuffles them among themselves).

    While Playwright's sync API is alive, its event loop counts as running in the main
    thread, so Django's async-unsafe guard has to be off (see `chromium`). Running these
    tests last keeps the guard on, and the loop away, for every other test.
    """
    ours = [item for item in items if HERE in item.path.parents]
    if ours:
        items[:] = [item for item in items if HERE not in item.path.parents] + ours


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    # Playwright's sync API keeps an asyncio loop "running" in this thread between calls,
    # and Django refuses database access from such a thread unless told it is safe (it is:
    # nothing here is async). pytest-playwright users do the same.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()
    finally:
        playwright.stop()
        if previous is None:
            del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def browser_problems() -> BrowserProblems:
    return BrowserProblems()


@pytest.fixture
def open_page(
    chromium: Browser, live_server: Any, transactional_db: None, browser_problems: BrowserProblems
) -> Iterator[Callable[[], Page]]:
    """Open a page in a new browser context (its own cookies: a separate visitor).

    After the test, every page's problems are checked: any console error, uncaught
    exception or failed request that the test did not declare fails it.
    """
    contexts = []

    def open_page() -> Page:
        context = chromium.new_context(
            base_url=live_server.url, viewport={"width": 1280, "height": 900}
        )
        context.set_default_timeout(15_000)
        context.on("page", browser_problems.watch)
        contexts.append(context)
        return context.new_page()

    yield open_page
    # Judge before closing: closing a page aborts whatever it still had in flight.
    problems = browser_problems.unexpected()
    for context in contexts:
        context.close()
    assert not problems, "browser problems:\n" + "\n".join(problems)


@pytest.fixture
def tab(open_page: Callable[[], Page]) -> Page:
    """A page in a fresh context, for tests with one visitor."""
    return open_page()


@pytest.fixture
def queued_card(tab: Page, app_settings: Any, redis_url: str) -> Locator:
    """The card of chelsea.jpg, queued, in `tab`: a user logged in to the gallery has just
    submitted it. No worker runs, so it stays queued until canceled (the queue is emptied
    first: no job of an earlier test waits in it)."""
    redis.Redis.from_url(redis_url).flushdb()
    make_user("nico")
    log_in(tab, "nico")
    submit(tab, files=[FIXTURES / "chelsea.jpg"])
    queued = card(tab, "chelsea.jpg")
    expect(queued.locator(".badge")).to_have_attribute("data-state", "queued")
    # The answer has settled: static/js/submit.js has put the focus back on the form. (Were
    # it still to come, it would move the focus away from what the test focuses next.)
    expect(tab.locator("#submit-form")).to_be_focused()
    return queued


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """tests/artifacts/ (gitignored), for screenshots worth a look."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
