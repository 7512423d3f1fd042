"""The app is a plain WSGI callable (servable by gunicorn), and image edge cases."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest
from PIL import Image

from apixo_engine.config import EngineConfig
from apixo_engine.processing import upscale
from apixo_engine.server import EngineApp, _LazyApplication, create_app

from .support import encode

pytestmark = pytest.mark.timeout(15)


def call(app: Any, path: str, key: str | None = None) -> tuple[str, dict[str, str], bytes]:
    environ: dict[str, Any] = {"PATH_INFO": path}
    if key:
        environ["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    setup_testing_defaults(environ)
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen["status"], seen["headers"] = status, dict(headers)

    body = b"".join(app(environ, start_response))
    return seen["status"], seen["headers"], body


@pytest.fixture
def app(tmp_path: Path) -> Iterator[EngineApp]:
    app = create_app(EngineConfig(data_dir=tmp_path, api_key="k", port=8999))
    yield app
    app.close()


def test_it_is_a_plain_wsgi_callable(app: EngineApp) -> None:
    status, headers, body = call(app, "/api/v1/apikeys/current-balance", key="k")

    assert status == "200 OK"
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"code": 200, "message": "success", "data": 100}
    assert call(app, "/api/v1/apikeys/current-balance")[0] == "401 Unauthorized"


def test_it_builds_the_module_level_application_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENGINE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("APIXO_ENGINE_KEY", "from-env")
    application = _LazyApplication()
    try:
        status, _, body = call(application, "/api/v1/apikeys/current-balance", key="from-env")
    finally:
        if application._app is not None:
            application._app.close()

    assert status == "200 OK" and json.loads(body)["data"] == 100
    assert (tmp_path / "engine.sqlite3").exists()


def test_it_scales_16_bit_greyscale_to_8_bits() -> None:
    source = encode(Image.new("I;16", (40, 30), 30000), "PNG")

    image = upscale(source, "2k", "png")[0]

    assert image.mode == "RGB" and image.size == (2048, 1536)
    assert image.getpixel((10, 10)) == (117, 117, 117)


def test_it_flattens_a_palette_transparency_onto_white() -> None:
    source = encode(Image.new("P", (40, 30), 0), "PNG", transparency=0)

    assert upscale(source, "2k", "jpg")[0].getpixel((10, 10)) == (255, 255, 255)
    assert upscale(source, "2k", "webp")[0].getpixel((10, 10))[3] == 0  # type: ignore[index]


def test_it_keeps_the_icc_profile() -> None:
    profile = b"\x00" * 16  # opaque bytes are carried, not interpreted
    source = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 20, 30)).save(source, "PNG", icc_profile=profile)

    assert upscale(source.getvalue(), "2k", "png")[0].info.get("icc_profile") == profile
