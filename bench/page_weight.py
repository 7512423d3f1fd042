"""Benchmark: the bytes a browser transfers for the job page of an 8k PNG result.

    .venv/bin/python bench/page_weight.py [--quick]

One source photo (tests/fixtures/chelsea.jpg) upscaled to 8k, 4k and 2k PNGs (with grain,
as a real upscale has detail), each made into its thumbnail and preview by the worker's
own `lib.images.make_renditions`, in one gallery: the 8k job's page shows the compare and
"this source at every tier". The same three results without previews (jobs finished before
previews existed: their preview URL sends the browser to the full file, which is what every
page loaded before) are the alternative.

A large source: the same three results of a 4000 px camera JPEG (10.6 MP, a few MB),
whose compare's before side shows the worker's source preview (`lib.images.decode_source`),
against the same jobs without one (before source previews: the full source).

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


LARGE_SOURCE_EDGE = 4000


def _grainy(photo: Any, edge: int) -> Any:
    from PIL import Image, ImageChops

    size = (edge, round(edge * photo.height / photo.width))
    big = photo.resize(size, Image.Resampling.BICUBIC)
    return ImageChops.add(big, Image.effect_noise(size, 6).convert("RGB"), offset=-128)


def make_results(folder: Path, quick: bool) -> tuple[Path, Path, dict[str, Path]]:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    source = ROOT / "tests" / "fixtures" / "chelsea.jpg"
    photo = Image.open(source).convert("RGB")
    results = {}
    for tier, edge in TIERS.items():
        results[tier] = folder / f"result-{tier}.png"
        _grainy(photo, edge).save(results[tier], compress_level=1 if quick else 6)
    large = folder / "camera.jpg"
    _grainy(photo, LARGE_SOURCE_EDGE).save(large, quality=92)
    return source, large, results


def seed(source: Path, large: Path, results: dict[str, Path]) -> dict[str, Any]:
    """Four users with the same three results: with previews or without; and with the large
    source, with its preview or without."""
    from django.contrib.auth.models import User
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from PIL import Image

    from jobs.models import Batch, Budget, Job
    from lib.images import decode_source, make_renditions

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
    with Image.open(source) as img:
        small_size = img.size
    large_name = default_storage.save("sources/camera.jpg", ContentFile(large.read_bytes()))
    with large.open("rb") as f:
        made_preview = decode_source(f, "jpg", preview=True) or b""
    large_preview = default_storage.save("previews/camera.webp", ContentFile(made_preview))
    with Image.open(large) as img:
        large_size = img.size
    sources = {
        "small": (source_name, "", small_size, source.stat().st_size),
        "large": (large_name, large_preview, large_size, large.stat().st_size),
        "large-full": (large_name, "", large_size, large.stat().st_size),
    }
    pages = {}
    cases = (
        ("ours", True, "small"),
        ("before", False, "small"),
        ("large", True, "large"),
        ("large-full", True, "large-full"),
    )
    for who, with_preview, kind in cases:
        source_file, source_preview, (width, height), source_bytes = sources[kind]
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
                source_file=source_file,
                source_preview=source_preview,
                source_width=width,
                source_height=height,
                source_bytes=source_bytes,
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
    sized = {"size": large_size, "bytes": large.stat().st_size, "preview": len(made_preview)}
    return {"pages": pages, "stored": stored, "large": sized}


def measure(
    browser: Any, base: str, cookie: str, url: str, swaps: bool, before_swaps: bool
) -> dict[str, Any]:
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
        if before_swaps:  # and the full source its preview
            expect(page.locator("#compare")).to_have_attribute(
                "data-before-full-loaded", "true", timeout=120_000
            )
    else:  # an older job's "preview" is the full file already: nothing to swap
        page.wait_for_timeout(1000)
    zoomed, _ = total()
    context.close()
    return {"loaded": loaded, "requests": requests, "images": images, "zoomed": zoomed}


def main() -> int:
    quick = flag("--quick")
    with Stack("page-weight") as stack:
        source, large, results = make_results(stack.tmp / "made", quick)
        stack.start_redis()
        stack.setup_django(static=True)
        import logging

        logging.disable(logging.WARNING)  # axes logs every login_cookie at INFO
        seeded = seed(source, large, results)
        stack.start_gunicorn(settings="upscaler_site.settings")
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            got = {
                who: measure(
                    browser,
                    stack.web_url,
                    cookie,
                    url,
                    swaps=who != "before",
                    before_swaps=who == "large",
                )
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
    large = seeded["large"]
    table(
        "The large source and its preview (made by lib.images.decode_source)",
        ["source", "pixels", "JPEG size", "preview (WebP, 2048 px)"],
        [
            (
                "camera.jpg",
                "{}x{}".format(*large["size"]),
                mb(large["bytes"]),
                mb(large["preview"]),
            )
        ],
    )
    labels = {
        "ours": "ours: previews",
        "before": "before: full files",
        "large": "large source: its preview",
        "large-full": "large source: full (before source previews)",
    }
    table(
        "Job page of the 8k PNG, first visit (cold cache), scrolled to the end",
        ["page", "transferred", "of it images", "requests", "after zoom 4x"],
        [
            (
                label,
                mb(got[who]["loaded"]),
                mb(got[who]["images"]),
                got[who]["requests"],
                mb(got[who]["zoomed"]),
            )
            for who, label in labels.items()
        ],
    )
    ours, before = got["ours"], got["before"]
    big, big_full = got["large"], got["large-full"]
    table(
        "Targets",
        ["target", "goal", "measured", "verdict"],
        [
            (
                "job page of an 8k result, transferred",
                f"<= {mb(TARGET)}",
                f"{mb(ours['loaded'])} (before: {mb(before['loaded'])})",
                verdict(ours["loaded"] <= TARGET),
            ),
            (
                "the same, with a 4000 px camera source",
                f"<= {mb(TARGET)}",
                f"{mb(big['loaded'])} (before: {mb(big_full['loaded'])})",
                verdict(big["loaded"] <= TARGET),
            ),
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
