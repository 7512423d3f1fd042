"""An upload handler that stops reading a file as soon as it passes the size limit."""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.core.cache import cache
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.http import HttpRequest, HttpResponse

logger = logging.getLogger(__name__)
# The form posts that carry uploads (the web form and the JSON API).
UPLOAD_PATHS = frozenset({"/jobs/", "/api/v1/jobs"})
# How long a hold on a user's upload slot outlives a web process that died holding it.
UPLOAD_SLOT_SECONDS = 120
BUSY_MESSAGE = "Another upload of yours is still being checked. Send this again in a moment."


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


def _uploader(request: HttpRequest) -> str:
    """Who sends this post: the session's user, or a hash of the API token; "" if nobody."""
    if user_id := request.session.get(SESSION_KEY):
        return f"u:{user_id}"
    if auth := request.headers.get("Authorization", ""):
        return "t:" + hashlib.sha256(auth.encode()).hexdigest()[:32]
    return ""


def one_upload_at_a_time(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    """Middleware: one user's uploads are read and checked one at a time.

    It sits before CsrfViewMiddleware, which reads the body: a second upload while the
    first is in flight is answered 429 at once, its body unread, so one user (16 tabs or
    scripts posting at once) holds at most one web thread with upload work, and the
    others stay free for everyone's pages. A browser's form sends one at a time anyway
    (its button is disabled while it posts).
    """

    def middleware(request: HttpRequest) -> HttpResponse:
        if (
            request.method != "POST"
            or request.content_type != "multipart/form-data"
            or request.path_info not in UPLOAD_PATHS
            or not (who := _uploader(request))
        ):
            return get_response(request)
        key, token = f"upload-slot:{who}", secrets.token_hex(8)
        try:
            # A cache that reads an outage as empty (jobs.cache) fails the add and finds
            # nothing: that is no Redis, so no cap, not somebody else's upload.
            taken = not cache.add(key, token, UPLOAD_SLOT_SECONDS) and cache.get(key) is not None
        except Exception:  # no Redis: no cap, rather than no uploads
            logger.warning("Upload slot unreadable for %s; not capped", who)
            return get_response(request)
        if taken:
            return HttpResponse(
                BUSY_MESSAGE, status=429, content_type="text/plain", headers={"Retry-After": "5"}
            )
        try:
            return get_response(request)
        finally:
            try:
                if cache.get(key) == token:
                    cache.delete(key)
            except Exception:
                logger.warning("Upload slot of %s not released; it expires by itself", who)

    return middleware
