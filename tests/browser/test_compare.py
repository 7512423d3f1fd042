"""The before/after compare in a real browser: the divider follows a mouse drag anywhere on
the picture and a finger's swipe; zoomed in, the picture pans (by mouse, finger or keyboard)
and the divider stays in view; pinch and double-tap zoom; the page loads previews (of the
result, and of a large source), and a full file only once zoomed past its preview; the
share page has the same compare."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.utils import timezone
from PIL import Image, ImageFilter
from playwright.sync_api import FloatRect, Page, Request, expect

from jobs.models import Job, ShareLink
from lib.images import decode_source, make_renditions
from tests.browser.support import log_in
from tests.conftest import make_job, make_user

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]
BUDGET = 1_500_000  # bytes: docs/performance.md's goal for an 8k result's page
PHONE = {"width": 390, "height": 844}
AXE = Path(__file__).parent / "vendor" / "axe-4.14.1.min.js"


def _picture(size: tuple[int, int]) -> Image.Image:
    """A photo-like picture: smooth colour with grain, so it compresses like a photo."""
    small = Image.effect_noise((size[0] // 16, size[1] // 16), 90).convert("RGB")
    img = small.filter(ImageFilter.GaussianBlur(2)).resize(size, Image.Resampling.BICUBIC)
    grain = Image.effect_noise(size, 12).convert("RGB")
    return Image.blend(img, grain, 0.25)


def _encoded(img: Image.Image, fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **options)
    return out.getvalue()


def _finished_job(
    user: User,
    tmp_path: Any,
    result_size: tuple[int, int] = (4096, 2730),
    source_size: tuple[int, int] = (1024, 683),
) -> Job:
    """A 4096 px result (a few MB of JPEG) with its source and the worker's renditions: the
    result's preview and thumbnail, and the source's preview if it is larger than that."""
    result = _picture(result_size)
    path = tmp_path / "result.jpg"
    result.save(path, "JPEG", quality=95)
    made = make_renditions(str(path))
    job = make_job(
        user,
        Job.State.SUCCESS,
        source_name="field.jpg",
        result_width=result_size[0],
        result_height=result_size[1],
        result_bytes=path.stat().st_size,
        source_width=source_size[0],
        source_height=source_size[1],
    )
    large = max(source_size) > 2048  # a camera's photo, as it saves it: a few MB
    source = _encoded(
        result.resize(source_size, Image.Resampling.LANCZOS), "JPEG", quality=95 if large else 85
    )
    job.source_bytes = len(source)
    job.source_file.save("s.jpg", ContentFile(source), save=False)
    if large:
        preview = decode_source(io.BytesIO(source), "jpg", preview=True)
        assert preview is not None
        job.source_preview.save("s.webp", ContentFile(preview), save=False)
    job.result_file.save("r.jpg", ContentFile(path.read_bytes()), save=False)
    job.thumbnail.save("t.webp", ContentFile(made.thumbnail), save=False)
    job.preview.save("p.webp", ContentFile(made.preview), save=True)
    return job


@pytest.fixture
def job(tmp_path: Any) -> Job:
    return _finished_job(make_user("vera"), tmp_path)


def _open_job(tab: Page, job: Job) -> None:
    log_in(tab, "vera")
    tab.goto(job.get_absolute_url())
    tab.wait_for_function("document.querySelector('.compare-after').naturalWidth > 0")


def _stage(page: Page) -> FloatRect:
    box = page.locator("#compare-stage").bounding_box()
    assert box is not None
    return box


def _divider_x(page: Page) -> float:
    """Where the divider line is drawn, in page coordinates."""
    box = page.locator(".compare-handle").bounding_box()
    assert box is not None
    return box["x"] + box["width"] / 2


def _view(page: Page) -> dict[str, float]:
    view: dict[str, float] = page.evaluate(
        """() => {
            const s = getComputedStyle(document.getElementById('compare-stage'));
            return {x: parseFloat(s.getPropertyValue('--tx')) || 0,
                    y: parseFloat(s.getPropertyValue('--ty')) || 0,
                    zoom: parseFloat(s.getPropertyValue('--zoom')) || 1};
        }"""
    )
    return view


def _drag(page: Page, start: tuple[float, float], end: tuple[float, float]) -> None:
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=8)
    page.mouse.up()


def _range(page: Page) -> int:
    return int(page.locator("#compare-range").input_value())


def test_a_mouse_drag_anywhere_on_the_picture_moves_the_divider(tab: Page, job: Job) -> None:
    _open_job(tab, job)
    tab.add_script_tag(path=str(AXE))
    found = tab.evaluate(
        """async () => (await axe.run('#compare', {runOnly: ['wcag2a', 'wcag2aa']})).violations
            .filter(v => v.impact === 'serious' || v.impact === 'critical').map(v => v.id)"""
    )
    assert found == [], found
    box = _stage(tab)
    y = box["y"] + box["height"] * 0.4
    _drag(tab, (box["x"] + box["width"] * 0.7, y), (box["x"] + box["width"] * 0.2, y))
    assert _range(tab) == pytest.approx(20, abs=1)
    assert _divider_x(tab) == pytest.approx(box["x"] + box["width"] * 0.2, abs=3)
    # The keyboard still works: the slider's arrow keys move it too.
    tab.focus("#compare-range")
    for _ in range(5):
        tab.keyboard.press("ArrowRight")
    assert _range(tab) == 25
    assert _divider_x(tab) == pytest.approx(box["x"] + box["width"] * 0.25, abs=3)


def test_zoom_opens_on_the_centre_and_a_drag_pans_with_the_divider_in_view(
    tab: Page, job: Job
) -> None:
    _open_job(tab, job)
    box = _stage(tab)
    tab.select_option("#compare-zoom", "2")
    view = _view(tab)
    assert view["zoom"] == 2
    assert view["x"] == pytest.approx(-box["width"] / 2, abs=1)  # the centre stays put
    assert view["y"] == pytest.approx(-box["height"] / 2, abs=1)

    # A drag on the picture pans it (the divider doesn't move) ...
    start = (box["x"] + box["width"] * 0.25, box["y"] + box["height"] * 0.5)
    _drag(tab, start, (start[0] + 100, start[1] + 40))
    panned = _view(tab)
    assert panned["x"] == pytest.approx(view["x"] + 100, abs=2)
    assert panned["y"] == pytest.approx(view["y"] + 40, abs=2)
    assert _range(tab) == 50
    # ... past the edge it stops: the picture always fills the frame.
    _drag(tab, start, (start[0] + box["width"], start[1] + box["height"]))
    assert _view(tab)["x"] == 0 and _view(tab)["y"] == 0
    # The divider is still in view, and its handle still moves it.
    handle = _divider_x(tab)
    assert box["x"] < handle < box["x"] + box["width"]
    y = box["y"] + box["height"] * 0.3
    _drag(tab, (handle, y), (box["x"] + box["width"] * 0.8, y))
    assert _range(tab) == pytest.approx(80, abs=1)
    assert _view(tab)["x"] == 0  # moving the divider didn't pan
    # A double-click zooms back out to fit.
    tab.mouse.dblclick(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    assert _view(tab)["zoom"] == 1
    expect(tab.locator("#compare-zoom")).to_have_value("1")


def test_the_page_loads_previews_and_the_full_file_only_when_zoomed_past_them(
    tab: Page, job: Job
) -> None:
    log_in(tab, "vera")
    cdp = tab.context.new_cdp_session(tab)
    cdp.send("Network.clearBrowserCache")  # a first visit: the page and all its assets
    finished: list[Request] = []
    tab.on("requestfinished", lambda r: finished.append(r))
    tab.goto(job.get_absolute_url())
    tab.mouse.wheel(0, 3000)  # scroll to the end: every lazy image loads
    tab.wait_for_load_state("networkidle")
    page_urls = [r.url for r in finished]
    assert any(u.endswith(f"/jobs/{job.code}/preview/") for u in page_urls)
    assert not any("/result/" in u for u in page_urls), page_urls
    loaded = sum(r.sizes()["responseBodySize"] + r.sizes()["responseHeadersSize"] for r in finished)
    assert job.result_bytes is not None and job.result_bytes > BUDGET  # a heavy result ...
    assert loaded < BUDGET, f"{loaded} bytes"  # ... and a light page

    # Fit and 2x on this 1280 px screen show no more pixels than the 2048 px preview has.
    width = _stage(tab)["width"]
    assert width * 2 <= 2048
    tab.select_option("#compare-zoom", "2")
    tab.wait_for_timeout(300)
    assert not any("/result/" in r.url for r in finished)
    with tab.expect_request(lambda r: r.url.endswith(f"/jobs/{job.code}/result/")):
        tab.select_option("#compare-zoom", "4")
    expect(tab.locator("#compare")).to_have_attribute("data-full-loaded", "true")
    assert tab.evaluate("document.querySelector('.compare-after').naturalWidth") == 4096


def test_a_large_source_loads_as_a_preview_and_in_full_only_when_zoomed_past_it(
    tab: Page, tmp_path: Any
) -> None:
    job = _finished_job(
        make_user("vera"), tmp_path, result_size=(4096, 3072), source_size=(4000, 3000)
    )
    log_in(tab, "vera")
    cdp = tab.context.new_cdp_session(tab)
    cdp.send("Network.clearBrowserCache")
    finished: list[Request] = []
    tab.on("requestfinished", lambda r: finished.append(r))
    tab.goto(job.get_absolute_url())
    tab.mouse.wheel(0, 3000)
    tab.wait_for_load_state("networkidle")
    source = f"/jobs/{job.code}/source/"
    page_urls = [r.url for r in finished]
    assert any(u.endswith(f"/jobs/{job.code}/source-preview/") for u in page_urls)
    assert not any(u.endswith(source) or "/result/" in u for u in page_urls), page_urls
    loaded = sum(r.sizes()["responseBodySize"] + r.sizes()["responseHeadersSize"] for r in finished)
    assert job.source_bytes is not None and job.source_bytes > BUDGET  # a heavy source ...
    assert loaded < BUDGET, f"{loaded} bytes"  # ... and still a light page

    tab.select_option("#compare-zoom", "2")  # still no more pixels than the previews have
    tab.wait_for_timeout(300)
    assert not any(r.url.endswith(source) for r in finished)
    with tab.expect_request(lambda r: r.url.endswith(source)):
        tab.select_option("#compare-zoom", "4")
    expect(tab.locator("#compare")).to_have_attribute("data-before-full-loaded", "true")
    expect(tab.locator("#compare")).to_have_attribute("data-full-loaded", "true")
    assert tab.evaluate("document.querySelector('.compare-before').naturalWidth") == 4000


def test_zoomed_in_the_arrow_keys_pan_with_the_divider_in_view(tab: Page, job: Job) -> None:
    _open_job(tab, job)
    box = _stage(tab)
    stage = tab.locator("#compare-stage")
    hint = tab.locator("#compare-pan-hint")
    expect(hint).to_be_hidden()
    assert stage.get_attribute("tabindex") is None  # at fit, not a Tab stop of its own
    tab.focus("#compare-zoom")
    tab.keyboard.press("ArrowDown")  # the select: Fit -> 2x
    assert _view(tab)["zoom"] == 2
    expect(hint).to_be_visible()
    # The picture is now in the Tab order, just before the slider.
    tab.keyboard.press("Shift+Tab")
    tab.keyboard.press("Shift+Tab")
    expect(stage).to_be_focused()
    tab.add_script_tag(path=str(AXE))
    found = tab.evaluate(
        """async () => (await axe.run('#compare', {runOnly: ['wcag2a', 'wcag2aa']})).violations
            .filter(v => v.impact === 'serious' || v.impact === 'critical').map(v => v.id)"""
    )
    assert found == [], found

    start = _view(tab)
    scrolled = tab.evaluate("window.scrollY")
    tab.keyboard.press("ArrowRight")  # look further right: the picture moves left
    tab.keyboard.press("ArrowDown")
    moved = _view(tab)
    assert moved["x"] == pytest.approx(start["x"] - box["width"] * 0.1, abs=1)
    assert moved["y"] == pytest.approx(start["y"] - box["height"] * 0.1, abs=1)
    assert tab.evaluate("window.scrollY") == scrolled  # the keys panned, not the page
    tab.keyboard.press("Shift+ArrowLeft")  # a bigger step
    assert _view(tab)["x"] == pytest.approx(moved["x"] + box["width"] * 0.5, abs=1)
    tab.keyboard.press("Shift+ArrowLeft")  # past the edge it stops, as a drag does
    assert _view(tab)["x"] == 0
    # The divider stayed where it was, in view.
    assert _range(tab) == 50
    assert _divider_x(tab) == pytest.approx(box["x"] + box["width"] / 2, abs=3)

    tab.keyboard.press("Home")  # fits the picture again, keeping the focus
    assert _view(tab) == {"x": 0, "y": 0, "zoom": 1}
    expect(tab.locator("#compare-zoom")).to_have_value("1")
    expect(stage).to_be_focused()
    expect(hint).to_be_hidden()
    tab.keyboard.press("Tab")
    expect(tab.locator("#compare-range")).to_be_focused()
    assert stage.get_attribute("tabindex") is None


def _toucher(page: Page) -> Callable[[str, list[tuple[float, float]]], None]:
    """Send touch events through Chromium's input pipeline (so touch-action applies)."""
    cdp = page.context.new_cdp_session(page)

    def touch(kind: str, points: list[tuple[float, float]]) -> None:
        points_ = [{"x": x, "y": y, "id": i} for i, (x, y) in enumerate(points)]
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points_})

    return touch


def test_touch_swipes_the_divider_pinches_and_double_taps(
    chromium: Any, live_server: Any, transactional_db: None, job: Job, browser_problems: Any
) -> None:
    context = chromium.new_context(
        base_url=live_server.url, viewport=PHONE, has_touch=True, is_mobile=True
    )
    context.on("page", browser_problems.watch)
    try:
        tab = context.new_page()
        _open_job(tab, job)
        tab.locator("#compare-stage").scroll_into_view_if_needed()
        box = _stage(tab)
        cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        touch = _toucher(tab)

        # A sideways swipe moves the divider.
        touch("touchStart", [(box["x"] + box["width"] * 0.7, cy)])
        for i in range(1, 9):
            touch("touchMove", [(box["x"] + box["width"] * (0.7 - 0.05 * i), cy)])
        touch("touchEnd", [])
        assert _range(tab) == pytest.approx(30, abs=2)

        # Fingers spreading apart zoom in around their midpoint.
        touch("touchStart", [(cx - 20, cy), (cx + 20, cy)])
        for i in range(1, 9):
            touch("touchMove", [(cx - 20 - 5 * i, cy), (cx + 20 + 5 * i, cy)])
        touch("touchEnd", [])
        view = _view(tab)
        assert view["zoom"] == pytest.approx(3, abs=0.1)
        assert view["x"] == pytest.approx(cx - box["x"] - (cx - box["x"]) * view["zoom"], abs=3)
        assert _range(tab) == pytest.approx(30, abs=2)  # pinching didn't move the divider

        # Zoomed, a finger pans.
        touch("touchStart", [(cx, cy)])
        for i in range(1, 6):
            touch("touchMove", [(cx + 10 * i, cy)])
        touch("touchEnd", [])
        assert _view(tab)["x"] == pytest.approx(view["x"] + 50, abs=3)

        # A double-tap goes back to fit, another zooms in 2x at the tapped point.
        tab.touchscreen.tap(cx, cy)
        tab.touchscreen.tap(cx, cy)
        expect(tab.locator("#compare-zoom")).to_have_value("1")
        tab.wait_for_timeout(500)  # not a triple tap
        tab.touchscreen.tap(cx, cy)
        tab.touchscreen.tap(cx, cy)
        expect(tab.locator("#compare-zoom")).to_have_value("2")
        assert _divider_x(tab) < box["x"] + box["width"]
    finally:
        problems = browser_problems.unexpected()
        context.close()
    assert not problems, problems


def test_the_share_page_has_the_same_compare(tab: Page, job: Job) -> None:
    link = ShareLink.objects.create(
        job=job, created_by=job.user, expires=timezone.now() + timedelta(days=7)
    )
    tab.goto(link.get_absolute_url())  # a visitor: no login
    tab.wait_for_function("document.querySelector('.compare-after').naturalWidth > 0")
    assert tab.locator(".compare-after").get_attribute("src") == f"/share/{link.token}/preview/"
    box = _stage(tab)
    y = box["y"] + box["height"] / 2
    _drag(tab, (box["x"] + box["width"] * 0.5, y), (box["x"] + box["width"] * 0.9, y))
    assert _range(tab) == pytest.approx(90, abs=1)
    tab.select_option("#compare-zoom", "2")
    assert _view(tab)["zoom"] == 2
    assert box["x"] < _divider_x(tab) < box["x"] + box["width"]
