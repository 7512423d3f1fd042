"""Accessible and pleasant: an axe-core scan of every main page, keyboard-only use, status
changes read out, dark mode and a phone-sized screen."""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path
from typing import Any, Literal

import pytest
from django.core.files.base import ContentFile
from PIL import Image
from playwright.sync_api import Page, expect

from jobs.models import Job
from tests.browser.support import log_in
from tests.conftest import make_job, make_user

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]
AXE = Path(__file__).parent / "vendor" / "axe-4.14.1.min.js"


def _axe(page: Page) -> list[dict[str, Any]]:
    """Serious and critical WCAG 2.x A/AA violations axe-core finds on the page."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        """async () => {
            const r = await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']});
            return r.violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' '))}));
        }"""
    )
    return [v for v in result if v["impact"] in ("serious", "critical")]


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (30, 120, 200)).save(out, "JPEG")
    return out.getvalue()


def _gallery_with_every_kind_of_card(user: Any) -> Job:
    done = make_job(
        user, Job.State.SUCCESS, source_name="beach.jpg", result_width=2048, result_height=1536
    )
    done.thumbnail.save("t.webp", ContentFile(_jpeg()), save=False)
    done.result_file.save("r.jpg", ContentFile(_jpeg()), save=True)
    make_job(user, Job.State.FAILED, source_name="bad.png", fail_code="SensitiveContent")
    assert user.budget.reserve(1)
    make_job(user, Job.State.QUEUED, source_name="waiting.jpg")
    return done


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_it_has_no_serious_accessibility_violations(
    tab: Page, scheme: Literal["light", "dark"]
) -> None:
    user = make_user("ada")
    user.is_staff = True
    user.save()
    done = _gallery_with_every_kind_of_card(user)
    tab.emulate_media(color_scheme=scheme)
    problems: dict[str, Any] = {}
    tab.goto("/accounts/login/")
    problems["login"] = _axe(tab)
    tab.goto("/accounts/signup/")
    problems["signup"] = _axe(tab)
    log_in(tab, "ada")
    for name, url in [
        ("gallery", "/"),
        ("job", done.get_absolute_url()),
        ("teams", "/teams/"),
        ("spend", "/spend/"),
        ("password", "/accounts/password_change/"),
    ]:
        tab.goto(url)
        problems[name] = _axe(tab)
    assert not any(problems.values()), json.dumps(problems, indent=1)


def test_dark_mode_follows_the_system(tab: Page) -> None:
    make_user("bea")
    tab.emulate_media(color_scheme="dark")
    log_in(tab, "bea")
    background = tab.evaluate("getComputedStyle(document.body).backgroundColor")
    r, g, b = (int(x) for x in background[background.index("(") + 1 : -1].split(",")[:3])
    assert max(r, g, b) < 60, background


def test_it_fits_a_phone_screen(open_page: Any) -> None:
    make_job(
        make_user("cy"), Job.State.SUCCESS, source_name="a-rather-long-file-name-for-a-phone.jpg"
    )
    page = open_page()
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, "cy")
    too_wide = page.evaluate(
        "[...document.querySelectorAll('body *')]"
        ".filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)"
        ".map(e => e.tagName + '#' + e.id + '.' + e.className)"
    )
    assert too_wide == []
    expect(page.locator("#submit-form button[type=submit]")).to_be_visible()


def test_it_works_with_the_keyboard_alone(tab: Page, browser_problems: Any) -> None:
    # The form answers 400 with its errors (swapped in like a 200); Chromium logs that.
    browser_problems.expect(r"status of 400 \(Bad Request\) \(at .*/jobs/\)")
    make_user("dee")
    log_in(tab, "dee")
    tab.keyboard.press("Tab")  # the skip link comes first
    expect(tab.locator(".skip-link")).to_be_focused()
    tab.keyboard.press("Enter")
    reached_urls = False
    for _ in range(25):
        tab.keyboard.press("Tab")
        if tab.evaluate("document.activeElement.id") == "id_urls":
            reached_urls = True
            break
    assert reached_urls, "Tab never reached the links box"
    tab.keyboard.type(f"https://images.example.com/{uuid.uuid4().hex}.jpg")
    focused = ""
    for _ in range(10):
        tab.keyboard.press("Tab")
        focused = tab.evaluate("document.activeElement.textContent.trim()")
        if focused == "Upscale":
            break
    assert focused == "Upscale"
    with tab.expect_response(lambda r: r.url.endswith("/jobs/")):
        tab.keyboard.press("Enter")
    # The link's host doesn't resolve here, so the form answers with its error, in the page.
    expect(tab.locator("#submit-form .errors")).to_be_visible()


def test_status_changes_are_read_out(tab: Page) -> None:
    user = make_user("eve")
    assert user.budget.reserve(1)
    job = make_job(user, Job.State.QUEUED, source_name="sunset.jpg")
    log_in(tab, "eve")
    expect(tab.locator("#poller")).to_have_attribute("data-live", "true")
    job.move((Job.State.QUEUED,), Job.State.CANCELED)
    expect(tab.locator("#announcer")).to_have_text("sunset.jpg: Canceled", timeout=10_000)
