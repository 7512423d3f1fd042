"""An upload handler that stops reading a file as soon as it passes the size limit."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, SkipFile


class SizeCappedUploadHandler(FileUploadHandler):
    """Skip any file larger than UPLOAD_MAX_BYTES, remembering its name on the request.

    Without it, a 60 MB file is spooled whole to a temporary file before the form can say
    it is too large. The form reads `request.oversized_uploads` to name the file.

    It also counts the files sent (`request.files_sent`) and skips, unread, every file past
    a batch's worth (BATCH_MAX_IMAGES), so the form can say how many were sent instead of
    Django refusing the request (DATA_UPLOAD_MAX_NUMBER_FILES is only a far hard stop).
    """

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.received = 0
        sent = getattr(self.request, "files_sent", 0) + 1
        self.request.files_sent = sent  # type: ignore[union-attr]
        # Skipped at its first chunk, not here: a SkipFile raised in new_file would close
        # the buffer of the previous (kept) file, which the next handlers still hold.
        self.over_count = sent > settings.BATCH_MAX_IMAGES

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        if self.over_count:
            raise SkipFile
        self.received += len(raw_data)
        if self.received > settings.UPLOAD_MAX_BYTES:
            oversized = getattr(self.request, "oversized_uploads", [])
            oversized.append(self.file_name)
            self.request.oversized_uploads = oversized  # type: ignore[union-attr]
            raise SkipFile
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None
