"""Thumbnails (lib.images.make_thumbnail): WebP, at most 480 px, turned upright, for every
kind of result APIXO can send. libvips makes PNG and WebP ones; Pillow JPEG ones, and any
that libvips can't (the fallback is tested the same way)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from lib import images

ORIENTATION = 0x0112


def _saved(tmp_path: Path, mode: str, fmt: str, orientation: int | None = None) -> str:
    if mode == "P":
        img = Image.new("RGB", (1200, 800), (200, 30, 30)).convert("P")
    elif mode in ("L", "I;16"):
        img = Image.new(mode, (1200, 800), 200)
    else:
        img = Image.new(mode, (1200, 800))
    exif = Image.Exif()
    if orientation:
        exif[ORIENTATION] = orientation
    path = tmp_path / f"result.{fmt.lower()}"
    img.save(path, fmt, exif=exif.tobytes())
    return str(path)


@pytest.fixture(params=["libvips", "pillow"])
def maker(request: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "pillow":  # as on a machine without libvips
        monkeypatch.setattr(images, "_vips_renditions", lambda path: None)
    return str(request.param)


@pytest.mark.parametrize(
    ("mode", "fmt"),
    [
        ("RGB", "PNG"),
        ("RGBA", "PNG"),
        ("P", "PNG"),
        ("L", "PNG"),
        ("I;16", "PNG"),
        ("RGB", "WEBP"),
        ("RGBA", "WEBP"),
        ("RGB", "JPEG"),
        ("CMYK", "JPEG"),
    ],
)
def test_it_makes_an_upright_webp_thumbnail(
    tmp_path: Path, maker: str, mode: str, fmt: str
) -> None:
    data, width, height = images.make_thumbnail(_saved(tmp_path, mode, fmt, orientation=6))
    assert (width, height) == (1200, 800)  # the stored picture's own size
    with Image.open(io.BytesIO(data)) as thumb:
        assert thumb.format == "WEBP"
        assert thumb.size == (320, 480)  # orientation 6: a quarter turn, upright
        assert thumb.mode in ("RGB", "RGBA")


def test_it_keeps_transparency(tmp_path: Path, maker: str) -> None:
    path = tmp_path / "result.png"
    Image.new("RGBA", (1200, 800), (255, 0, 0, 128)).save(path)
    data, _, _ = images.make_thumbnail(str(path))
    with Image.open(io.BytesIO(data)) as thumb:
        assert thumb.mode == "RGBA"
        red, _, _, alpha = thumb.getpixel((10, 10))  # type: ignore[misc]
        assert red > 240 and 120 <= alpha <= 136


def test_it_never_enlarges_a_small_result(tmp_path: Path, maker: str) -> None:
    data, width, height = images.make_thumbnail(_saved(tmp_path, "RGB", "PNG"))
    small = tmp_path / "small.png"
    Image.new("RGB", (300, 200)).save(small)
    data, width, height = images.make_thumbnail(str(small))
    with Image.open(io.BytesIO(data)) as thumb:
        assert thumb.size == (300, 200) == (width, height)


def test_it_falls_back_to_pillow_when_libvips_fails(tmp_path: Path, caplog: Any) -> None:
    path = _saved(tmp_path, "RGB", "PNG")
    with open(path, "r+b") as f:  # a PNG whose pixel data is cut short, past its header
        f.truncate(200)
    with pytest.raises(OSError):  # Pillow can't either: the worker's usual error path
        images.make_thumbnail(path)
    assert "libvips could not make a thumbnail" in caplog.text
