"""Checking source images (Pillow) and making thumbnails and previews (Pillow and libvips).

A file is judged by its content, never its name or the browser's content type.
"""

from __future__ import annotations

import io
import logging
import struct
import warnings
import zlib
from dataclasses import dataclass
from typing import IO

from django.conf import settings
from PIL import Image, ImageOps, UnidentifiedImageError

logger = logging.getLogger(__name__)
FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
THUMB_EDGE = 480
THUMB_QUALITY = 80
# The compare and the tier strip show this, not the result: an 8k PNG is ~30 MB, its
# preview a few hundred KB. The page swaps in the full file only when zoomed past it.
PREVIEW_EDGE = 2048
PREVIEW_QUALITY = 80
# libwebp's effort 0-6: its default 4 took 285 ms of CPU for a 2048x1362 photo, 2 takes 108 ms
# for a file 5% larger (the worker's whole path for a 2k image is ~250 ms).
PREVIEW_EFFORT = 2
# A source the compare's before side shows as it is: no larger than the preview, and no
# heavier than a preview might be. Past either (a 12 MP JPEG is 5-10 MB, a HEIC's PNG 3-4
# bytes a pixel, a 2k PNG photo some 5 MB) the worker makes it a preview like a result's.
SOURCE_AS_IS_BYTES = 1_000_000


class ImageRejected(Exception):
    """A source that is not an image we can upscale, with a message for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# Phone photos APIXO can't take: stored as uploaded, converted to PNG by the worker.
PHONE_FORMATS = {"HEIC": "heic", "AVIF": "avif"}


@dataclass(frozen=True)
class ImageInfo:
    format: str  # "jpg", "png" or "webp"; "heic" or "avif" until the worker converts it
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


def _open_phone_photo(f: IO[bytes], kind: str) -> Image.Image:
    """Open a HEIC or AVIF photo lazily: its container's header (size, orientation) is
    read, not a pixel decoded. Raise ImageRejected if it can't be, or claims too many
    pixels."""
    try:
        if kind == "HEIC":
            import pillow_heif

            pillow_heif.register_heif_opener()
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(f, formats=["HEIF" if kind == "HEIC" else "AVIF"])
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
    if img.width * img.height > settings.UPLOAD_MAX_PIXELS:
        img.close()
        raise ImageRejected(
            f"The image is {img.width}x{img.height} pixels; the limit is "
            f"{settings.UPLOAD_MAX_PIXELS // 1_000_000} megapixels."
        )
    return img


def inspect_phone_photo(f: IO[bytes], size: int) -> ImageInfo | None:
    """If f is a HEIC or AVIF photo, check it from its header alone and return its format
    ("heic" or "avif") and size; None if it is neither.

    What a web request can afford: reading the container's boxes, never decoding (a 49 MP
    HEIC decodes in seconds and some 150 MB; its header in milliseconds). The worker
    converts it to PNG before submitting (convert_phone_photo); one that doesn't decode
    fails there alone, with no charge. Raise ImageRejected for the user otherwise.
    """
    f.seek(0)
    kind = _sniff_other(f.read(64))
    f.seek(0)
    if kind not in PHONE_FORMATS:
        return None
    if size > settings.UPLOAD_MAX_BYTES:
        raise ImageRejected(f"The file is larger than {_mb(settings.UPLOAD_MAX_BYTES)}.")
    with _open_phone_photo(f, kind) as img:
        width, height = img.size
    f.seek(0)
    return ImageInfo(format=PHONE_FORMATS[kind], width=width, height=height)


@dataclass(frozen=True)
class Converted:
    """A phone photo as PNG, upright, with the preview the compare shows instead of it."""

    png: bytes
    width: int
    height: int
    preview: bytes | None  # None when the PNG is shown as is (source_needs_preview)


def convert_phone_photo(f: IO[bytes]) -> Converted | None:
    """If f is a HEIC or AVIF photo we can read, return it as PNG; else None.

    APIXO takes only JPG, PNG and WebP, and phones save HEIC (iPhone) or AVIF. The PNG keeps
    every pixel; its orientation is applied, since PNG readers may ignore EXIF. The
    worker's job: it decodes the whole photo, once, and shrinks that decode for the
    preview when the PNG needs one.
    Raise ImageRejected if it is such a photo but cannot be read.
    """
    f.seek(0)
    kind = _sniff_other(f.read(64))
    f.seek(0)
    if kind not in PHONE_FORMATS:
        return None
    with _open_phone_photo(f, kind) as img:
        try:
            out = io.BytesIO()
            upright = ImageOps.exif_transpose(img)
            upright.save(out, "PNG")
        except (OSError, SyntaxError, ValueError, EOFError):
            raise ImageRejected(
                f"This {kind} photo could not be read. Export it as JPEG or PNG and upload that."
            ) from None
    png = out.getvalue()
    width, height = upright.size
    preview = None
    if source_needs_preview(width, height, len(png)):
        # Decoded whole, no draft: Lanczos over all 49 MP of a 7000 px photo took 818 ms
        # (reducing_gap 2), 238 ms after a 3x box reduce (1).
        preview = _webp(_shrunk(upright, reducing_gap=1.0), PREVIEW_QUALITY, PREVIEW_EFFORT)
    return Converted(png, width, height, preview)


def _png_intact(f: IO[bytes]) -> bool:
    """Are f's PNG chunks all there, each with the right CRC, up to IEND (after an IDAT)?

    What a truncated or damaged upload breaks, found without inflating a single pixel: the
    work is one CRC over the file's bytes, however many pixels it claims.
    """
    f.seek(8)
    seen_data = False
    while True:
        header = f.read(8)
        if len(header) < 8:
            return False
        length, kind = struct.unpack(">I4s", header)
        crc = zlib.crc32(kind)
        left = length
        while left:
            chunk = f.read(min(left, 1 << 16))
            if not chunk:
                return False
            crc = zlib.crc32(chunk, crc)
            left -= len(chunk)
        stored = f.read(4)
        if len(stored) < 4 or struct.unpack(">I", stored)[0] != crc:
            return False
        seen_data = seen_data or kind == b"IDAT"
        if kind == b"IEND":
            return seen_data


def _webp_intact(f: IO[bytes], size: int) -> bool:
    """Does f hold all the bytes its RIFF header promises?"""
    f.seek(4)
    declared = int.from_bytes(f.read(4), "little")
    return 8 + declared <= size


def verify_decodes(f: IO[bytes], *, preview: bool = False) -> bytes | None:
    """Decode all of f (a file inspect_image passed), or raise ImageRejected if it is damaged.
    With `preview`, return its preview (as make_renditions makes a result's), shrunk from
    that same decode; else None.

    The worker's job, not a web request's: a PNG can claim 50 megapixels in 381 KB, and
    decoding that takes seconds. libvips streams it (little memory); Pillow if it is missing.
    """
    f.seek(0)
    data = f.read()
    f.seek(0)
    try:
        import pyvips
    except (ImportError, OSError):
        pyvips = None
    try:
        if pyvips is not None:
            image = pyvips.Image.new_from_buffer(data, "", access="sequential", fail_on="error")
            if not preview:
                image.avg()  # reads every pixel
                return None
            # Shrinking reads every pixel too, so a damaged file fails here as in avg().
            # (Not pyvips.Image.thumbnail_buffer: its shrink-on-load ignores fail_on.)
            small = image.thumbnail_image(PREVIEW_EDGE, height=PREVIEW_EDGE, size="down")
            return bytes(
                small.write_to_buffer(
                    ".webp", Q=PREVIEW_QUALITY, effort=PREVIEW_EFFORT, keep="none"
                )
            )
        with Image.open(io.BytesIO(data), formats=list(FORMATS)) as img:
            img.load()
            return _webp(_shrunk(img), PREVIEW_QUALITY, PREVIEW_EFFORT) if preview else None
    except Exception as e:  # pyvips.Error, or Pillow's OSError/SyntaxError/ValueError
        logger.info("Source does not decode: %s", e)
        raise ImageRejected("The image file is damaged or incomplete.") from None


def source_needs_preview(width: int, height: int, size: int) -> bool:
    """Whether the compare shows a preview of this source (long edge PREVIEW_EDGE, WebP)
    rather than the file: it is larger than the preview, or heavier than one might be."""
    return max(width, height) > PREVIEW_EDGE or size > SOURCE_AS_IS_BYTES


def decode_source(f: IO[bytes], fmt: str, *, preview: bool) -> bytes | None:
    """The worker's decode of a source that inspect_image passed (`fmt` is its format).

    A PNG or WebP is decoded whole, or ImageRejected raised (verify_decodes); with
    `preview` its preview comes from that same decode. A JPEG, which inspect_image decoded
    already (at 1/8 scale), is decoded again only for a preview, shrunk while decoding
    (draft), as a result's is. Return the preview, or None.
    """
    if fmt != "jpg":
        return verify_decodes(f, preview=preview)
    if not preview:
        return None
    f.seek(0)
    try:
        with Image.open(f, formats=["JPEG"]) as opened:
            return _webp(_shrunk(opened), PREVIEW_QUALITY, PREVIEW_EFFORT)
    except (OSError, SyntaxError, ValueError) as e:
        # APIXO may take what Pillow can't: the page shows the file itself instead.
        logger.warning("No preview of a JPEG source: %s", e)
        return None
    finally:
        f.seek(0)


def inspect_image(f: IO[bytes], size: int) -> ImageInfo:
    """Check that f holds a JPG, PNG or WebP within our limits. Return its format and size.

    Raise ImageRejected with a message for the user otherwise. The work is bounded by the
    file's bytes, never by the pixels it claims, so a web request can afford it for every
    upload: the header (size, format, animation); a JPEG decoded at 1/8 scale (draft); a
    PNG's chunk CRCs; a WebP's length. The worker decodes a PNG or WebP whole later
    (decode_source).
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
                intact = True
            elif img.format == "PNG":
                intact = _png_intact(f)
            else:
                intact = _webp_intact(f, size)
        except (OSError, SyntaxError, ValueError, struct.error):
            intact = False
    if not intact:
        raise ImageRejected("The image file is damaged or incomplete.")
    f.seek(0)
    return ImageInfo(format=fmt, width=width, height=height)


def make_thumbnail(path: str) -> tuple[bytes, int, int]:
    """Return the thumbnail of make_renditions(path), and the image's full width and height."""
    made = make_renditions(path)
    return made.thumbnail, made.width, made.height


@dataclass(frozen=True)
class Renditions:
    """What pages show of a result instead of the file itself: a thumbnail for the cards and
    a preview (long edge PREVIEW_EDGE) for the compare and the tier strip, both WebP."""

    thumbnail: bytes
    preview: bytes
    width: int  # the full image's, for the page to know when the preview is not enough
    height: int


def make_renditions(path: str) -> Renditions:
    """Make the thumbnail and preview of the image at path, turned upright by its EXIF
    orientation, never holding an 8k image at full size, decoding it once.

    JPEG: Pillow's draft() has the decoder scale down by up to 8x while decoding. PNG and
    WebP can't be decoded reduced by Pillow, so libvips makes theirs: its thumbnail reads
    the file row by row and shrinks as it goes (an 8k PNG: +62 MB instead of +149 MB,
    bench/worker_memory.py). Pillow is the fallback if libvips is missing or fails. The
    thumbnail is made from the preview, not from the file again. An image smaller than the
    preview's edge is not enlarged (its preview is only re-encoded as WebP).
    """
    with Image.open(path) as opened:
        full = opened.size
        if opened.format != "JPEG" and (made := _vips_renditions(path)) is not None:
            return Renditions(made[0], made[1], full[0], full[1])
        img = _shrunk(opened)
        preview = _webp(img, PREVIEW_QUALITY, PREVIEW_EFFORT)
        img.thumbnail((THUMB_EDGE, THUMB_EDGE), Image.Resampling.LANCZOS, reducing_gap=2.0)
        thumb = _webp(img, THUMB_QUALITY)
    return Renditions(thumb, preview, full[0], full[1])


def _shrunk(opened: Image.Image, reducing_gap: float = 2.0) -> Image.Image:
    """opened (Pillow) at the preview's size at most, upright, in RGB(A): shrunk in place,
    while decoding where the format can (a JPEG's draft), and decoded once. A smaller
    `reducing_gap` box-reduces more before the Lanczos pass (faster, a little less fair)."""
    full = opened.size
    # The draft size keeps the aspect ratio: a box would make a wide 8k JPEG decode at
    # 1/2 (4096 px) instead of 1/4, to keep its short side over the box's.
    scale = min(1.0, PREVIEW_EDGE / max(full))
    opened.draft("RGB", (max(1, round(full[0] * scale)), max(1, round(full[1] * scale))))
    # Shrink first, turn upright after: exif_transpose copies the whole image, and a
    # copy of the preview is cheap where a copy of an 8k PNG is not.
    opened.thumbnail(
        (PREVIEW_EDGE, PREVIEW_EDGE), Image.Resampling.LANCZOS, reducing_gap=reducing_gap
    )
    img: Image.Image = ImageOps.exif_transpose(opened)
    if img.mode not in ("RGB", "RGBA"):
        img = img.convert("RGBA" if "A" in img.getbands() or img.mode == "P" else "RGB")
    return img


def _webp(img: Image.Image, quality: int, effort: int = 4) -> bytes:
    out = io.BytesIO()
    img.save(out, "WEBP", quality=quality, method=effort)
    return out.getvalue()


def _vips_renditions(path: str) -> tuple[bytes, bytes] | None:
    """libvips' WebP thumbnail and preview of the image at path (upright), or None to use
    Pillow."""
    try:
        import pyvips
    except (ImportError, OSError):  # no libvips on this machine: Pillow, with more memory
        return None
    try:
        mid = pyvips.Image.thumbnail(
            path, PREVIEW_EDGE, height=PREVIEW_EDGE, size="down", fail_on="error"
        ).copy_memory()  # decoded once, here; both encodings read this copy
        preview = bytes(
            mid.write_to_buffer(".webp", Q=PREVIEW_QUALITY, effort=PREVIEW_EFFORT, keep="none")
        )
        small = mid.thumbnail_image(THUMB_EDGE, height=THUMB_EDGE, size="down")
        return bytes(small.write_to_buffer(".webp", Q=THUMB_QUALITY, keep="none")), preview
    except pyvips.Error as e:
        logger.warning("libvips could not make a thumbnail of %s (%s); using Pillow", path, e)
        return None
