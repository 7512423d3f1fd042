"""Engine quality, speed and memory: every model against Lanczos on real photos.

    .venv/bin/python bench/engine_quality.py [--quick]

Quality: each photo in bench/photos/ is shrunk 4x and brought back by each model (and by
Lanczos, and by the engine's default: x4plus blended with Lanczos at ENGINE_DETAIL), then
compared with the original: the sharpness ratio (variance of the Laplacian of
the luma, result / original) and GMSD (gradient magnitude similarity deviation, lower is
better). PSNR and SSIM are not used: they favour blur. Speed: seconds per input megapixel,
the engine's tiled path against bare ncnn on the whole image, same model, same threads, in
the same run; then ncnn's options one at a time on the fast model. Memory: peak RSS of an 8k
result from a 2 MP photo, in a child process. Time: a 640x480 photo to 4k with the default
(auto) model. Writes a crop grid to docs/engine_quality.png.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from apixo_engine import weights  # noqa: E402
from apixo_engine.processing import blend  # noqa: E402
from apixo_engine.sr import MODELS, Network, Upscaler  # noqa: E402

PHOTOS = sorted((ROOT / "bench" / "photos").glob("*.jpg"))
QUALITY_MODELS = ["realesrgan-x4plus", "realesrgan-x4plus-anime", "realesr-animevideov3-x4"]
FAST = "realesr-animevideov3-x4"
BEST = "realesrgan-x4plus"


def luma(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L"), dtype=np.float64)


def laplacian_var(y: np.ndarray) -> float:
    lap = -4 * y[1:-1, 1:-1] + y[:-2, 1:-1] + y[2:, 1:-1] + y[1:-1, :-2] + y[1:-1, 2:]
    return float(lap.var())


def gmsd(ref: np.ndarray, dist: np.ndarray) -> float:
    """Xue et al. 2014: 2x2 mean and downsample, Prewitt gradients, c = 170."""

    def prep(y: np.ndarray) -> np.ndarray:
        h, w = (y.shape[0] // 2) * 2, (y.shape[1] // 2) * 2
        y = y[:h, :w]
        out: np.ndarray = (y[0::2, 0::2] + y[1::2, 0::2] + y[0::2, 1::2] + y[1::2, 1::2]) / 4
        return out

    def grad(y: np.ndarray) -> np.ndarray:
        gx = (y[:-2, 2:] + y[1:-1, 2:] + y[2:, 2:] - y[:-2, :-2] - y[1:-1, :-2] - y[2:, :-2]) / 3
        gy = (y[2:, :-2] + y[2:, 1:-1] + y[2:, 2:] - y[:-2, :-2] - y[:-2, 1:-1] - y[:-2, 2:]) / 3
        out: np.ndarray = np.sqrt(gx**2 + gy**2)
        return out

    gr, gd = grad(prep(ref)), grad(prep(dist))
    c = 170.0
    return float(((2 * gr * gd + c) / (gr**2 + gd**2 + c)).std())


def quality(upscaler: Upscaler) -> dict[str, list[tuple[float, float]]]:
    default = f"default (x4plus, detail {upscaler.detail:g})"
    methods = ["lanczos", *QUALITY_MODELS, default]
    rows: dict[str, list[tuple[float, float]]] = {m: [] for m in methods}
    crops: list[list[Image.Image]] = []
    for path in PHOTOS:
        original = Image.open(path).convert("RGB")
        w, h = (original.width // 4) * 4, (original.height // 4) * 4
        original = original.crop((0, 0, w, h))
        small = original.resize((w // 4, h // 4), Image.Resampling.LANCZOS)
        ref = luma(original)
        base = laplacian_var(ref)
        outs = {"lanczos": small.resize((w, h), Image.Resampling.LANCZOS)}
        for model in QUALITY_MODELS:
            outs[model] = Image.fromarray(upscaler.run(model, np.asarray(small)))
        outs[default] = blend(outs[BEST], small, upscaler.detail)
        for name, out in outs.items():
            y = luma(out)
            rows[name].append((laplacian_var(y) / base, gmsd(ref, y)))
        gmsds = " ".join(
            f"{name.split()[0]} {rows[name][-1][1]:.4f}" for name in (methods[0], BEST)
        )
        print(f"  {path.name}: GMSD {gmsds}, default {rows[default][-1][1]:.4f}", flush=True)
        if len(crops) < 3:
            box = (w // 2 - 64, h // 2 - 64, w // 2 + 64, h // 2 + 64)
            crops.append([original.crop(box)] + [outs[n].crop(box) for n in outs])
    grid(crops, ["original", *rows])
    return rows


def grid(crops: list[list[Image.Image]], labels: list[str]) -> None:
    cell = 256
    sheet = Image.new("RGB", (cell * len(labels), 20 + cell * len(crops)), "white")
    draw = ImageDraw.Draw(sheet)
    for col, label in enumerate(labels):
        draw.text((col * cell + 4, 4), label, fill="black")
    for row, images in enumerate(crops):
        for col, image in enumerate(images):
            sheet.paste(
                image.resize((cell, cell), Image.Resampling.NEAREST), (col * cell, 20 + row * cell)
            )
    out = ROOT / "docs" / "engine_quality.png"
    sheet.save(out, optimize=True)
    print(f"  crop grid written to {out.relative_to(ROOT)}")


def seconds(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def bare(model: str, directory: Path, rgb: np.ndarray, threads: int) -> float:
    """ncnn alone on the whole image: no tiles, no lock, nothing of the engine's."""
    import ncnn

    net = ncnn.Net()
    net.opt.num_threads = threads
    net.load_param(str(directory / f"{model}.param"))
    net.load_model(str(directory / f"{model}.bin"))
    h, w = rgb.shape[:2]

    def run() -> None:
        mat = ncnn.Mat.from_pixels(rgb.tobytes(), ncnn.Mat.PixelType.PIXEL_RGB, w, h)
        mat.substract_mean_normalize([], [1 / 255.0] * 3)
        ex = net.create_extractor()
        ex.input("data", mat)
        np.array(ex.extract("output")[1])

    return seconds(run)


def photo(width: int, height: int) -> np.ndarray:
    return np.asarray(Image.open(PHOTOS[0]).convert("RGB").resize((width, height)))


def speed(directory: Path, threads: int, quick: bool) -> None:
    print(f"\nSpeed, {threads} threads: seconds per input megapixel (engine vs bare ncnn)")
    print("| model | input | bare ncnn s/MP | engine s/MP | engine / bare |")
    print("|---|---|---|---|---|")
    for model in MODELS:
        size = (600, 400) if "animevideo" in model else (320, 240)
        if quick and model != FAST:
            continue
        rgb = photo(*size)
        mp = size[0] * size[1] / 1e6
        upscaler = Upscaler(model, directory, threads=threads)
        upscaler.run(model, rgb[:32, :32])  # warm up
        b = bare(model, directory, rgb, threads) / mp
        e = seconds(lambda: upscaler.run(model, rgb)) / mp  # noqa: B023
        print(f"| {model} | {size[0]}x{size[1]} | {b:.1f} | {e:.1f} | {e / b:.2f}x |", flush=True)

    print(f"\nncnn options on {FAST}, 600x400 input, {threads} threads unless said")
    print("| option | s/MP |")
    print("|---|---|")
    rgb, mp = photo(600, 400), 0.24
    trials: list[tuple[str, dict[str, object]]] = [
        ("defaults (tile 200)", {}),
        ("1 thread", {"threads": 1}),
        ("tile 128", {"tile": 128}),
        ("tile 256", {"tile": 256}),
        ("tile 400", {"tile": 400}),
        ("one tile (whole image)", {"tile": 4096}),
        ("use_fp16_storage off", {"options": {"use_fp16_storage": False}}),
        ("use_fp16_packed off", {"options": {"use_fp16_packed": False}}),
        ("use_packing_layout off", {"options": {"use_packing_layout": False}}),
        ("use_winograd_convolution off", {"options": {"use_winograd_convolution": False}}),
        ("use_sgemm_convolution off", {"options": {"use_sgemm_convolution": False}}),
    ]
    for label, kw in trials:
        net = Network(
            MODELS[FAST],
            directory,
            threads=int(kw.get("threads", threads)),  # type: ignore[call-overload]
            tile=int(kw.get("tile", 200)),  # type: ignore[call-overload]
            options=kw.get("options"),  # type: ignore[arg-type]
        )
        net.upscale(rgb[:32, :32])
        best = min(seconds(lambda: net.upscale(rgb)) for _ in range(2))  # noqa: B023
        print(f"| {label} | {best / mp:.1f} |", flush=True)


MEMORY_CHILD = """
import io, resource, sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
from PIL import Image
from apixo_engine.processing import upscale
from apixo_engine.sr import Upscaler
photo = Image.open({photo!r}).convert("RGB").resize(({w}, {h}), Image.Resampling.LANCZOS)
buf = io.BytesIO(); photo.save(buf, "JPEG", quality=92)
up = Upscaler("auto", Path({directory!r}))
started = time.perf_counter()
image, used = upscale(buf.getvalue(), {tier!r}, "jpg", up)
out = io.BytesIO(); image.save(out, "JPEG", quality=90)
print(used, image.size[0], image.size[1], round(time.perf_counter() - started, 1),
      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


def child(directory: Path, w: int, h: int, tier: str) -> str:
    code = MEMORY_CHILD.format(
        root=str(ROOT), photo=str(PHOTOS[0]), w=w, h=h, tier=tier, directory=str(directory)
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def main() -> int:
    quick = "--quick" in sys.argv
    directory = weights.ensure()
    threads = 2
    upscaler = Upscaler("auto", directory, threads=threads)
    print(upscaler.describe())
    print(f"\nQuality on {len(PHOTOS)} photos (4x downscale brought back; median over the set)")
    rows = quality(upscaler)
    lanczos_sharp = statistics.median(r[0] for r in rows["lanczos"])
    lanczos_gmsd = statistics.median(r[1] for r in rows["lanczos"])
    print("| method | sharpness ratio | vs Lanczos | GMSD | GMSD vs Lanczos |")
    print("|---|---|---|---|---|")
    for name, values in rows.items():
        sharp = statistics.median(v[0] for v in values)
        g = statistics.median(v[1] for v in values)
        print(
            f"| {name} | {sharp:.3f} | {sharp / lanczos_sharp:.1f}x | {g:.4f} |"
            f" {'no worse' if g <= lanczos_gmsd else 'worse'} |"
        )
    speed(directory, threads, quick)
    print("\nMemory and time (full pipeline, a child process each, auto model)")
    used, w, h, secs, rss = child(directory, 1732, 1155, "8k").split()
    print(f"  2 MP photo -> 8k: {used}, {w}x{h}, {secs} s, peak RSS {rss} MB (target <= 1536)")
    if not quick:
        used, w, h, secs, rss = child(directory, 640, 480, "4k").split()
        print(f"  640x480 photo -> 4k: {used}, {w}x{h}, {secs} s (target <= 120), peak {rss} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
