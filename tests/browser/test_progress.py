"""A retrying card's text changes live in a real browser: busy, counting down, then done."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.support import card, sign_up, submit

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

# Every distinct text the card's waiting line shows, read every 200 ms: the countdown is
# the page's own (app.js), the line itself arrives with the gallery's poll.
RECORD_WAITING = """name => {
  window.__waiting = [];
  setInterval(() => {
    const el = document.querySelector(`#job-grid .card[aria-label="${name}"] .waiting`);
    const text = el && el.textContent.trim();
    if (text && window.__waiting.at(-1) !== text) window.__waiting.push(text);
  }, 200);
}"""


def test_a_retrying_card_says_apixo_is_busy_counts_down_and_then_succeeds(
    tab: Page, start_worker: Callable[..., Any], engine: str
) -> None:
    # Backoff 5-10 s, so the retry waits long enough to be seen and counted down.
    start_worker(APIXO_BACKOFF_BASE="10", APIXO_BACKOFF_MAX="10")
    sign_up(tab, "rita")
    tab.evaluate("window.__marker = 1")  # gone if the tab ever reloads or navigates
    tab.evaluate(RECORD_WAITING, "landscape.jpg")

    # The engine answers the first submit of this URL 429, as a busy APIXO would.
    submit(tab, urls=[f"{engine}/samples/landscape.jpg?engine_429=1"])
    busy = card(tab, "landscape.jpg").locator(".waiting")
    expect(busy).to_have_text(
        re.compile(r"APIXO is busy: try 2 of 8, next in \d+ s"), timeout=20_000
    )
    badge = card(tab, "landscape.jpg").locator(".badge")
    expect(badge).to_have_attribute("data-state", "success", timeout=60_000)
    expect(busy).to_have_count(0)

    assert tab.evaluate("window.__marker") == 1, "the tab reloaded or navigated"
    texts = tab.evaluate("window.__waiting")
    counts = [int(m.group(1)) for t in texts if (m := re.search(r"try 2 of 8, next in (\d+) s", t))]
    assert len(counts) >= 2, f"the countdown did not tick: {texts}"
    assert counts == sorted(counts, reverse=True), texts
