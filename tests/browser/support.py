"""Helpers for the browser tests: the problem collector and steps a user takes."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import ConsoleMessage, Error, Frame, Locator, Page, Request, expect

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@dataclass
class BrowserProblems:
    """What went wrong in a test's pages: console errors, uncaught exceptions, failed requests.

    A test declares the problems its story produces: `expect(pattern)` for one that must
    show up (a 404 page, a form answered with 400), `allow(pattern)` for one that may (say
    why). Anything else is a problem, and so is an expected one that never showed up, so an
    allowance can't outlive the behaviour it was written for.

    A request aborted because its page then navigated away (a favicon still loading when
    the user clicks on, a poll in flight during a redirect) is not a problem: the user
    never waits for it. One aborted with no navigation after it is.
    """

    seen: list[str] = field(default_factory=list)
    expected: dict[str, int] = field(default_factory=dict)
    allowed: list[str] = field(default_factory=list)
    _navigations: dict[Page, int] = field(default_factory=dict, repr=False)
    _started: dict[Request, int] = field(default_factory=dict, repr=False)
    _aborted: list[tuple[Page, Request, int]] = field(default_factory=list, repr=False)

    def expect(self, pattern: str) -> None:
        self.expected.setdefault(pattern, 0)

    def allow(self, pattern: str) -> None:
        self.allowed.append(pattern)

    def watch(self, page: Page) -> None:
        self._navigations[page] = 0

        def navigated(frame: Frame) -> None:
            if frame == page.main_frame:
                self._navigations[page] += 1

        def request(request: Request) -> None:
            self._started[request] = self._navigations[page]

        def request_failed(request: Request) -> None:
            if request.failure == "net::ERR_ABORTED":
                self._aborted.append((page, request, self._started.get(request, -1)))
            else:
                self.seen.append(
                    f"request failed: {request.method} {request.url}: {request.failure}"
                )

        def console(message: ConsoleMessage) -> None:
            if message.type == "error":
                self.seen.append(
                    f"console error: {message.text} (at {message.location.get('url')})"
                )

        def page_error(error: Error) -> None:
            self.seen.append(f"page error: {error}")

        page.on("framenavigated", navigated)
        page.on("request", request)
        page.on("requestfailed", request_failed)
        page.on("console", console)
        page.on("pageerror", page_error)

    def unexpected(self) -> list[str]:
        problems = list(self.seen)
        for page, request, navigations in self._aborted:
            if not 0 <= navigations < self._navigations[page]:
                problems.append(f"request aborted: {request.method} {request.url}")
        left = []
        for problem in problems:
            match = next((p for p in self.expected if re.search(p, problem)), None)
            if match is not None:
                self.expected[match] += 1
            elif not any(re.search(p, problem) for p in self.allowed):
                left.append(problem)
        left += [f"expected but not seen: {p!r}" for p, n in self.expected.items() if n == 0]
        return left


def log_in(page: Page, username: str, password: str = "password") -> None:
    """Log in through the real login form (the cast's password is "password")."""
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("form button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))


def sign_up(page: Page, username: str) -> None:
    """Create an account through the real sign-up form; it logs the new user in."""
    page.goto("/accounts/signup/")
    page.fill("#id_username", username)
    page.fill("#id_email", f"{username}@example.org")
    page.fill("#id_password1", "a-long-enough-password-42")
    page.fill("#id_password2", "a-long-enough-password-42")
    page.click("form button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))
    expect(page.locator("#messages")).to_contain_text(f"Welcome, {username}!")


def submit(
    page: Page, urls: Sequence[str] = (), files: Sequence[Path] = (), resolution: str = "2k"
) -> None:
    """Fill the gallery's form and press Upscale; return once the server has answered.

    htmx swaps the answer in after that: wait for what the test expects to see.
    """
    if urls:
        page.fill("#id_urls", "\n".join(urls))
    if files:
        page.set_input_files("input[name=images]", list(files))
    page.select_option("#id_resolution", resolution)
    page.select_option("#id_output_format", "jpg")
    with page.expect_response(lambda r: r.url.endswith("/jobs/") and r.request.method == "POST"):
        page.click("#submit-form button[type=submit]")


def card(page: Page, name: str) -> Locator:
    """The gallery card (or cards) of the image with that name."""
    return page.locator(f'#job-grid .card[aria-label="{name}"]')


def wait_for_images(page: Page) -> None:
    """Every image on the page has loaded (thumbnails are lazy; screenshots need them)."""
    page.wait_for_function(
        "[...document.images].every(img => img.complete && img.naturalWidth > 0)"
    )
