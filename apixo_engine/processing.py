"""The real upscale: decode (JPEG/PNG/WebP only), orient, resize the long edge, encode."""

from __future__ import annotations

import io
import os
import secrets
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

LONG_EDGE = {"2k": 2048, "4k": 4096, "8k": 8192}
ACCEPTED_FORMATS = ["JPEG", "PNG", "WEBP"]
EXTENSIONS = {"jpg": ".jpg", "png": ".png", "webp": ".webp"}
CONTENT_TYPES = {".jpg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}
# Sources above this many pixels are refused (decompression-bomb guard).
MAX_SOURCE_PIXELS = 64_000_000
QUALITY = 90


class ImageRejected(Exception):
    """The source is not a usable JPG, PNG or WebP image; str() is the failMsg."""


def target_size(width: int, height: int, long_edge: int) -> tuple[int, int]:
    """Scale so the long edge is exactly long_edge; the short edge is rounded, at least 1."""
    if width >= height:
        return long_edge, max(1, (2 * height * long_edge + width) // (2 * width))
    return max(1, (2 * width * long_edge + height) // (2 * height)), long_edge


def decode(data: bytes) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except UnidentifiedImageError as exc:
        raise ImageRejected("Not a JPG, PNG or WebP image.") from exc
    except Image.DecompressionBombError as exc:
        raise ImageRejected("The image is too large to process.") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageRejected(f"The image could not be decoded: {str(exc).rstrip('.')}.") from exc
    width, height = image.size
    if width < 1 or height < 1 or width * height > MAX_SOURCE_PIXELS:
        raise ImageRejected(
            f"The image is too large to process ({width}x{height}, at most"
            f" {MAX_SOURCE_PIXELS // 1_000_000} megapixels)."
        )
    try:
        image.load()
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageRejected(f"The image could not be decoded: {str(exc).rstrip('.')}.") from exc
    return image


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        image.mode == "P" and "transparency" in image.info
    )


def _orient(image: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError, KeyError, TypeError):
        return image  # unreadable EXIF: keep the stored orientation


def _normalise(image: Image.Image, output_format: str) -> Image.Image:
    """RGB for jpg (alpha flattened onto white); RGB or RGBA for png/webp."""
    if image.mode.startswith("I"):  # 16-bit greyscale PNG: scale to 8 bits
        image = image.convert("I").point(lambda value: value / 256).convert("L")
    if not _has_alpha(image):
        return image if image.mode == "RGB" else image.convert("RGB")
    rgba = image if image.mode == "RGBA" else image.convert("RGBA")
    if output_format != "jpg":
        return rgba
    flat = Image.new("RGB", rgba.size, (255, 255, 255))
    flat.paste(rgba, mask=rgba.getchannel("A"))
    return flat


def upscale(data: bytes, resolution: str, output_format: str) -> Image.Image:
    source = decode(data)
    icc_profile = source.info.get("icc_profile")
    oriented = _orient(source)
    image = _normalise(oriented, output_format)
    size = target_size(image.width, image.height, LONG_EDGE[resolution])
    if image.size != size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    if icc_profile:
        image.info["icc_profile"] = icc_profile
    return image


def save(image: Image.Image, output_format: str, results_dir: Path) -> str:
    """Write atomically under a long random name; returns the file name."""
    results_dir.mkdir(parents=True, exist_ok=True)
    name = secrets.token_urlsafe(24) + EXTENSIONS[output_format]
    final = results_dir / name
    partial = results_dir / f".{name}.part"
    options: dict[str, object] = {}
    if icc := image.info.get("icc_profile"):
        options["icc_profile"] = icc
    try:
        if output_format == "jpg":
            image.save(partial, "JPEG", quality=QUALITY, **options)
        elif output_format == "png":
            image.save(partial, "PNG", **options)
        else:
            image.save(partial, "WEBP", quality=QUALITY, **options)
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)
    return name


def upscale_to_file(data: bytes, resolution: str, output_format: str, results_dir: Path) -> str:
    return save(upscale(data, resolution, output_format), output_format, results_dir)
