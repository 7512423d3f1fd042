"""Submit-body validation, with APIXO's exact messages (the {{...}} braces are literal)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

RESOLUTIONS = ("2k", "4k", "8k")
OUTPUT_FORMATS = ("jpg", "png", "webp")
REQUEST_TYPES = ("async", "callback")

INVALID_JSON = "Invalid JSON body."
INVALID_REQUEST_TYPE = "Invalid request_type. Supported: async, callback"
MISSING_CALLBACK_URL = "The required parameter {{callback_url}} is missing."
INVALID_CALLBACK_URL = "The parameter {{callback_url}} must be an http or https URL."
MISSING_INPUT = "The required parameter {{input}} is missing."
INVALID_MODE = "Invalid mode type. Supported: image-to-image"
MISSING_IMAGE_URLS = "The required parameter {{image_urls}} is missing."
IMAGE_URLS_NOT_ARRAY = "The parameter {{image_urls}} must be Array type."
IMAGE_URLS_NOT_ONE = "The parameter {{image_urls}} must contain exactly 1 image."
IMAGE_URLS_NOT_STRING = "The parameter {{image_urls}} Array elements must be String type."
IMAGE_URLS_EMPTY = "The parameter {{image_urls}} cannot contain empty string."
INVALID_RESOLUTION = "The parameter {{resolution}} must be either '2k', '4k' or '8k'."
INVALID_OUTPUT_FORMAT = "The parameter {{output_format}} must be either 'jpg', 'png' or 'webp'."
MISSING_TASK_ID = "The required parameter {{taskId}} is missing."


class InvalidRequest(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class SubmitRequest:
    image_url: str
    resolution: str
    output_format: str
    request_type: str
    callback_url: str | None


def parse_body(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequest(INVALID_JSON) from exc
    if not isinstance(body, dict):
        raise InvalidRequest(INVALID_JSON)
    return body


def validate_submit(body: dict[str, Any]) -> SubmitRequest:
    request_type = body.get("request_type")
    if request_type is None:
        request_type = "async"
    if request_type not in REQUEST_TYPES:
        raise InvalidRequest(INVALID_REQUEST_TYPE)
    callback_url = None
    if request_type == "callback":
        callback_url = body.get("callback_url")
        if not isinstance(callback_url, str) or not callback_url.strip():
            raise InvalidRequest(MISSING_CALLBACK_URL)
        callback_url = callback_url.strip()
        parts = urlsplit(callback_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InvalidRequest(INVALID_CALLBACK_URL)

    params = body.get("input")
    if not isinstance(params, dict):
        raise InvalidRequest(MISSING_INPUT)
    if params.get("mode") != "image-to-image":
        raise InvalidRequest(INVALID_MODE)
    image_urls = params.get("image_urls")
    if image_urls is None:
        raise InvalidRequest(MISSING_IMAGE_URLS)
    if not isinstance(image_urls, list):
        raise InvalidRequest(IMAGE_URLS_NOT_ARRAY)
    if len(image_urls) != 1:
        raise InvalidRequest(IMAGE_URLS_NOT_ONE)
    image_url = image_urls[0]
    if not isinstance(image_url, str):
        raise InvalidRequest(IMAGE_URLS_NOT_STRING)
    if not image_url.strip():
        raise InvalidRequest(IMAGE_URLS_EMPTY)
    resolution = params.get("resolution")
    if resolution is None:
        resolution = "4k"
    if resolution not in RESOLUTIONS:
        raise InvalidRequest(INVALID_RESOLUTION)
    output_format = params.get("output_format")
    if output_format is None:
        output_format = "jpg"
    if output_format not in OUTPUT_FORMATS:
        raise InvalidRequest(INVALID_OUTPUT_FORMAT)
    return SubmitRequest(
        image_url=image_url.strip(),
        resolution=resolution,
        output_format=output_format,
        request_type=request_type,
        callback_url=callback_url,
    )
