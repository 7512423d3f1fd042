"""Benchmark: the embedded engine's upscale time per tier vs a bare Pillow call.

    .venv/bin/python bench/engine_tiers.py [--quick]

The same source (the engine's /samples/landscape.jpg, 640x427 JPEG) upscaled to 2k, 4k and
8k JPEG, one task at a time (ENGINE_WORKERS=1):

- engine, end to end: generateTask, then statusTask every 20 ms until success (the time
  includes the HTTP calls, queueing, the engine fetching its source, and storing).
- engine's costTime: the engine's own processing time (fetch + decode + resize + encode).
- bare Pillow: `Image.open` + `resize(LANCZOS)` + `save(JPEG, quality=90)` in this
  process, on the same bytes, to a memory buffer.

Median of 3 runs each (1 with --quick).
"""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import Stack, flag, load_note, median, table  # noqa: E402

TIERS = {"2k": 2048, "4k": 4096, "8k": 8192}
KEY = "embedded-engine-key"


def main() -> int:
    quick = flag("--quick")
    reps = 1 if quick else 3
    with Stack("engine-tiers") as stack:
        import requests
        from PIL import Image

        from apixo_engine.processing import target_size

        engine = stack.start_engine(ENGINE_WORKERS="1")
        source = f"{engine}/samples/landscape.jpg"
        data = requests.get(source, timeout=10).content
        headers = {"Authorization": f"Bearer {KEY}"}
        s = requests.Session()

        def engine_once(tier: str) -> tuple[float, float]:
            payload = {
                "request_type": "async",
                "input": {
                    "mode": "image-to-image",
                    "image_urls": [source],
                    "resolution": tier,
                    "output_format": "jpg",
                },
            }
            t = time.perf_counter()
            r = s.post(
                f"{engine}/api/v1/generateTask/image-upscaler", json=payload, headers=headers
            )
            task = r.json()["data"]["taskId"]
            while True:
                status = s.get(
                    f"{engine}/api/v1/statusTask/image-upscaler",
                    params={"taskId": task},
                    headers=headers,
                ).json()["data"]
                if status["state"] in ("success", "failed"):
                    break
                time.sleep(0.02)
            took = time.perf_counter() - t
            assert status["state"] == "success", status
            return took, status["costTime"] / 1000

        def pillow_once(tier: str) -> float:
            t = time.perf_counter()
            with Image.open(io.BytesIO(data)) as img:
                size = target_size(img.width, img.height, TIERS[tier])
                out = img.convert("RGB").resize(size, Image.Resampling.LANCZOS)
                out.save(io.BytesIO(), "JPEG", quality=90)
            return time.perf_counter() - t

        engine_once("2k")  # warm the engine's imports
        rows = []
        for tier in TIERS:
            ends, costs, bare = [], [], []
            for _ in range(reps):
                end, cost = engine_once(tier)
                ends.append(end)
                costs.append(cost)
                bare.append(pillow_once(tier))
            with Image.open(io.BytesIO(data)) as img:
                w, h = target_size(img.width, img.height, TIERS[tier])
            rows.append(
                [
                    tier,
                    f"{w}x{h}",
                    f"{median(ends):.2f}",
                    f"{median(costs):.2f}",
                    f"{median(bare):.2f}",
                    f"{median(ends) / median(bare):.2f}x",
                ]
            )
        table(
            f"Embedded engine vs bare Pillow (640x427 JPEG source to JPEG; median of {reps})",
            [
                "tier",
                "output",
                "engine end to end, s",
                "engine costTime, s",
                "bare Pillow, s",
                "engine / Pillow",
            ],
            rows,
        )
        print(f"Measured with {load_note()}.")
        return 0


if __name__ == "__main__":
    sys.exit(main())
