"""Carry the source's metadata over to the upscaled result: EXIF (without GPS when the user
asked), the ICC colour profile, and an orientation that is right for the result's pixels.

APIXO (and the embedded engine) return a result without the source's EXIF, and may or may
not have turned the pixels upright. We put the metadata back on our side, after the
download, without re-encoding the image (no quality lost) and without decoding it (no 8k
image in memory): the result file is copied piece by piece into a new one, with the
metadata segments (JPEG), chunks (PNG) or RIFF chunks (WebP) put in or replaced on the way.

Trade-offs, kept on purpose:
- EXIF that does not fit in one JPEG APP1 segment (64 KB) is written without its maker
  note, and without EXIF at all if it still doesn't fit (the ICC profile is still kept).
- Width/height tags in the EXIF are set to the result's size; the source's embedded EXIF
  thumbnail is not carried over (it would show the small source).
- Orientation: see `result_orientation`. Only a source with an orientation tag other than
  1 costs anything (a 32x32 comparison of pixels); every other result is never decoded.
"""

from __future__ import annotations

import io
import logging
import shutil
import struct
import zlib
from dataclasses import dataclass
from typing import IO, BinaryIO

from PIL import Image, ImageChops, ImageStat

logger = logging.getLogger(__name__)

ORIENTATION = 0x0112
GPS_IFD = 0x8825
EXIF_IFD = 0x8769
PIXEL_X = 0xA002
PIXEL_Y = 0xA003
MAKER_NOTE = 0x927C
EXIF_HEADER = b"Exif\x00\x00"
ICC_HEADER = b"ICC_PROFILE\x00"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SEGMENT_MAX = 65533  # a segment's length field counts itself: 65535 - 2
ICC_CHUNK = 65519  # JPEG APP2 payload less the 14-byte ICC_PROFILE header
COPY_CHUNK = 1 << 20

# How each EXIF orientation is undone (as Pillow's ImageOps.exif_transpose does it).
UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


class MetadataError(Exception):
    """The result is not a file we can rewrite (it is then kept as it is)."""


@dataclass
class SourceMetadata:
    exif: Image.Exif | None
    icc: bytes | None
    orientation: int
    size: tuple[int, int]


def read_source(f: IO[bytes]) -> SourceMetadata:
    """The source's EXIF, ICC profile and orientation (its pixels are not decoded, except
    for a PNG whose eXIf chunk comes after the image data)."""
    with Image.open(f) as img:
        exif = img.getexif()
        icc = img.info.get("icc_profile") or None
        orientation = exif.get(ORIENTATION, 1)
        return SourceMetadata(
            exif=exif if len(exif) else None,
            icc=icc,
            orientation=orientation if orientation in range(1, 9) else 1,
            size=img.size,
        )


def _small_grey(img: Image.Image) -> Image.Image:
    img.draft("L", (64, 64))  # JPEG: decode at 1/8 scale
    return img.convert("L").resize((32, 32), Image.Resampling.BILINEAR)


def _difference(a: Image.Image, b: Image.Image) -> float:
    return float(ImageStat.Stat(ImageChops.difference(a, b)).mean[0])


def result_orientation(source: SourceMetadata, source_file: IO[bytes], result_path: str) -> int:
    """The orientation tag that shows the result upright.

    The source says "rotate me" (tag 6, say). If the result's pixels are still stored as the
    source's were, the result needs the same tag; if the upscaler already turned them upright
    (the embedded engine does), it needs 1, or it would be turned twice. The result's own
    tag, when it has one, says so. Otherwise we compare a 32x32 grey copy of the result with
    the source as stored and the source turned upright, and take the closer; when they are
    too close to call (a near-symmetric picture), the aspect ratio decides for 90-degree
    turns, and the source's tag stands for the rest.
    """
    if source.orientation == 1:
        return 1
    with Image.open(result_path) as result:
        own = result.getexif().get(ORIENTATION)
        if isinstance(own, int) and 1 <= own <= 8:
            return own
        width, height = result.size
        small_result = _small_grey(result)
    source_file.seek(0)
    with Image.open(source_file) as src:
        stored = _small_grey(src)
    upright = stored.transpose(UPRIGHT[source.orientation])
    as_stored, turned = _difference(small_result, stored), _difference(small_result, upright)
    if turned < as_stored * 0.8:
        return 1
    if as_stored < turned * 0.8:
        return source.orientation
    if source.orientation >= 5:
        sw, sh = source.size
        return 1 if (width >= height) == (sh >= sw) and sw != sh else source.orientation
    return source.orientation


def exif_for_result(
    source: SourceMetadata, strip_gps: bool, orientation: int, size: tuple[int, int]
) -> bytes | None:
    """The EXIF block ("Exif\\0\\0" + TIFF) to give the result, or None for none."""
    if source.exif is None:
        if orientation == 1:
            return None
        exif = Image.Exif()
    else:
        exif = source.exif
    if strip_gps and GPS_IFD in exif:
        del exif[GPS_IFD]
    if orientation == 1:
        exif.pop(ORIENTATION, None)
    else:
        exif[ORIENTATION] = orientation
    sub = exif.get_ifd(EXIF_IFD)
    if sub:
        sub[PIXEL_X], sub[PIXEL_Y] = size
    data = exif.tobytes()
    if len(data) > JPEG_SEGMENT_MAX and MAKER_NOTE in sub:
        del sub[MAKER_NOTE]
        data = exif.tobytes()
    if not data.startswith(EXIF_HEADER):
        data = EXIF_HEADER + data
    return data if len(data) > len(EXIF_HEADER) + 8 else None


# --- writing, without re-encoding -------------------------------------------------------------


def _copy(src: BinaryIO, dst: BinaryIO, n: int) -> None:
    while n > 0:
        piece = src.read(min(n, COPY_CHUNK))
        if not piece:
            raise MetadataError("The file ends early.")
        dst.write(piece)
        n -= len(piece)


def _read(src: BinaryIO, n: int) -> bytes:
    data = src.read(n)
    if len(data) != n:
        raise MetadataError("The file ends early.")
    return data


def write_jpeg(
    src: BinaryIO, dst: BinaryIO, exif: bytes | None, icc: bytes | None, replace_exif: bool
) -> None:
    """Copy a JPEG with our EXIF (APP1) and ICC (APP2) segments after SOI/JFIF.

    The entropy-coded data is copied byte for byte, so nothing is re-encoded.
    """
    if _read(src, 2) != b"\xff\xd8":
        raise MetadataError("Not a JPEG.")
    dst.write(b"\xff\xd8")
    ours = b""
    if exif is not None and len(exif) <= JPEG_SEGMENT_MAX:
        ours += b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif
    if icc:
        pieces = [icc[i : i + ICC_CHUNK] for i in range(0, len(icc), ICC_CHUNK)]
        if len(pieces) <= 255:
            for n, piece in enumerate(pieces, start=1):
                body = ICC_HEADER + bytes([n, len(pieces)]) + piece
                ours += b"\xff\xe2" + struct.pack(">H", len(body) + 2) + body
    inserted = False
    while True:
        marker = _read(src, 2)
        if marker[0] != 0xFF:
            raise MetadataError("Bad JPEG marker.")
        kind = marker[1]
        if not (0xE0 <= kind <= 0xEF or kind == 0xFE):
            # The first table or frame header: the metadata segments are all behind us.
            if not inserted:
                dst.write(ours)
            dst.write(marker)
            shutil.copyfileobj(src, dst, COPY_CHUNK)
            return
        length = struct.unpack(">H", _read(src, 2))[0]
        body = _read(src, length - 2)
        if kind == 0xE0 and not inserted:
            dst.write(marker + struct.pack(">H", length) + body)  # JFIF stays first
            continue
        if not inserted:
            dst.write(ours)
            inserted = True
        drop = (kind == 0xE1 and body.startswith(EXIF_HEADER) and replace_exif) or (
            kind == 0xE2 and body.startswith(ICC_HEADER) and icc
        )
        if not drop:
            dst.write(marker + struct.pack(">H", length) + body)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def write_png(
    src: BinaryIO, dst: BinaryIO, exif: bytes | None, icc: bytes | None, replace_exif: bool
) -> None:
    """Copy a PNG with our iCCP and eXIf chunks right after IHDR (IDAT copied as is)."""
    if _read(src, 8) != PNG_SIGNATURE:
        raise MetadataError("Not a PNG.")
    dst.write(PNG_SIGNATURE)
    while True:
        head = src.read(8)
        if not head:
            return
        if len(head) != 8:
            raise MetadataError("The file ends early.")
        length, kind = struct.unpack(">I", head[:4])[0], head[4:]
        drop = (kind in (b"iCCP", b"sRGB") and icc) or (kind == b"eXIf" and replace_exif)
        if drop:
            src.seek(length + 4, io.SEEK_CUR)
            continue
        dst.write(head)
        _copy(src, dst, length + 4)
        if kind == b"IHDR":
            if icc:
                dst.write(_png_chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(icc)))
            if exif is not None:
                dst.write(_png_chunk(b"eXIf", exif[len(EXIF_HEADER) :]))
        if kind == b"IEND":
            return


def _vp8x_for(chunks: list[tuple[bytes, int, int]], src: BinaryIO, size: tuple[int, int]) -> int:
    """Flags for a new VP8X header: the alpha bit of a lossless (VP8L) image."""
    for kind, offset, _length in chunks:
        if kind == b"VP8L":
            src.seek(offset + 1)
            bits = struct.unpack("<I", _read(src, 4))[0]
            return 0x10 if bits >> 28 & 1 else 0
        if kind == b"ALPH":
            return 0x10
    return 0


def write_webp(
    src: BinaryIO,
    dst: BinaryIO,
    exif: bytes | None,
    icc: bytes | None,
    replace_exif: bool,
    size: tuple[int, int],
) -> None:
    """Copy a WebP with ICCP and EXIF chunks (and the VP8X header that announces them)."""
    head = _read(src, 12)
    if head[:4] != b"RIFF" or head[8:] != b"WEBP":
        raise MetadataError("Not a WebP.")
    chunks: list[tuple[bytes, int, int]] = []  # (fourcc, data offset, data length)
    while True:
        chunk_head = src.read(8)
        if len(chunk_head) < 8:
            break
        kind, length = chunk_head[:4], struct.unpack("<I", chunk_head[4:])[0]
        chunks.append((kind, src.tell(), length))
        src.seek(length + (length & 1), io.SEEK_CUR)
    if exif is not None:
        exif = exif[len(EXIF_HEADER) :]  # WebP's EXIF chunk holds the bare TIFF data
    if chunks and chunks[0][0] == b"VP8X":
        src.seek(chunks[0][1])
        vp8x = bytearray(_read(src, chunks[0][2]))
        chunks = chunks[1:]
    else:
        width, height = size
        flags = _vp8x_for(chunks, src, size)
        vp8x = bytearray(
            bytes([flags, 0, 0, 0])
            + (width - 1).to_bytes(3, "little")
            + (height - 1).to_bytes(3, "little")
        )
    keep = [
        c
        for c in chunks
        if not (c[0] == b"ICCP" and icc) and not (c[0] == b"EXIF" and (replace_exif or exif))
    ]
    has_exif = exif is not None or any(c[0] == b"EXIF" for c in keep)
    vp8x[0] = (vp8x[0] & ~0x28) | (0x20 if icc or any(c[0] == b"ICCP" for c in keep) else 0)
    vp8x[0] |= 0x08 if has_exif else 0
    out: list[tuple[bytes, bytes | tuple[int, int]]] = [(b"VP8X", bytes(vp8x))]
    if icc:
        out.append((b"ICCP", icc))
    out += [(kind, (offset, length)) for kind, offset, length in keep]
    if exif is not None:
        out.append((b"EXIF", exif))

    def length_of(body: bytes | tuple[int, int]) -> int:
        return len(body) if isinstance(body, bytes) else body[1]

    total = 4 + sum(8 + length_of(b) + (length_of(b) & 1) for _, b in out)
    dst.write(b"RIFF" + struct.pack("<I", total) + b"WEBP")
    for kind, body in out:
        n = length_of(body)
        dst.write(kind + struct.pack("<I", n))
        if isinstance(body, bytes):
            dst.write(body)
        else:
            src.seek(body[0])
            _copy(src, dst, n)
        if n & 1:
            dst.write(b"\x00")


def carry_over(source_file: IO[bytes], result_path: str, dst: BinaryIO, strip_gps: bool) -> bool:
    """Write the result at result_path to dst with the source's metadata. Return True if
    any metadata (EXIF or ICC profile) was kept; dst then holds the new file.

    Return False (dst untouched) when there is nothing to carry over and nothing to remove.
    Raise MetadataError (or OSError, ValueError, SyntaxError) if a file can't be read.
    """
    source_file.seek(0)
    source = read_source(source_file)
    with Image.open(result_path) as result:
        fmt, size = result.format, result.size
    if source.exif is None and source.icc is None and not strip_gps:
        return False
    orientation = result_orientation(source, source_file, result_path)
    exif = exif_for_result(source, strip_gps, orientation, size)
    if exif is None and source.icc is None and not strip_gps:
        return False
    replace_exif = exif is not None or strip_gps
    with open(result_path, "rb") as src:
        if fmt == "JPEG":
            write_jpeg(src, dst, exif, source.icc, replace_exif)
        elif fmt == "PNG":
            write_png(src, dst, exif, source.icc, replace_exif)
        elif fmt == "WEBP":
            write_webp(src, dst, exif, source.icc, replace_exif, size)
        else:
            raise MetadataError(f"Unexpected result format {fmt}.")
    return exif is not None or source.icc is not None
