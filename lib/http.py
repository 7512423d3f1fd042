"""Request and response helpers for every app's views: the typed request, the `next=`
check, and the one way a stored image is served (its Content-Type from its stored name)."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db.models.fields.files import FieldFile
from django.http import FileResponse, HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.middleware import HtmxDetails

IMAGE_TYPES = {"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


class AuthedRequest(HttpRequest):
    """A request behind login (every view but the few `login_not_required` ones), as
    django-stubs recommends typing it: `user` is a User, `htmx` is django-htmx's."""

    user: User
    htmx: HtmxDetails


def safe_next(request: HttpRequest, target: str | None, *, require_https: bool = False) -> str:
    """target if it is a URL on this site (a `next=` or the page a button was on), else ""."""
    safe = url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https)
    return target if target and safe else ""


def image_type(stored_name: str | None) -> str:
    """The Content-Type of a stored image, from its own (random, checked) name: never from
    the user's file name, which could say .html."""
    ext = (stored_name or "").rsplit(".", 1)[-1].lower()
    return IMAGE_TYPES.get(ext, "application/octet-stream")


def image_response(field: FieldFile, filename: str, *, download: bool = False) -> FileResponse:
    """A stored image, streamed: inline, or as an attachment named filename."""
    return FileResponse(
        field.open("rb"),
        as_attachment=download,
        filename=filename,
        content_type=image_type(field.name),
    )
