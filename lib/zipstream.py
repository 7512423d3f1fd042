"""A ZIP archive streamed piece by piece, for downloads of many files at once."""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any, cast

CHUNK = 1 << 20


@dataclass(frozen=True)
class Entry:
    """One file of the archive: its name inside it, its time, and how to open it (an
    OSError from `open` skips the entry: the file was removed meanwhile)."""

    name: str
    stamp: datetime
    open: Callable[[], IO[bytes]]


class _Pipe:
    """A write-only file for zipfile that hands what was written to the generator.

    It has no seek(), so zipfile streams: each entry's sizes and CRC go in a data
    descriptor after its bytes, and nothing is held but the current piece.
    """

    def __init__(self) -> None:
        self.pieces: list[bytes] = []
        self.offset = 0

    def write(self, data: Any) -> int:
        self.pieces.append(bytes(data))
        self.offset += len(data)
        return len(data)

    def tell(self) -> int:
        return self.offset

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self.pieces)
        self.pieces.clear()
        return data


def stream(entries: Iterable[Entry]) -> Iterator[bytes]:
    """The archive of entries, piece by piece (at most ~CHUNK in memory at any time).

    The files are stored, not deflated: ours are already compressed images, so no CPU is
    spent for nothing, and the archive's size is known up front to within the headers.
    """
    pipe = _Pipe()
    with zipfile.ZipFile(
        cast(IO[bytes], pipe), "w", compression=zipfile.ZIP_STORED, allowZip64=True
    ) as archive:
        for entry in entries:
            try:
                src = entry.open()
            except OSError:
                continue
            info = zipfile.ZipInfo(entry.name, date_time=entry.stamp.timetuple()[:6])
            info.compress_type = zipfile.ZIP_STORED
            with src, archive.open(info, "w", force_zip64=True) as dst:
                while piece := src.read(CHUNK):
                    dst.write(piece)
                    yield pipe.take()
            yield pipe.take()
    yield pipe.take()
