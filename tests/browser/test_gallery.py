"""The gallery in a real browser: submit, watch cards change live, download, retry, cancel."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import redis
from django.contrib.auth.models import User
from PIL import Image
from playwright.sync_api import Locator, Page, expect

from jobs.models import Job
from tests.browser.support import (
    FIXTURES,
    BrowserProblems,
    card,
    log_in,
    sign_up,
    submit,
    wait_for_images,
)
from tests.conftest import make_user

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]

CHELSEA = FIXTURES / "chelsea.jpg"
IN_FLIGHT = ["queued", "submitting", "pending", "processing"]
LIFECYCLE = [*IN_FLIGHT, "success"]
# Worker, engine and the 2 s gallery poll, with room for a slow CI machine.
DONE = 40_000

# Records, in the page, each state the named card's badge shows: the cards are swapped in
# out-of-band by the gallery's poll, so an observer sees every state that was ever drawn.
RECORD_STATES = """name => {
  window.__states = [];
  const read = () => {
    const badge = document.querySelector(`#job-grid .card[aria-label="${name}"] .badge`);
    const state = badge && badge.dataset.state;
    if (state && window.__states.at(-1) !== state) window.__states.push(state);
  };
  new MutationObserver(read).observe(document.body, {
    subtree: true, childList: true, attributes: true, attributeFilter: ["data-state"],
  });
  read();
}"""


def badge(page: Page, name: str) -> Locator:
    return card(page, name).locator(".badge")


def test_it_upscales_a_link_and_an_upload_live_and_downloads_the_result(
    tab: Page, worker: Any, engine: str, artifacts: Path, tmp_path: Path
) -> None:
    sign_up(tab, "iris")
    expect(tab.locator("#spend")).to_have_text("spent $0.00 of $1.00")
    tab.evaluate("window.__marker = 1")  # gone if the tab ever reloads or navigates
    tab.evaluate(RECORD_STATES, "landscape.jpg")

    tab.fill("#id_urls", f"{engine}/samples/landscape.jpg?engine_delay=2")
    tab.set_input_files("input[name=images]", CHELSEA)
    expect(tab.locator("#cost")).to_have_text("2 images = $0.02, $1.00 left")
    submit(tab)

    expect(tab.locator("#job-grid .card")).to_have_count(2)
    expect(tab.locator("#messages")).to_contain_text("Submitted 2 images ($0.02).")
    for name in ("landscape.jpg", "chelsea.jpg"):
        expect(badge(tab, name)).to_have_attribute("data-state", "success", timeout=DONE)
    expect(tab.locator("#spend")).to_have_text("spent $0.02 of $1.00")
    expect(card(tab, "chelsea.jpg")).to_contain_text("2048 × 1362")
    # Nothing in flight: the gallery stops polling.
    expect(tab.locator("#poller")).to_have_attribute("data-live", "false")

    assert tab.evaluate("window.__marker") == 1, "the tab reloaded or navigated"
    states = tab.evaluate("window.__states")
    assert states[-1] == "success", states
    assert set(states[:-1]) & set(IN_FLIGHT), f"no in-flight state was shown: {states}"
    assert set(states) <= set(LIFECYCLE), f"unexpected states: {states}"
    assert states == sorted(states, key=LIFECYCLE.index), f"states went backwards: {states}"

    wait_for_images(tab)
    tab.screenshot(path=artifacts / "gallery.png", full_page=True)

    card(tab, "chelsea.jpg").get_by_role("link", name="Details").click()
    tab.wait_for_url(re.compile(r"/jobs/[0-9a-f-]{36}/$"))
    expect(tab.locator("h1")).to_have_text("chelsea.jpg")
    result = tab.locator("img.compare-after")  # the result, under the before/after slider
    expect(result).to_be_visible()
    wait_for_images(tab)
    assert result.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [2048, 1362]
    tab.screenshot(path=artifacts / "job.png", full_page=True)

    with tab.expect_download() as download_info:
        tab.locator("#job-grid").get_by_role("link", name="Download").click()
    download = download_info.value
    assert download.suggested_filename == "chelsea_2k.jpg"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    with Image.open(saved) as image:
        assert (image.format, image.size) == ("JPEG", (2048, 1362))


def test_it_shows_a_failed_task_with_advice_and_a_paid_retry_succeeds(
    tab: Page, worker: Any, engine: str, artifacts: Path
) -> None:
    make_user("jules")
    log_in(tab, "jules")
    # Only the first task of this link fails: the retry works, as after a real hiccup.
    submit(
        tab, urls=[f"{engine}/samples/logo.png?engine_fail=SensitiveContent&engine_fail_times=1"]
    )

    failed = card(tab, "logo.png")
    expect(failed.locator(".badge")).to_have_attribute("data-state", "failed", timeout=DONE)
    expect(failed.locator(".fail")).to_contain_text("SensitiveContent")
    expect(failed.locator(".fail")).to_contain_text("Use a different image")
    # APIXO accepted the task before it failed: it was billed, and the card says so.
    expect(failed.locator(".charge")).to_have_text(
        "Charged $0.01: APIXO bills every accepted image"
    )
    expect(tab.locator("#spend")).to_have_text("spent $0.01 of $1.00")
    tab.screenshot(path=artifacts / "gallery-failed.png", full_page=True)
    failed_id = failed.get_attribute("id")

    failed.get_by_role("button", name="Retry (new job, $0.01)").click()

    expect(tab.locator("#messages")).to_contain_text("Retrying logo.png as a new job ($0.01).")
    expect(card(tab, "logo.png")).to_have_count(2)
    retry = tab.locator(f'#job-grid .card[aria-label="logo.png"]:not(#{failed_id})')
    # The failed card now points to its retry and can't be retried (and paid for) again.
    old = tab.locator(f"#{failed_id}")
    expect(old.get_by_role("button", name="Retry (new job, $0.01)")).to_have_count(0)
    retry_code = retry.get_attribute("data-code")
    link = old.get_by_role("link", name="Retried → new job")
    expect(link).to_have_attribute("href", f"/jobs/{retry_code}/")
    expect(retry.locator(".badge")).to_have_attribute("data-state", "success", timeout=DONE)
    expect(retry.locator("img")).to_be_visible()
    # Both were billed: APIXO charges every image it accepted, failed or not.
    expect(tab.locator("#spend")).to_have_text("spent $0.02 of $1.00")


def test_it_rejects_a_bad_submission_with_errors_in_the_form_and_charges_nothing(
    tab: Page,
    app_settings: Any,
    browser_problems: BrowserProblems,
    tmp_path: Path,
    artifacts: Path,
) -> None:
    # The form answers 400 with its errors (htmx swaps it in like a 200), which Chromium
    # logs as a failed resource.
    browser_problems.expect(r"status of 400 \(Bad Request\) \(at .*/jobs/\)")
    make_user("kim")
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image\n")
    log_in(tab, "kim")
    tab.evaluate("window.__marker = 1")

    submit(tab, urls=["file:///etc/passwd"], files=[notes])

    errors = tab.locator("#submit-form .errors")
    expect(errors).to_contain_text("Line 1 (file:///etc/passwd)")
    expect(errors).to_contain_text("notes.txt: This is not a JPG, PNG or WebP image.")
    expect(errors).to_contain_text("Nothing was submitted")
    # The user's input is kept for fixing.
    expect(tab.locator("#id_urls")).to_have_value("file:///etc/passwd")
    expect(tab.locator("#job-grid .card")).to_have_count(0)
    expect(tab.locator(".empty")).to_have_text("No images yet. Submit a link or a file above.")
    expect(tab.locator("#spend")).to_have_text("spent $0.00 of $1.00")
    assert tab.evaluate("window.__marker") == 1
    tab.screenshot(path=artifacts / "gallery-rejected.png", full_page=True)

    tab.reload()  # and nothing was kept behind the scenes
    expect(tab.locator("#job-grid .card")).to_have_count(0)
    expect(tab.locator("#spend")).to_have_text("spent $0.00 of $1.00")
    assert not Job.objects.exists()


def test_it_cancels_a_queued_job_and_releases_its_reservation(
    tab: Page, app_settings: Any, redis_url: str
) -> None:
    """No worker runs here, so the job stays queued until the user cancels it."""
    redis.Redis.from_url(redis_url).flushdb()
    user: User = make_user("lou")
    log_in(tab, "lou")
    submit(tab, files=[CHELSEA])

    queued = card(tab, "chelsea.jpg")
    expect(queued.locator(".badge")).to_have_attribute("data-state", "queued")
    expect(queued.locator(".badge")).to_have_text("Queued")
    expect(tab.locator("#spend")).to_have_text("spent $0.00 of $1.00 · $0.01 reserved")

    queued.get_by_role("button", name="Cancel").click()

    expect(queued.locator(".badge")).to_have_attribute("data-state", "canceled")
    expect(queued.locator(".badge")).to_have_text("Canceled")
    expect(queued.get_by_role("button", name="Cancel")).to_have_count(0)
    expect(queued.get_by_role("button", name="Retry (new job, $0.01)")).to_be_visible()
    expect(tab.locator("#spend")).to_have_text("spent $0.00 of $1.00")
    user.budget.refresh_from_db()
    assert (user.budget.spent_cents, user.budget.reserved_cents) == (0, 0)


def test_the_pause_banner_comes_and_goes_live(tab: Page, app_settings: Any, redis_url: str) -> None:
    """No worker runs here: the job stays queued, so the gallery keeps polling."""
    from django.core.cache import cache

    from jobs import throttle

    redis.Redis.from_url(redis_url).flushdb()
    make_user("max")
    log_in(tab, "max")
    submit(tab, files=[CHELSEA])
    expect(card(tab, "chelsea.jpg").locator(".badge")).to_have_attribute("data-state", "queued")
    expect(tab.locator("#pause-banner")).to_be_empty()
    tab.evaluate("window.__marker = 1")

    throttle.open_breaker(402, "Insufficient balance")
    expect(tab.locator("#pause-banner")).to_contain_text("Submissions are paused")
    cache.delete(throttle.BREAKER_KEY)  # as the cache expiry does
    expect(tab.locator("#pause-banner")).to_be_empty()
    assert tab.evaluate("window.__marker") == 1, "the banner came by a reload"
