"""An upload handler that stops reading a file as soon as it passes the size limit."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, SkipFile


class SizeCappedUploadHandler(FileUploadHandler):
    """Skip any file larger than UPLOAD_MAX_BYTES, remembering its name on the request.

    Without it, a 60 MB file is spooled whole to a temporary file before the form can say
    it is too large. The form reads `request.oversized_uploads` to name the file.
    """

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        self.received += len(raw_data)
        if self.received > settings.UPLOAD_MAX_BYTES:
            oversized = getattr(self.request, "oversized_uploads", [])
            oversized.append(self.file_name)
            self.request.oversized_uploads = oversized  # type: ignore[union-attr]
            raise SkipFile
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None
