"""Real upscales: long edge per tier, output formats, alpha, EXIF orientation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from apixo_engine.processing import target_size
from apixo_engine.serve import EngineServer

from .support import Client, RecordingServer

pytestmark = pytest.mark.timeout(30)


def test_it_upscales_to_a_2k_long_edge_and_reports_success(
    client: Client, source: RecordingServer, engine: EngineServer
) -> None:
    task_id = client.create(source.url("/photo.jpg"), resolution="2k", output_format="jpg")

    data = client.wait(task_id)

    assert data["state"] == "success"
    assert data["failCode"] is None and data["failMsg"] is None
    assert isinstance(data["resultJson"], str)
    urls = json.loads(data["resultJson"])["resultUrls"]
    assert len(urls) == 1 and urls[0].startswith(f"{engine.url}/files/")
    assert data["completeTime"] >= data["createTime"]
    assert isinstance(data["costTime"], int) and data["costTime"] >= 0
    response, image = client.result_image(data)
    assert response.headers["Content-Type"] == "image/jpeg"
    assert int(response.headers["Content-Length"]) == len(response.content)
    assert (image.format, image.size) == ("JPEG", (2048, 1280))


def test_it_keeps_the_aspect_for_a_portrait_source(client: Client, source: RecordingServer) -> None:
    data = client.wait(client.create(source.url("/tall.jpg"), resolution="2k"))

    assert client.result_image(data)[1].size == (1280, 2048)


def test_it_upscales_to_a_4k_long_edge(client: Client, source: RecordingServer) -> None:
    data = client.wait(client.create(source.url("/photo.jpg"), resolution="4k"), timeout=25)

    assert client.result_image(data)[1].size == (4096, 2560)


def test_it_upscales_a_tiny_source_to_an_8k_long_edge(
    client: Client, source: RecordingServer
) -> None:
    data = client.wait(client.create(source.url("/tiny.jpg"), resolution="8k"), timeout=25)

    assert client.result_image(data)[1].size == (8192, 4608)


@pytest.mark.parametrize(
    ("output_format", "pil_format", "content_type"),
    [("jpg", "JPEG", "image/jpeg"), ("png", "PNG", "image/png"), ("webp", "WEBP", "image/webp")],
)
def test_it_saves_each_output_format(
    client: Client,
    source: RecordingServer,
    engine: EngineServer,
    output_format: str,
    pil_format: str,
    content_type: str,
) -> None:
    data = client.wait(client.create(source.url("/photo.png"), output_format=output_format))

    response, image = client.result_image(data)
    assert response.headers["Content-Type"] == content_type
    assert (image.format, image.size) == (pil_format, (2048, 1280))
    url = json.loads(data["resultJson"])["resultUrls"][0]
    name = url.rsplit("/", 1)[1]
    assert name.endswith(f".{output_format}")
    assert len(name.split(".")[0]) == 32  # secrets.token_urlsafe(24)
    saved: Path = engine.config.results_dir / name
    assert saved.read_bytes() == response.content


def test_it_accepts_a_webp_source(client: Client, source: RecordingServer) -> None:
    data = client.wait(client.create(source.url("/photo.webp")))

    assert data["state"] == "success"


def test_it_flattens_transparency_onto_white_for_jpg(
    client: Client, source: RecordingServer
) -> None:
    data = client.wait(client.create(source.url("/alpha.png"), output_format="jpg"))

    image = client.result_image(data)[1]
    assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (2048, 2048))
    white = image.getpixel((100, 100))
    red = image.getpixel((1800, 1800))
    assert isinstance(white, tuple) and min(white) >= 250
    assert isinstance(red, tuple) and red[0] >= 240 and red[1] <= 15 and red[2] <= 15


@pytest.mark.parametrize("output_format", ["png", "webp"])
def test_it_keeps_alpha_for_png_and_webp(
    client: Client, source: RecordingServer, output_format: str
) -> None:
    data = client.wait(client.create(source.url("/alpha.png"), output_format=output_format))

    image = client.result_image(data)[1]
    assert image.mode == "RGBA"
    transparent = image.getpixel((100, 100))
    opaque = image.getpixel((1800, 1800))
    assert isinstance(transparent, tuple) and transparent[3] == 0
    assert isinstance(opaque, tuple) and opaque[3] == 255


def test_it_applies_the_exif_orientation(client: Client, source: RecordingServer) -> None:
    data = client.wait(client.create(source.url("/rotated.jpg")))

    image = client.result_image(data)[1].convert("RGB")
    assert image.size == (1365, 2048)  # displayed 200x300, so portrait
    top = image.getpixel((680, 100))
    bottom = image.getpixel((680, 1950))
    assert isinstance(top, tuple) and top[0] > 200 and top[2] < 60  # red on top
    assert isinstance(bottom, tuple) and bottom[2] > 200 and bottom[0] < 60  # blue below
    assert image.getexif().get(0x0112) in (None, 1)


def test_it_upscales_its_own_samples(client: Client, engine: EngineServer) -> None:
    data = client.wait(client.create(f"{engine.url}/samples/logo.png", output_format="png"))

    assert data["state"] == "success", data
    assert client.result_image(data)[1].size == (2048, 2048)


@pytest.mark.parametrize(
    ("size", "edge", "expected"),
    [
        ((320, 200), 2048, (2048, 1280)),
        ((200, 320), 2048, (1280, 2048)),
        ((640, 427), 2048, (2048, 1366)),  # 1366.4 rounds down
        ((3, 2), 2048, (2048, 1365)),  # 1365.33
        ((5000, 1), 2048, (2048, 1)),  # at least 1
        ((100, 100), 8192, (8192, 8192)),
    ],
)
def test_it_computes_the_target_size(
    size: tuple[int, int], edge: int, expected: tuple[int, int]
) -> None:
    assert target_size(*size, edge) == expected
