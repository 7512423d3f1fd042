"""QA of the compare's controls on a phone: "Before [slider] After" stays one line at
390 px and 320 px, on the job page and on the share page. The phone layout lets inline
labels wrap (for the filters and presets), which put the slider's "After" alone on the
next line, under "Before", so it no longer read as the slider's right-hand end."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone
from PIL import Image
from playwright.sync_api import Browser, Page

from jobs.models import Job, ShareLink
from tests.browser.support import BrowserProblems, log_in
from tests.conftest import make_job, make_user

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]


def _png(size: tuple[int, int], colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def job(transactional_db: None) -> Job:
    job = make_job(
        make_user("wren"),
        Job.State.SUCCESS,
        source_name="field.png",
        result_width=800,
        result_height=600,
    )
    job.source_file.save("s.png", ContentFile(_png((200, 150), (200, 40, 40))), save=False)
    job.result_file.save("r.png", ContentFile(_png((800, 600), (40, 40, 200))), save=True)
    return job


def _slider_ends_on_one_line(tab: Page) -> dict[str, float]:
    """The vertical middles of "Before", the slider and "After" (the label's text nodes), and
    on how many lines each word is drawn."""
    middles: dict[str, float] = tab.evaluate(
        """() => {
            const input = document.getElementById('compare-range');
            const label = input.closest('label');
            const middle = r => r.top + r.height / 2;
            const texts = [...label.childNodes].filter(n => n.nodeType === 3 && n.textContent.trim());
            const rect = n => { const r = document.createRange(); r.selectNodeContents(n); return r.getBoundingClientRect(); };
            // A word broken over two lines ("Befor" / "e") has two boxes.
            const lines = n => { const r = document.createRange(); r.selectNodeContents(n);
                return new Set([...r.getClientRects()].filter(b => b.width > 0).map(b => Math.round(b.top))).size; };
            return {before: middle(rect(texts[0])), slider: middle(input.getBoundingClientRect()),
                    after: middle(rect(texts[texts.length - 1])),
                    before_lines: lines(texts[0]), after_lines: lines(texts[texts.length - 1])};
        }"""
    )
    return middles


@pytest.mark.parametrize("width", [390, 320])
def test_before_slider_after_is_one_line_on_a_phone(
    chromium: Browser,
    live_server: Any,
    job: Job,
    browser_problems: BrowserProblems,
    width: int,
) -> None:
    share = ShareLink.objects.create(
        job=job, created_by=job.user, expires=timezone.now() + timedelta(days=7)
    )
    context = chromium.new_context(
        base_url=live_server.url,
        viewport={"width": width, "height": 844},
        has_touch=True,
        is_mobile=True,
    )
    context.on("page", browser_problems.watch)
    try:
        tab = context.new_page()
        log_in(tab, "wren")
        for url in (job.get_absolute_url(), share.get_absolute_url()):
            tab.goto(url)
            middles = _slider_ends_on_one_line(tab)
            assert middles["after"] == pytest.approx(middles["slider"], abs=6), url
            assert middles["before"] == pytest.approx(middles["slider"], abs=6), url
            assert (middles["before_lines"], middles["after_lines"]) == (1, 1), url
            width_now = tab.evaluate("document.documentElement.scrollWidth")
            assert width_now <= width, url
    finally:
        context.close()
