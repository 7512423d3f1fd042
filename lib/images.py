"""Checking source images (Pillow) and making thumbnails (Pillow and libvips).

A file is judged by its content, never its name or the browser's content type.
"""

from __future__ import annotations

import io
import logging
import warnings
from dataclasses import dataclass
from typing import IO

from django.conf import settings
from PIL import Image, ImageOps, UnidentifiedImageError

logger = logging.getLogger(__name__)
FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
THUMB_EDGE = 480


class ImageRejected(Exception):
    """A source that is not an image we can upscale, with a message for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class ImageInfo:
    format: str  # "jpg", "png" or "webp"
    width: int
    height: int


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):g} MB"


def _sniff_other(head: bytes) -> str:
    """Name a format we refuse, from the first bytes, for a clearer message."""
    if head[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftypmsf1", b"ftyphevc"):
        return "HEIC"
    if head[4:12] in (b"ftypavif", b"ftypavis"):
        return "AVIF"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    stripped = head.lstrip()[:5].lower()
    if stripped.startswith((b"<svg", b"<?xml")):
        return "SVG"
    return ""


def convert_phone_photo(f: IO[bytes]) -> bytes | None:
    """If f is a HEIC or AVIF photo we can read, return it as PNG bytes; else None.

    APIXO takes only JPG, PNG and WebP, and phones save HEIC (iPhone) or AVIF. The PNG keeps
    every pixel; its orientation is applied, since PNG readers may ignore EXIF.
    Raise ImageRejected if it is such a photo but cannot be read.
    """
    f.seek(0)
    kind = _sniff_other(f.read(64))
    f.seek(0)
    if kind not in ("HEIC", "AVIF"):
        return None
    try:
        if kind == "HEIC":
            import pillow_heif

            pillow_heif.register_heif_opener()
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(f, formats=["HEIF" if kind == "HEIC" else "AVIF"]) as img:
                if img.width * img.height > settings.UPLOAD_MAX_PIXELS:
                    raise ImageRejected(
                        f"The image has more than {settings.UPLOAD_MAX_PIXELS // 1_000_000} megapixels."
                    )
                out = io.BytesIO()
                ImageOps.exif_transpose(img).save(out, "PNG")
    except ImageRejected:
        raise
    except (
        ImportError,
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ):
        raise ImageRejected(
            f"This {kind} photo could not be read. Export it as JPEG or PNG and upload that."
        ) from None
    return out.getvalue()


def inspect_image(f: IO[bytes], size: int) -> ImageInfo:
    """Check that f holds a JPG, PNG or WebP within our limits. Return its format and size.

    Raise ImageRejected with a message for the user otherwise. The decode check runs on
    a reduced image (JPEG draft) so a 50-megapixel photo is not decoded at full size.
    """
    if size == 0:
        raise ImageRejected("The file is empty.")
    if size > settings.UPLOAD_MAX_BYTES:
        raise ImageRejected(f"The file is larger than {_mb(settings.UPLOAD_MAX_BYTES)}.")
    f.seek(0)
    head = f.read(64)
    f.seek(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(f, formats=list(FORMATS))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRejected(
            f"The image has more than {settings.UPLOAD_MAX_PIXELS // 1_000_000} megapixels."
        ) from None
    except UnidentifiedImageError:
        other = _sniff_other(head)
        if other in ("HEIC", "AVIF"):
            raise ImageRejected(
                f"{other} photos are not supported yet. Export the photo as JPEG or PNG and upload that."
            ) from None
        if other:
            raise ImageRejected(
                f"{other} files are not supported. Use a JPG, PNG or WebP image."
            ) from None
        raise ImageRejected("This is not a JPG, PNG or WebP image.") from None
    except (OSError, SyntaxError, ValueError, EOFError):
        raise ImageRejected("The image file is damaged or incomplete.") from None
    with img:
        width, height = img.size
        if width * height > settings.UPLOAD_MAX_PIXELS:
            raise ImageRejected(
                f"The image is {width}x{height} pixels; the limit is "
                f"{settings.UPLOAD_MAX_PIXELS // 1_000_000} megapixels."
            )
        if getattr(img, "is_animated", False):
            raise ImageRejected("Animated images are not supported. Use a still JPG, PNG or WebP.")
        fmt = FORMATS[img.format or ""]
        try:
            if img.format == "JPEG":
                img.draft("RGB", (max(1, width // 8), max(1, height // 8)))
            img.load()
        except (OSError, SyntaxError, ValueError):
            raise ImageRejected("The image file is damaged or incomplete.") from None
    f.seek(0)
    return ImageInfo(format=fmt, width=width, height=height)


def make_thumbnail(path: str) -> tuple[bytes, int, int]:
    """Return a WebP thumbnail of the image at path, and the image's full width and height,
    turned upright by its EXIF orientation, never holding an 8k image at full size.

    JPEG: Pillow's draft() has the decoder scale down by up to 8x while decoding. PNG and
    WebP can't be decoded reduced by Pillow, so libvips makes theirs: its thumbnail reads
    the file row by row and shrinks as it goes (an 8k PNG: +62 MB instead of +149 MB,
    bench/worker_memory.py). Pillow is the fallback if libvips is missing or fails.
    """
    with Image.open(path) as opened:
        full = opened.size
        if opened.format != "JPEG" and (thumb := _vips_thumbnail(path)) is not None:
            return thumb, full[0], full[1]
        opened.draft("RGB", (THUMB_EDGE, THUMB_EDGE))
        # Shrink first, turn upright after: exif_transpose copies the whole image, and a
        # copy of the thumbnail is cheap where a copy of an 8k PNG is not.
        opened.thumbnail((THUMB_EDGE, THUMB_EDGE), Image.Resampling.LANCZOS, reducing_gap=2.0)
        img: Image.Image = ImageOps.exif_transpose(opened)
        if img.mode not in ("RGB", "RGBA"):
            img = img.convert("RGBA" if "A" in img.getbands() or img.mode == "P" else "RGB")
        out = io.BytesIO()
        img.save(out, "WEBP", quality=80)
    return out.getvalue(), full[0], full[1]


def _vips_thumbnail(path: str) -> bytes | None:
    """libvips' WebP thumbnail of the image at path (upright), or None to use Pillow."""
    try:
        import pyvips
    except (ImportError, OSError):  # no libvips on this machine: Pillow, with more memory
        return None
    try:
        small = pyvips.Image.thumbnail(
            path, THUMB_EDGE, height=THUMB_EDGE, size="down", fail_on="error"
        )
        return bytes(small.write_to_buffer(".webp", Q=80, keep="none"))
    except pyvips.Error as e:
        logger.warning("libvips could not make a thumbnail of %s (%s); using Pillow", path, e)
        return None
