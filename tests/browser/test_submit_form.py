"""The submit form that forgives (issue 12), in a real Chromium: thumbnails before sending,
a refused batch keeps its good files, presets across a reload, focus after a submit.

No worker runs here: submitted jobs stay queued, which is all these stories need.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from PIL import Image
from playwright.sync_api import Page, Route, expect

from jobs.models import Job, SubmitPreset
from tests.browser.support import FIXTURES, BrowserProblems, log_in
from tests.conftest import make_job, make_user

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]

CHELSEA = FIXTURES / "chelsea.jpg"  # 451 × 300, 31,589 bytes
COFFEE = FIXTURES / "coffee.jpg"  # 600 × 400, 56,809 bytes
REFUSED = r"status of 400 \(Bad Request\) \(at .*/jobs/\)"  # the form's answer to a bad batch


def _production_csp(route: Route) -> None:
    """Serve pages with the policy production sends (DEBUG off adds Django's CSP
    middleware; the test server runs with DEBUG on): no blob: or data: images, no inline
    code. What the page draws must work under it."""
    if route.request.resource_type != "document" or route.request.method != "GET":
        route.continue_()
        return
    response = route.fetch()
    policy = "; ".join(f"{name} {' '.join(values)}" for name, values in settings.SECURE_CSP.items())
    route.fulfill(
        response=response, headers={**response.headers, "content-security-policy": policy}
    )


@pytest.fixture(autouse=True)
def _under_production_csp(tab: Page) -> None:
    tab.route("**/*", _production_csp)


def _send(tab: Page) -> int:
    with tab.expect_response(
        lambda r: r.url.endswith("/jobs/") and r.request.method == "POST"
    ) as answer:
        tab.click("#submit-form button[type=submit]")
    return answer.value.status


def _picked(tab: Page, name: str) -> Any:
    return tab.locator(f'#picked .pick[data-name="{name}"]')


def test_picked_files_show_before_sending_and_removing_one_updates_the_cost(
    tab: Page, live_server: Any, tmp_path: Path
) -> None:
    make_user("nell")
    log_in(tab, "nell")
    wide = tmp_path / "panorama.png"
    Image.new("RGB", (2100, 10), (10, 120, 200)).save(wide)
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image\n")
    tab.select_option("#id_resolution", "2k")
    tab.set_input_files("input[name=images]", [CHELSEA, COFFEE, wide, notes])

    expect(tab.locator("#picked .pick")).to_have_count(4)
    chelsea = _picked(tab, "chelsea.jpg")
    expect(chelsea).to_contain_text("31 KB · 451 × 300 px")
    expect(chelsea.locator("canvas.pick-thumb")).to_have_count(1)  # drawn, not a blob: URL
    expect(_picked(tab, "coffee.jpg")).to_contain_text("55 KB · 600 × 400 px")
    # Marked before anything is sent: what the server refuses, and what it only warns of.
    expect(_picked(tab, "notes.txt")).to_have_class("pick pick-bad")
    expect(_picked(tab, "notes.txt")).to_contain_text("Not a JPG, PNG, WebP, HEIC or AVIF image.")
    expect(_picked(tab, "panorama.png")).to_contain_text(
        "Already 2100 px: 2k (2048 px) won't enlarge it."
    )
    tab.select_option("#id_resolution", "4k")  # the note follows the tier
    expect(_picked(tab, "panorama.png")).not_to_contain_text("won't enlarge")
    expect(tab.locator("#pick-summary")).to_have_text(
        "4 files picked, 1 marked: remove it before sending."
    )
    expect(tab.locator("#cost")).to_have_text("4 images = $0.04, $1.00 left")

    tab.get_by_role("button", name="Remove notes.txt").click()
    tab.get_by_role("button", name="Remove panorama.png").click()
    expect(tab.locator("#picked .pick")).to_have_count(2)
    expect(tab.locator("#cost")).to_have_text("2 images = $0.02, $1.00 left")
    expect(tab.locator("#pick-summary")).to_have_text("2 files picked.")
    assert tab.locator("input[name=images]").evaluate("el => [...el.files].map(f => f.name)") == [
        "chelsea.jpg",
        "coffee.jpg",
    ]
    # The same picture picked again is counted (and charged) once.
    tab.set_input_files("input[name=images]", [CHELSEA])
    expect(tab.locator("#picked .pick")).to_have_count(3)
    expect(tab.locator("#picked .pick").nth(2)).to_contain_text(
        "Same picture as chelsea.jpg: upscaled, and charged, once."
    )
    expect(tab.locator("#cost")).to_have_text("2 images = $0.02, $1.00 left")
    assert not Job.objects.exists()  # nothing was sent


def test_a_refused_batch_keeps_its_good_files_and_sends_without_the_bad_one(
    tab: Page, live_server: Any, tmp_path: Path, browser_problems: BrowserProblems
) -> None:
    browser_problems.expect(REFUSED)
    make_user("otto")
    log_in(tab, "otto")
    # A file only the server can judge: the browser can't read its pixel size either.
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")
    good = [tmp_path / f"good{n}.jpg" for n in range(3)]
    shutil.copy(COFFEE, good[0])
    shutil.copy(CHELSEA, good[1])
    Image.new("RGB", (300, 200), (200, 120, 40)).save(good[2], "JPEG")
    tab.set_input_files("input[name=images]", [good[0], broken, good[1], good[2]])
    expect(_picked(tab, "broken.jpg")).to_contain_text("pixel size unknown here")

    assert _send(tab) == 400

    expect(tab.locator("#submit-form .errors")).to_contain_text("broken.jpg: ")
    expect(tab.locator("#picked .pick")).to_have_count(4)
    expect(_picked(tab, "broken.jpg")).to_have_class("pick pick-bad")
    expect(_picked(tab, "broken.jpg").locator(".pick-problem")).to_have_count(1)
    for path in good:
        expect(_picked(tab, path.name)).not_to_have_class("pick pick-bad")
    assert tab.locator("input[name=images]").evaluate("el => el.files.length") == 4
    assert not Job.objects.exists()

    tab.get_by_role("button", name="Remove broken.jpg").click()
    expect(tab.locator("#cost")).to_contain_text("3 images = $0.03")
    assert _send(tab) == 200

    expect(tab.locator("#job-grid .card")).to_have_count(3)
    expect(tab.locator("#messages")).to_contain_text("Submitted 3 images ($0.03).")
    expect(tab.locator("#picked .pick")).to_have_count(0)  # sent: the list starts afresh
    assert sorted(Job.objects.values_list("source_name", flat=True)) == [p.name for p in good]


def test_a_preset_is_saved_kept_across_a_reload_applied_and_deleted(
    tab: Page, live_server: Any
) -> None:
    make_user("pia")
    log_in(tab, "pia")
    tab.select_option("#id_resolution", "8k")
    tab.select_option("#id_output_format", "png")
    tab.check("#id_strip_gps")
    tab.fill("#preset-name", "Print 8k PNG")
    tab.keyboard.press("Enter")  # saves the preset; it never sends the form
    expect(tab.get_by_role("button", name="Print 8k PNG", exact=True)).to_be_visible()
    assert SubmitPreset.objects.get().resolution == "8k"
    assert not Job.objects.exists()

    tab.reload()
    tab.select_option("#id_resolution", "2k")
    tab.select_option("#id_output_format", "jpg")
    tab.uncheck("#id_strip_gps")
    tab.get_by_role("button", name="Print 8k PNG", exact=True).click()
    expect(tab.locator("#id_resolution")).to_have_value("8k")
    expect(tab.locator("#id_output_format")).to_have_value("png")
    expect(tab.locator("#id_strip_gps")).to_be_checked()
    expect(tab.get_by_role("status").filter(has_text="applied")).to_have_text(
        "Print 8k PNG applied."
    )

    tab.get_by_role("button", name="Delete preset Print 8k PNG").click()
    expect(tab.get_by_role("button", name="Print 8k PNG", exact=True)).to_have_count(0)
    tab.reload()
    expect(tab.get_by_role("button", name="Print 8k PNG", exact=True)).to_have_count(0)
    assert not SubmitPreset.objects.exists()


def test_the_last_settings_are_kept_across_a_reload(tab: Page, live_server: Any) -> None:
    make_user("quin")
    log_in(tab, "quin")
    tab.set_input_files("input[name=images]", [CHELSEA])
    tab.select_option("#id_resolution", "8k")
    tab.select_option("#id_output_format", "webp")
    assert _send(tab) == 200
    expect(tab.locator("#job-grid .card")).to_have_count(1)
    tab.reload()
    expect(tab.locator("#id_resolution")).to_have_value("8k")
    expect(tab.locator("#id_output_format")).to_have_value("webp")


def test_focus_returns_to_the_form_after_a_submit(
    tab: Page, live_server: Any, tmp_path: Path, browser_problems: BrowserProblems
) -> None:
    browser_problems.expect(REFUSED)
    make_user("rae")
    log_in(tab, "rae")
    tab.set_input_files("input[name=images]", [CHELSEA])
    tab.locator("#submit-form button[type=submit]").focus()
    with tab.expect_response(lambda r: r.url.endswith("/jobs/") and r.request.method == "POST"):
        tab.keyboard.press("Enter")
    expect(tab.locator("#job-grid .card")).to_have_count(1)
    expect(tab.locator("#submit-form")).to_be_focused()
    # Tab goes on from the form, into its fields: not from the top of the page.
    tab.keyboard.press("Tab")
    assert tab.evaluate("document.activeElement.closest('#submit-form') !== null")

    tab.fill("#id_urls", "not a link")
    assert _send(tab) == 400
    expect(tab.locator("#submit-form .errors")).to_be_focused()
    expect(tab.locator("#submit-form .errors")).to_contain_text("Line 1")


def test_the_left_beside_the_button_follows_the_live_gallery(tab: Page, live_server: Any) -> None:
    """Another tab (or a script) submits while this page is open: the live poll brings its
    card and the new "left" together; no reload."""
    user = make_user("sid")
    assert user.budget.reserve(1)
    make_job(user, source_name="first.jpg")  # in flight: the page polls
    log_in(tab, "sid")
    tab.evaluate("window.__marker = 1")
    tab.set_input_files("input[name=images]", [CHELSEA])
    expect(tab.locator("#cost")).to_have_text("1 image = $0.01, $0.99 left")

    assert user.budget.reserve(2)
    make_job(user, source_name="second.jpg")
    make_job(user, source_name="third.jpg")

    expect(tab.locator("#job-grid .card")).to_have_count(3)
    expect(tab.locator("#cost")).to_have_text("1 image = $0.01, $0.97 left")
    expect(tab.locator("#picked .pick")).to_have_count(1)  # the picked file is still there
    assert tab.evaluate("window.__marker") == 1
