"""Cancel and Retry on a card, in a real browser: the card changes in place (no reload of
the page), and a retry's new card arrives at once though nothing was in flight."""

from __future__ import annotations

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.support import card

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]

RETRY = "Retry (new job, $0.01)"


def test_cancel_then_retry_change_the_cards_without_a_reload(
    tab: Page, queued_card: Locator
) -> None:
    queued = queued_card
    tab.evaluate("window.__marker = 1")

    queued.get_by_role("button", name="Cancel").click()
    expect(queued.locator(".badge")).to_have_attribute("data-state", "canceled")
    expect(tab.locator("#poller")).to_have_attribute("data-live", "false")

    queued.get_by_role("button", name=RETRY).click()
    expect(tab.locator("#messages")).to_contain_text("Retrying chelsea.jpg as a new job ($0.01).")
    expect(card(tab, "chelsea.jpg")).to_have_count(2)  # the new one, brought by the poll
    expect(queued.get_by_role("link", name="Retried → new job")).to_be_visible()
    expect(queued.get_by_role("button", name=RETRY)).to_have_count(0)
    expect(tab.locator("#spend")).to_have_text("spent $0.00 of $1.00 · $0.01 reserved")
    assert tab.evaluate("window.__marker") == 1, "the page was reloaded"
