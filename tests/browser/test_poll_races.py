"""The live poll against the user's own clicks, in a real browser, with the order of the
answers forced (Playwright holds a request until the test lets it go): an answer that lands
after another one redrew the element that asked for it must still reach the page.

htmx looks up an answer's out-of-band parts in the tree of the element that made the request
(htmx 2's `swap`: getRootNode(contextElement)). When that element has left the page (the
poll redrew the card whose Retry was clicked; a submit redrew the workspace around the
poller), the tree is a detached fragment and every part was lost: `htmx:oobErrorNoTarget`.
And a look the Retry's answer asked for while a poll was in flight was queued on a poller
that the poll's answer then replaced, so htmx dropped it (static/js/app.js says how not).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.utils import timezone
from playwright.sync_api import Locator, Page, Route, expect

from jobs.models import Job
from tests.browser.support import FIXTURES, BrowserProblems, card, submit

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]

POLL = re.compile(r"/gallery/poll/")
RETRY = "Retry (new job, $0.01)"


class Held:
    """The first request of each kind, held until the test lets it go; later ones pass."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.routes: dict[str, Route] = {}

    def first(self, name: str) -> Callable[[Route], None]:
        def handle(route: Route) -> None:
            if name in self.routes:
                route.continue_()
            else:
                self.routes[name] = route

        return handle

    def wait(self, name: str) -> Route:
        for _ in range(100):  # 10 s; Playwright delivers the routed requests while it waits
            if name in self.routes:
                return self.routes[name]
            self.page.wait_for_timeout(100)
        raise AssertionError(f"no {name} request was made")


def _no_problems(browser_problems: BrowserProblems) -> None:
    problems = browser_problems.unexpected()
    assert not problems, "\n".join(problems)


def test_a_retry_answered_after_the_poll_redrew_its_card_still_lands(
    tab: Page, queued_card: Locator, browser_problems: BrowserProblems
) -> None:
    """Retry clicked while the poll is in flight; the server answers the Retry first, the
    poll then (so it redraws the card, Retry form and all), and the Retry's answer lands
    last: its message, its card and its `jobs-changed` must not be lost."""
    held = Held(tab)
    first = tab.locator(f"#job-{queued_card.get_attribute('data-code')}")
    tab.route(POLL, held.first("poll"))
    first.get_by_role("button", name="Cancel").click()
    expect(first.locator(".badge")).to_have_attribute("data-state", "canceled")
    poll = held.wait("poll")  # the 2-s beat's or the one Cancel's answer asked for

    tab.route(re.compile(r"/retry/$"), held.first("retry"))
    first.get_by_role("button", name=RETRY).click()
    retry = held.wait("retry")
    answer = retry.fetch()  # the server retries the job now...
    poll.continue_()  # ...and answers the poll after it: the card redrawn, the new one added
    expect(card(tab, "chelsea.jpg")).to_have_count(2)
    expect(first.get_by_role("link", name="Retried → new job")).to_be_visible()

    retry.fulfill(response=answer)  # the Retry's answer, its form gone from the page
    expect(tab.locator("#messages")).to_contain_text(
        "Retrying chelsea.jpg as a new job ($0.01).", timeout=5_000
    )
    expect(first.get_by_role("link", name="Retried → new job")).to_be_visible()
    expect(card(tab, "chelsea.jpg")).to_have_count(2)
    expect(tab.locator("#spend")).to_have_text("spent $0.00 of $1.00 · $0.01 reserved")
    _no_problems(browser_problems)


def test_a_poll_answered_before_a_submit_landing_after_it_loses_nothing(
    tab: Page, queued_card: Locator, browser_problems: BrowserProblems
) -> None:
    """A poll in flight while the user submits more: the server answers the poll, then the
    submit, whose answer replaces the workspace (the poller with it); the poll's answer
    lands last. It is older news than the page now shows: it must neither fail nor undo
    what the submit's answer drew, and the gallery keeps polling."""
    held = Held(tab)
    tab.route(POLL, held.first("poll"))
    job = Job.objects.get(code=str(queued_card.get_attribute("data-code")))
    job.note = "for the print shop"  # a change the next poll brings (made in another tab)
    job.updated = timezone.now()
    job.save()
    poll = held.wait("poll")  # the 2-s beat: chelsea.jpg is queued
    answer = poll.fetch()

    submit(tab, files=[FIXTURES / "coffee.jpg"])
    expect(card(tab, "coffee.jpg").locator(".badge")).to_have_attribute("data-state", "queued")
    expect(tab.locator("#spend")).to_have_text("spent $0.00 of $1.00 · $0.02 reserved")
    poll.fulfill(response=answer)
    tab.wait_for_timeout(500)  # for htmx to handle it (the next beat is 2 s away)
    _no_problems(browser_problems)
    expect(tab.locator("#spend")).to_have_text("spent $0.00 of $1.00 · $0.02 reserved")
    expect(tab.locator("#job-grid .card")).to_have_count(2)
    expect(queued_card.locator(".note")).to_have_text("for the print shop")

    expect(tab.locator("#poller")).to_have_attribute("data-live", "true")
    with tab.expect_response(POLL):  # the next beat, let through
        pass
    expect(tab.locator("#job-grid .card")).to_have_count(2)
    _no_problems(browser_problems)


def test_a_retry_answered_while_a_poll_is_in_flight_still_brings_its_new_card(
    tab: Page, queued_card: Locator
) -> None:
    """The poll in flight was answered before the Retry (no new card in it, and nothing
    live: the gallery would stop polling); the look that the Retry's answer asks for must
    still go out once that poll is done, and bring the new card."""
    held = Held(tab)
    first = tab.locator(f"#job-{queued_card.get_attribute('data-code')}")
    tab.route(POLL, held.first("poll"))
    first.get_by_role("button", name="Cancel").click()
    expect(first.locator(".badge")).to_have_attribute("data-state", "canceled")
    poll = held.wait("poll")
    answer = poll.fetch()  # after the cancel: nothing in flight

    first.get_by_role("button", name=RETRY).click()
    expect(tab.locator("#messages")).to_contain_text("Retrying chelsea.jpg as a new job ($0.01).")
    poll.fulfill(response=answer)
    expect(card(tab, "chelsea.jpg")).to_have_count(2)
    expect(first.get_by_role("link", name="Retried → new job")).to_be_visible()
