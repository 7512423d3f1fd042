"""Small WSGI response helpers: JSON envelopes, plain text and streamed files."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

FILE_CHUNK = 256 * 1024


@dataclass
class Response:
    status: int
    body: Iterable[bytes]
    headers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def status_line(self) -> str:
        try:
            phrase = HTTPStatus(self.status).phrase
        except ValueError:
            phrase = "Unknown"
        return f"{self.status} {phrase}"


def _json_bytes(text: str, status: int, extra: list[tuple[str, str]] | None) -> Response:
    body = text.encode("utf-8")
    headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        ("Cache-Control", "no-store"),
        *(extra or []),
    ]
    return Response(status, [body], headers)


def envelope(
    code: int,
    message: str,
    data: Any = None,
    *,
    with_data: bool = True,
    headers: list[tuple[str, str]] | None = None,
) -> Response:
    """{"code", "message", "data"}; the HTTP status equals code."""
    payload: dict[str, Any] = {"code": code, "message": message}
    if with_data:
        payload["data"] = data
    return _json_bytes(json.dumps(payload, separators=(",", ":")), code, headers)


def json_body(status: int, payload: dict[str, Any]) -> Response:
    """A bare JSON object (no envelope), e.g. /healthz."""
    return _json_bytes(json.dumps(payload, separators=(",", ":")), status, None)


def error(code: int, message: str, headers: list[tuple[str, str]] | None = None) -> Response:
    """Error envelopes carry no data: {"code": 404, "message": "Task not found"}."""
    return envelope(code, message, with_data=False, headers=headers)


def raw_data_envelope(code: int, message: str, raw_json_data: str) -> Response:
    """An envelope whose data is pre-serialised JSON text (for exact decimal numbers)."""
    head = json.dumps({"code": code, "message": message}, separators=(",", ":"))
    return _json_bytes(f'{head[:-1]},"data":{raw_json_data}}}', code, None)


def text(status: int, content: str) -> Response:
    body = content.encode("utf-8")
    headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
    return Response(status, [body], headers)


def _stream(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(FILE_CHUNK):
            yield chunk


def file(path: Path, content_type: str, *, max_age: int = 86400) -> Response:
    size = path.stat().st_size
    headers = [
        ("Content-Type", content_type),
        ("Content-Length", str(size)),
        ("Cache-Control", f"public, max-age={max_age}"),
        ("X-Content-Type-Options", "nosniff"),
    ]
    return Response(200, _stream(path), headers)
