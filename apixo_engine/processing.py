"""The upscale: decode (JPEG/PNG/WebP only), orient, a model pass, the exact long edge, encode.

The model pass (`sr.Upscaler`, Real-ESRGAN through ncnn) runs on RGB; an alpha channel is
resized beside it with Lanczos, so transparency keeps its shape. Then Lanczos makes the long
edge exactly the tier's (2048/4096/8192). A source already that large, a task that asks for
`lanczos`, or an engine without usable weights gets the Lanczos resize alone.
"""

from __future__ import annotations

import io
import os
import secrets
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from .sr import LANCZOS, Upscaler

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


def _to_rgb(image: Image.Image, icc_profile: bytes | None) -> tuple[Image.Image, bytes | None]:
    """CMYK through its colour profile into sRGB (no profile travels on); others plainly."""
    if image.mode == "CMYK" and icc_profile:
        try:
            converted = ImageCms.profileToProfile(
                image,
                ImageCms.ImageCmsProfile(io.BytesIO(icc_profile)),
                ImageCms.createProfile("sRGB"),
                outputMode="RGB",
            )
        except (ImageCms.PyCMSError, OSError, ValueError):
            converted = None
        if isinstance(converted, Image.Image):
            return converted, None
    return image.convert("RGB"), None if image.mode == "CMYK" else icc_profile


def _normalise(
    image: Image.Image, output_format: str, icc_profile: bytes | None
) -> tuple[Image.Image, bytes | None]:
    """RGB for jpg (alpha flattened onto white); RGB or RGBA for png/webp."""
    if image.mode.startswith("I"):  # 16-bit greyscale PNG: scale to 8 bits
        image = image.convert("I").point(lambda value: value / 256).convert("L")
    if not _has_alpha(image):
        return (image, icc_profile) if image.mode == "RGB" else _to_rgb(image, icc_profile)
    rgba = image if image.mode == "RGBA" else image.convert("RGBA")
    if output_format != "jpg":
        return rgba, icc_profile
    flat = Image.new("RGB", rgba.size, (255, 255, 255))
    flat.paste(rgba, mask=rgba.getchannel("A"))
    return flat, icc_profile


def blend(model_out: Image.Image, source: Image.Image, detail: float) -> Image.Image:
    """`detail` of the model's output over a Lanczos resize of the source (both RGB).

    Real-ESRGAN invents texture where a photo's detail was lost (fur, grass, brick); a
    quarter of plain resize keeps the result closer to the photo's own edges: on the
    benchmark's photos GMSD goes from worse than Lanczos to better, and sharpness stays
    over 10x Lanczos's (docs/performance.md, section 9).
    """
    if detail >= 1.0:
        return model_out
    # model_out first: the result takes its (empty) info, never the source's profile.
    resized = source.resize(model_out.size, Image.Resampling.LANCZOS)
    return Image.blend(model_out, resized, 1.0 - detail)


def _model_pass(upscaler: Upscaler, model: str, image: Image.Image) -> Image.Image:
    """RGB through the model; alpha (if any) resized to match with Lanczos."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    out = Image.fromarray(upscaler.run(model, np.asarray(rgb)), "RGB")
    out = blend(out, rgb, upscaler.detail)
    if image.mode == "RGBA":
        out.putalpha(image.getchannel("A").resize(out.size, Image.Resampling.LANCZOS))
    return out


def upscale(
    data: bytes,
    resolution: str,
    output_format: str,
    upscaler: Upscaler | None = None,
    model: str | None = None,
) -> tuple[Image.Image, str]:
    """The result image and what made it (a model name, or "lanczos")."""
    source = decode(data)
    oriented = _orient(source)
    image, icc_profile = _normalise(oriented, output_format, source.info.get("icc_profile"))
    long_edge = LONG_EDGE[resolution]
    used = LANCZOS
    if upscaler is not None:
        used = upscaler.choose(model, image.width, image.height, long_edge).model
        if used != LANCZOS:
            image = _model_pass(upscaler, used, image)
    size = target_size(image.width, image.height, long_edge)
    if image.size != size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    if icc_profile:
        image.info["icc_profile"] = icc_profile
    return image, used


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


def upscale_to_file(
    data: bytes,
    resolution: str,
    output_format: str,
    results_dir: Path,
    upscaler: Upscaler | None = None,
    model: str | None = None,
) -> tuple[str, str]:
    """(file name, what made it)."""
    image, used = upscale(data, resolution, output_format, upscaler, model)
    return save(image, output_format, results_dir), used
