"""Benchmark: the bytes a browser transfers for the job page of an 8k PNG result.

    .venv/bin/python bench/page_weight.py [--quick]

One source photo (tests/fixtures/chelsea.jpg) upscaled to 8k, 4k and 2k PNGs (with grain,
as a real upscale has detail), each made into its thumbnail and preview by the worker's
own `lib.images.make_renditions`, in one gallery: the 8k job's page shows the compare and
"this source at every tier". The same three results without previews (jobs finished before
previews existed: their preview URL sends the browser to the full file, which is what every
page loaded before) are the alternative.

Debian's Chromium (Playwright) opens each page with a cold cache, scrolls to the end so
every lazy image loads, waits for the network to go quiet and sums what each response put
on the wire (headers and encoded body). Served by gunicorn with DEBUG off (whitenoise's
compressed static files). Then the zoom is set to 4x, which swaps in the full result.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import ROOT, Stack, flag, login_cookie, table, verdict  # noqa: E402
from devtools.procs import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

TARGET = 1_500_000  # bytes
TIERS = {"8k": 8192, "4k": 4096, "2k": 2048}


def mb(n: float) -> str:
    return f"{n / 1_000_000:.2f} MB"


def make_results(folder: Path, quick: bool) -> tuple[Path, dict[str, Path]]:
    from PIL import Image, ImageChops

    folder.mkdir(parents=True, exist_ok=True)
    source = ROOT / "tests" / "fixtures" / "chelsea.jpg"
    photo = Image.open(source).convert("RGB")
    results = {}
    for tier, edge in TIERS.items():
        size = (edge, round(edge * photo.height / photo.width))
        big = photo.resize(size, Image.Resampling.BICUBIC)
        big = ImageChops.add(big, Image.effect_noise(size, 6).convert("RGB"), offset=-128)
        results[tier] = folder / f"result-{tier}.png"
        big.save(results[tier], compress_level=1 if quick else 6)
    return source, results


def seed(source: Path, results: dict[str, Path]) -> dict[str, Any]:
    """Two users with the same three results: one with previews, one without."""
    from django.contrib.auth.models import User
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from jobs.models import Batch, Budget, Job
    from lib.images import make_renditions

    stored: dict[str, dict[str, Any]] = {}
    for tier, path in results.items():
        made = make_renditions(str(path))
        stored[tier] = {
            "result_file": default_storage.save(
                f"results/{tier}.png", ContentFile(path.read_bytes())
            ),
            "thumbnail": default_storage.save(f"thumbs/{tier}.webp", ContentFile(made.thumbnail)),
            "preview": default_storage.save(f"previews/{tier}.webp", ContentFile(made.preview)),
            "result_width": made.width,
            "result_height": made.height,
            "result_bytes": path.stat().st_size,
            "preview_bytes": len(made.preview),
        }
    source_name = default_storage.save("sources/chelsea.jpg", ContentFile(source.read_bytes()))
    pages = {}
    for who, with_preview in (("ours", True), ("before", False)):
        user = User.objects.create_user(f"bench-{who}")
        budget = Budget.objects.create(user=user, limit_cents=None)
        batch = Batch.objects.create(code=uuid.uuid4(), user=user)
        for tier, files in stored.items():
            job = Job.objects.create(
                user=user,
                budget=budget,
                batch=batch,
                state=Job.State.SUCCESS,
                source_url="https://images.example.com/chelsea.jpg",
                source_name="chelsea.jpg",
                source_file=source_name,
                resolution=tier,
                output_format="png",
                result_file=files["result_file"],
                thumbnail=files["thumbnail"],
                preview=files["preview"] if with_preview else "",
                result_width=files["result_width"],
                result_height=files["result_height"],
                result_bytes=files["result_bytes"],
            )
            if tier == "8k":
                pages[who] = (login_cookie(user), job.get_absolute_url())
    return {"pages": pages, "stored": stored}


def measure(browser: Any, base: str, cookie: str, url: str, swaps: bool) -> dict[str, Any]:
    from playwright.sync_api import expect

    name, value = cookie.split("=", 1)
    context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 900})
    context.add_cookies([{"name": name, "value": value, "url": base}])
    page = context.new_page()
    finished: list[Any] = []
    page.on("requestfinished", lambda r: finished.append(r))

    def total() -> tuple[int, int]:
        sizes = [r.sizes() for r in finished]
        return sum(s["responseBodySize"] + s["responseHeadersSize"] for s in sizes), len(sizes)

    page.goto(url)
    page.wait_for_load_state("networkidle")
    for _ in range(5):  # to the end of the page, so every lazy image loads
        page.mouse.wheel(0, 1500)
        page.wait_for_timeout(200)
    page.wait_for_load_state("networkidle")
    loaded, requests = total()
    images = sum(r.sizes()["responseBodySize"] for r in finished if r.resource_type == "image")
    page.select_option("#compare-zoom", "4")
    if swaps:  # the full file replaces the preview once loaded
        expect(page.locator("#compare")).to_have_attribute(
            "data-full-loaded", "true", timeout=120_000
        )
    else:  # an older job's "preview" is the full file already: nothing to swap
        page.wait_for_timeout(1000)
    zoomed, _ = total()
    context.close()
    return {"loaded": loaded, "requests": requests, "images": images, "zoomed": zoomed}


def main() -> int:
    quick = flag("--quick")
    with Stack("page-weight") as stack:
        source, results = make_results(stack.tmp / "made", quick)
        stack.start_redis()
        stack.setup_django(static=True)
        import logging

        logging.disable(logging.WARNING)  # axes logs every login_cookie at INFO
        seeded = seed(source, results)
        stack.start_gunicorn(settings="upscaler_site.settings")
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            got = {
                who: measure(browser, stack.web_url, cookie, url, swaps=who == "ours")
                for who, (cookie, url) in seeded["pages"].items()
            }
            browser.close()

    stored = seeded["stored"]
    table(
        "The results and their previews (made by lib.images.make_renditions)",
        ["tier", "result", "PNG size", "preview (WebP, 2048 px)"],
        [
            (
                t,
                f"{s['result_width']}x{s['result_height']}",
                mb(s["result_bytes"]),
                mb(s["preview_bytes"]),
            )
            for t, s in stored.items()
        ],
    )
    ours, before = got["ours"], got["before"]
    table(
        "Job page of the 8k PNG, first visit (cold cache), scrolled to the end",
        ["page", "transferred", "of it images", "requests", "after zoom 4x"],
        [
            (
                "ours: previews",
                mb(ours["loaded"]),
                mb(ours["images"]),
                ours["requests"],
                mb(ours["zoomed"]),
            ),
            (
                "before: full files",
                mb(before["loaded"]),
                mb(before["images"]),
                before["requests"],
                mb(before["zoomed"]),
            ),
        ],
    )
    table(
        "Targets",
        ["target", "goal", "measured", "verdict"],
        [
            (
                "job page of an 8k result, transferred",
                f"<= {mb(TARGET)}",
                f"{mb(ours['loaded'])} (before: {mb(before['loaded'])})",
                verdict(ours["loaded"] <= TARGET),
            )
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
