"""Someone else's job in a real browser: a 404 for another user, the login page for nobody."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from jobs.models import Job
from tests.browser.support import BrowserProblems, log_in
from tests.conftest import make_job, make_user

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]

SECRET_NAME = "maya-private-holiday.jpg"


def test_it_shows_an_outsider_a_404_and_sends_anonymous_visitors_to_log_in(
    open_page: Callable[[], Page], live_server: Any, browser_problems: BrowserProblems
) -> None:
    # A finished (failed) job: nothing in flight, so no page polls while we look.
    job = make_job(
        make_user("maya"),
        state=Job.State.FAILED,
        source_name=SECRET_NAME,
        fail_code="SensitiveContent",
    )
    make_user("ned")
    url = f"/jobs/{job.code}/"

    owner = open_page()
    log_in(owner, "maya")
    owner.goto(url)
    expect(owner.locator("h1")).to_have_text(SECRET_NAME)  # the name is on the page to leak

    # Chromium reports the outsider's 404 page as a failed resource.
    browser_problems.expect(r"status of 404 \(Not Found\) \(at .*/jobs/")
    outsider = open_page()
    log_in(outsider, "ned")
    response = outsider.goto(url)
    assert response is not None
    assert response.status == 404
    expect(outsider.locator("h1")).to_have_text("Not found")
    expect(outsider.get_by_role("link", name="Back to your gallery")).to_be_visible()
    assert SECRET_NAME not in outsider.content()
    assert SECRET_NAME not in outsider.title()
    outsider.goto("/")
    expect(outsider.locator(".empty")).to_be_visible()  # nothing of Maya's in Ned's gallery
    assert SECRET_NAME not in outsider.content()

    anonymous = open_page()
    anonymous.goto(url)
    anonymous.wait_for_url(re.compile(r"/accounts/login/\?next="))
    assert anonymous.url == f"{live_server.url}/accounts/login/?next={url}"
    expect(anonymous.locator("h1")).to_have_text("Log in")
    assert SECRET_NAME not in anonymous.content()
