"""QA of the HTMX card answers with a keyboard: Cancel and Retry replace their card, and
with it the button that had the focus; the focus must land on the new card (its next
action), not fall back to <body>, where the next Tab starts again from the page's top."""

from __future__ import annotations

import pytest
from playwright.sync_api import Locator, Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]


def _focused(tab: Page) -> str:
    focused: str = tab.evaluate(
        """() => { const a = document.activeElement;
            return a === document.body ? 'body' : (a.closest('article') ? 'card: ' : '') + a.textContent.trim(); }"""
    )
    return focused


def _focus_lands_on(tab: Page, text: str) -> None:
    """Wait (the live poll may swap the grid once more) until a card's control named so has
    the focus; fail with where the focus is."""
    try:
        tab.wait_for_function(
            """t => { const a = document.activeElement;
                return a && a.closest('article') && a.textContent.trim().startsWith(t); }""",
            arg=text,
            timeout=5_000,
        )
    except Exception:
        raise AssertionError(f"focus is on {_focused(tab)!r}, not {text!r}") from None


def test_cancel_and_retry_by_keyboard_keep_the_focus_on_the_card(
    tab: Page, queued_card: Locator
) -> None:
    queued = queued_card

    queued.get_by_role("button", name="Cancel").focus()
    tab.keyboard.press("Enter")
    expect(queued.locator(".badge")).to_have_attribute("data-state", "canceled")
    expect(tab.locator("#poller")).to_have_attribute("data-live", "false")  # the poll came too
    _focus_lands_on(tab, "Retry")

    tab.keyboard.press("Enter")  # the focused Retry
    expect(queued.get_by_role("link", name="Retried → new job")).to_be_visible()
    _focus_lands_on(tab, "Retried → new job")
