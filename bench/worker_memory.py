"""Benchmark: a worker's peak memory while it keeps an 8k result (8192x4608 PNG, and JPEG).

    .venv/bin/python bench/worker_memory.py [--quick]

The result is served by a local HTTP server. Each approach runs in a fresh child process
(Django set up as a worker has it); its peak RSS is the child's ru_maxrss from os.wait4.

- ours: `jobs.tasks.finish_job` itself: download streamed to a temp file, thumbnail by
  `lib.images.make_thumbnail`, result and thumbnail saved to storage, job marked success.
- download only: just `lib.fetch.download` to a temp file (is it streamed?).
- naive: `requests.get(url).content`, `Image.open` + full `load()` + `thumbnail()`, and
  the bytes saved from memory.
- exif_transpose first (make_thumbnail before commit 416e434): stream to disk, then
  `exif_transpose` (which copies the full-size image even when it has nothing to turn),
  then `thumbnail()`; kept to show what shrinking first saves.
- libvips alone (`pyvips.Image.thumbnail`), when pyvips is importable: it decodes PNG row
  by row. `make_thumbnail` uses it for PNG and WebP (Pillow for JPEG, and as a fallback).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import HOST, PY, Stack, flag, free_port, load_note, table, verdict  # noqa: E402

SIZE = (8192, 4608)
TARGET_MB = 300
THUMB = 480


# --- the child: one approach, then exit ----------------------------------------------------


def child(mode: str, job_id: int, url: str) -> None:
    import django

    django.setup()
    import io
    import tempfile

    import requests
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from PIL import Image, ImageOps

    from jobs import tasks
    from jobs.models import Job
    from lib import fetch

    t = time.perf_counter()
    out: dict[str, object] = {}
    if mode == "baseline":
        pass
    elif mode == "download":
        with tempfile.TemporaryFile() as tmp:
            out["bytes"] = fetch.download(url, tmp, max_bytes=10**9).size
    elif mode == "ours":
        job = Job.objects.select_related("budget").get(pk=job_id)
        tasks.finish_job(job, url, {})
        job.refresh_from_db()
        out.update(state=job.state, size=f"{job.result_width}x{job.result_height}")
        out["thumb"] = Image.open(job.thumbnail.path).size
    elif mode == "naive":
        data = requests.get(url, timeout=60).content
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            full = img.size
            img.thumbnail((THUMB, THUMB))
            thumb = io.BytesIO()
            img.save(thumb, "WEBP", quality=80)
        default_storage.save("results/naive.bin", ContentFile(data))
        out.update(size=f"{full[0]}x{full[1]}", thumb=img.size)
    elif mode == "transpose-first":
        with tempfile.NamedTemporaryFile() as tmp:
            fetch.download(url, tmp, max_bytes=10**9)
            tmp.flush()
            with Image.open(tmp.name) as opened:
                full = opened.size
                opened.draft("RGB", (THUMB, THUMB))
                img = ImageOps.exif_transpose(opened)  # type: ignore[assignment]
                img.thumbnail((THUMB, THUMB), Image.Resampling.LANCZOS, reducing_gap=2.0)
                img.save(io.BytesIO(), "WEBP", quality=80)
        out.update(size=f"{full[0]}x{full[1]}", thumb=img.size)
    elif mode == "vips-loaded":
        import pyvips

        with tempfile.NamedTemporaryFile(suffix=".png") as tmp:
            Image.new("RGB", (64, 64)).save(tmp.name)
            pyvips.Image.thumbnail(tmp.name, 32).write_to_buffer(".webp")
    elif mode == "libvips":
        import pyvips

        with tempfile.NamedTemporaryFile() as tmp:
            fetch.download(url, tmp, max_bytes=10**9)
            tmp.flush()
            small = pyvips.Image.thumbnail(tmp.name, THUMB)
            small.write_to_buffer(".webp[Q=80]")
        out.update(thumb=(small.width, small.height))
    out["seconds"] = time.perf_counter() - t
    print("CHILDJSON " + json.dumps(out), flush=True)


# --- the parent ----------------------------------------------------------------------------

# Peak RSS is measured by a small launcher process: Linux carries a process's peak RSS
# across fork and exec (signal->maxrss), so a child started straight from this process
# (which holds the 8k test images) would report this process's peak instead of its own.
LAUNCHER = (
    "import os, resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[1:])\n"
    "print('MAXRSS_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, flush=True)\n"
    "sys.exit(code)\n"
)


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def make_images(folder: Path, quick: bool) -> dict[str, Path]:
    """An 8k picture with photo-like detail (an upscaled photo plus grain), as PNG and JPEG."""
    from PIL import Image, ImageChops

    from bench.harness import ROOT

    folder.mkdir(parents=True, exist_ok=True)
    photo = Image.open(ROOT / "tests" / "fixtures" / "chelsea.jpg").convert("RGB")
    big = photo.resize(SIZE, Image.Resampling.BICUBIC)
    grain = Image.effect_noise(SIZE, 6).convert("RGB")
    big = ImageChops.add(big, grain, scale=1.0, offset=-128)
    paths = {"png": folder / "result.png", "jpg": folder / "result.jpg"}
    big.save(paths["png"], compress_level=1 if quick else 6)
    big.save(paths["jpg"], quality=90)
    return paths


def main() -> int:
    quick = flag("--quick")
    with Stack("worker-memory") as stack:
        images = make_images(stack.tmp / "served", quick)
        port = free_port()
        handler = partial(Quiet, directory=str(stack.tmp / "served"))
        server = ThreadingHTTPServer((HOST, port), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        stack.env["FETCH_ALLOWED_HOSTS"] = f"{HOST}:{port}"
        stack.env["RESULT_MAX_BYTES"] = str(10**9)
        stack.setup_django()
        import logging

        logging.disable(logging.WARNING)
        from django.contrib.auth.models import User

        from jobs.models import Batch, Budget, Job

        try:
            import pyvips  # noqa: F401

            have_vips = True
        except (ImportError, OSError):
            have_vips = False

        user = User.objects.create_user("bench-memory")
        budget = Budget.objects.create(user=user, limit_cents=None)
        batch = Batch.objects.create(code=uuid.uuid4(), user=user)

        def run(mode: str, fmt: str) -> dict[str, object]:
            job = Job.objects.create(
                user=user,
                budget=budget,
                batch=batch,
                source_url="https://images.example.com/x.jpg",
                source_name="x.jpg",
                resolution="8k",
                output_format=fmt,
                state=Job.State.PROCESSING,
                task_id="task_bench",
            )
            url = f"http://{HOST}:{port}/{images[fmt].name}"
            proc = subprocess.run(
                [PY, "-c", LAUNCHER, PY, __file__, "--child", mode, str(job.pk), url],
                env={**os.environ, **stack.env},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                check=False,
            )
            output = proc.stdout.decode(errors="replace")
            line = next((x for x in output.splitlines() if x.startswith("CHILDJSON ")), None)
            peak = next((x for x in output.splitlines() if x.startswith("MAXRSS_KB ")), None)
            if proc.returncode != 0 or line is None or peak is None:
                raise RuntimeError(f"{mode} {fmt} failed:\n{output[-3000:]}")
            data: dict[str, object] = json.loads(line[10:])
            data["peak_mb"] = int(peak.split()[1]) / 1024  # KiB on Linux
            return data

        modes = ["baseline", "download", "ours", "naive", "transpose-first"]
        if have_vips:
            modes[1:1] = ["vips-loaded"]
            modes.append("libvips")
        labels = {
            "baseline": "worker process, nothing done (Django + Pillow imported)",
            "download": "download only (lib.fetch.download to a temp file)",
            "ours": "ours: jobs.tasks.finish_job",
            "naive": "naive: whole download in memory + full decode",
            "transpose-first": "make_thumbnail before 416e434: exif_transpose first",
            "libvips": "libvips thumbnail (pyvips)",
            "vips-loaded": "worker process with libvips loaded (a 64 px thumbnail made)",
        }
        results = {}
        rows = []
        for fmt in ("png", "jpg"):
            base = None
            for mode in modes:
                if fmt == "jpg" and mode in (
                    "download",
                    "transpose-first",
                    "libvips",
                    "vips-loaded",
                ):
                    continue
                r = run(mode, fmt)
                results[(mode, fmt)] = r
                peak = float(str(r["peak_mb"]))
                base = peak if mode == "baseline" else base
                target = ""
                if mode == "ours":
                    target = f"<= {TARGET_MB} MB: {verdict(peak <= TARGET_MB)}"
                rows.append(
                    [
                        f"{fmt.upper()} {images[fmt].stat().st_size / 1e6:.0f} MB",
                        labels[mode],
                        f"{peak:.0f}",
                        f"{peak - (base or peak):+.0f}",
                        f"{float(str(r['seconds'])):.2f}",
                        target,
                    ]
                )
        table(
            f"Worker memory keeping an 8k result ({SIZE[0]}x{SIZE[1]}; decoded RGB = "
            f"{SIZE[0] * SIZE[1] * 3 / 2**20:.0f} MB)",
            ["result", "approach", "peak RSS MB", "vs baseline MB", "seconds", "target"],
            rows,
        )
        png_ours = float(str(results[("ours", "png")]["peak_mb"]))
        # What the picture adds: over a worker that has libvips loaded, when it is used.
        png_floor = "vips-loaded" if have_vips else "baseline"
        base_png = float(str(results[(png_floor, "png")]["peak_mb"]))
        no_image = float(str(results[("baseline", "png")]["peak_mb"]))
        download = float(str(results[("download", "png")]["peak_mb"]))
        jpg_ours = float(str(results[("ours", "jpg")]["peak_mb"]))
        base_jpg = float(str(results[("baseline", "jpg")]["peak_mb"]))
        decoded = SIZE[0] * SIZE[1] * 3 / 2**20
        table(
            "Worker memory: targets",
            ["target", "measured", "verdict"],
            [
                [
                    f"peak RSS <= {TARGET_MB} MB (8k PNG)",
                    f"{png_ours:.0f} MB",
                    verdict(png_ours <= TARGET_MB),
                ],
                [
                    "result streamed to disk (download adds far less than the file)",
                    f"+{max(0.0, download - no_image):.0f} MB for a {images['png'].stat().st_size / 1e6:.0f} MB file",
                    verdict(download - no_image < 32),
                ],
                [
                    "JPEG thumbnail without a full-size decode (draft)",
                    f"+{jpg_ours - base_jpg:.0f} MB (full decode would be {decoded:.0f} MB)",
                    verdict(jpg_ours - base_jpg < decoded / 2),
                ],
                # The preview (2048 px) and the thumbnail come from one libvips pass, which
                # reads the PNG row by row; the 2048 px output buffers are most of what it
                # adds. A full-size decode would add `decoded` MB on top of those.
                [
                    "PNG preview + thumbnail without a full-size decode",
                    f"+{png_ours - base_png:.0f} MB"
                    + (
                        f" over a worker with libvips loaded (libvips itself: "
                        f"+{base_png - no_image:.0f} MB once); a full decode would be "
                        f"{decoded:.0f} MB"
                        if have_vips
                        else ": no libvips here, and Pillow cannot decode PNG reduced"
                    ),
                    verdict(png_ours - base_png < decoded),
                ],
            ],
        )
        server.shutdown()
        print(f"Measured with {load_note()}.")
        return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        sys.exit(main())
