"""The compare slider and many-file uploads in a real browser."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from jobs.models import Job
from tests.browser.support import FIXTURES, log_in
from tests.conftest import make_job, make_user, with_files

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]

# Drops files on the form the way a file manager does: a drop event with a DataTransfer.
DROP = """([selector, files]) => {
  const data = new DataTransfer();
  for (const [name, b64] of files) {
    const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
    data.items.add(new File([bytes], name, { type: "image/jpeg" }));
  }
  const target = document.querySelector(selector);
  for (const type of ["dragenter", "dragover", "drop"]) {
    target.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: data }));
  }
}"""

# Remembers every upload progress value the bar showed.
RECORD_PROGRESS = """() => {
  window.__progress = [];
  document.addEventListener("htmx:xhr:progress", () => {
    const bar = document.getElementById("upload-progress");
    if (bar && !bar.hidden) window.__progress.push(bar.value);
  });
}"""


def test_it_wipes_between_before_and_after_with_the_keyboard(tab: Page, live_server: Any) -> None:
    user = make_user("vera")
    job = with_files(make_job(user, Job.State.SUCCESS, source_name="cat.jpg", result_width=128))
    log_in(tab, "vera")
    tab.goto(f"/jobs/{job.code}/")
    slider = tab.get_by_role("slider", name="Before and after")
    expect(slider).to_have_value("50")
    slider.focus()
    for _ in range(5):
        tab.keyboard.press("ArrowRight")
    tab.keyboard.press("PageDown")  # 10 back
    expect(slider).to_have_value("45")
    stage = tab.locator("#compare-stage")
    assert stage.evaluate("el => el.style.getPropertyValue('--pos')") == "45%"
    # The original is shown up to 45% of the width, over the result at the same size.
    before, after = tab.locator(".compare-before"), tab.locator(".compare-after")
    assert before.bounding_box() == after.bounding_box()
    # (The clip is on the picture's frame, which doesn't zoom: see static/js/compare.js.)
    clip = before.evaluate("el => getComputedStyle(el.closest('.compare-before-clip')).clipPath")
    assert clip == "inset(0px 55% 0px 0px)", clip
    tab.keyboard.press("End")
    expect(slider).to_have_value("100")


def test_it_uploads_dropped_files_with_a_progress_bar(tab: Page, live_server: Any) -> None:
    make_user("walt")
    log_in(tab, "walt")
    tab.evaluate(RECORD_PROGRESS)
    # Two different pictures: the same one twice would be one job (one batch, one charge).
    one, two = (
        base64.b64encode((FIXTURES / name).read_bytes()).decode()
        for name in ("chelsea.jpg", "coffee.jpg")
    )
    tab.evaluate(DROP, ["#dropzone", [["one.jpg", one], ["two.jpg", two]]])
    expect(tab.locator("#cost")).to_contain_text("2 images = $0.02")
    assert tab.locator("input[name=images]").evaluate("el => el.files.length") == 2
    with tab.expect_response(lambda r: r.url.endswith("/jobs/") and r.request.method == "POST"):
        tab.click("#submit-form button[type=submit]")
    expect(tab.locator("#job-grid .card")).to_have_count(2)
    expect(tab.locator("#messages")).to_contain_text("Submitted 2 images ($0.02).")
    progress = tab.evaluate("window.__progress")
    assert progress and progress[-1] == 100, progress
    # One batch of two: its progress bar is on the page.
    expect(tab.locator("#batches")).to_contain_text("0 of 2 done")


def test_it_counts_images_finished_while_the_tab_was_not_looked_at(
    tab: Page, live_server: Any
) -> None:
    user = make_user("xena")
    jobs = [make_job(user, Job.State.PROCESSING, source_name=f"p{n}.jpg") for n in range(2)]
    log_in(tab, "xena")
    title = tab.title()
    tab.evaluate("document.hasFocus = () => false")  # the user looks at another window
    for job in jobs:
        job.move((Job.State.PROCESSING,), Job.State.SUCCESS)
    expect(tab).to_have_title(f"(2) done · {title}", timeout=10_000)
    tab.evaluate("document.hasFocus = () => true; window.dispatchEvent(new Event('focus'))")
    expect(tab).to_have_title(title)
