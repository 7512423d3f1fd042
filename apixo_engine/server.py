"""The WSGI application (a plain callable): routing, auth, static files.

Serve it with `python -m apixo_engine`, or with any WSGI server, e.g.
`gunicorn 'apixo_engine.server:create_app()'` or `gunicorn apixo_engine.server:application`
(configured from the environment, started on the first request).
"""

from __future__ import annotations

import hmac
import logging
import re
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from . import responses
from .api import Api
from .config import EngineConfig
from .engine import Engine
from .processing import CONTENT_TYPES
from .responses import Response

logger = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
Environ = dict[str, Any]

API_PREFIX = "/api/v1/"
SAMPLES_DIR = Path(__file__).resolve().parent / "samples"
INVALID_KEY = "Invalid or missing API key"
RESULT_NAME = re.compile(r"^[A-Za-z0-9_-]{16,128}\.(?:jpg|png|webp)$")
SAMPLE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}\.(?:jpg|png|webp)$")


class EngineApp:
    """WSGI callable. `close()` stops the engine's threads and closes the store."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.config = engine.config
        self.api = Api(engine)
        self._key = self.config.api_key.encode("utf-8")

    def close(self) -> None:
        self.engine.stop()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        try:
            response = self.dispatch(environ)
        except Exception:
            logger.exception("unhandled error in request")
            response = responses.error(500, "Internal server error")
        start_response(response.status_line, response.headers)
        if environ.get("REQUEST_METHOD", "").upper() == "HEAD":
            return []
        return response.body

    def dispatch(self, environ: Environ) -> Response:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        path = environ.get("PATH_INFO", "") or "/"
        if path == "/api/v1" or path.startswith(API_PREFIX):
            if not self._authorised(environ):
                return responses.error(401, INVALID_KEY)
            return self._api(method, path[len(API_PREFIX) :], environ)
        if path == "/healthz":
            return _only(method, ("GET", "HEAD")) or responses.json_body(
                200, {"status": "ok", **self.engine.upscaler.health()}
            )
        if path.startswith("/files/"):
            return _only(method, ("GET", "HEAD")) or self._static(
                self.config.results_dir, path[len("/files/") :], RESULT_NAME
            )
        if path.startswith("/samples/"):
            return _only(method, ("GET", "HEAD")) or self._static(
                SAMPLES_DIR, path[len("/samples/") :], SAMPLE_NAME
            )
        return responses.error(404, "Not found")

    def _authorised(self, environ: Environ) -> bool:
        header = environ.get("HTTP_AUTHORIZATION", "")
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return False
        return hmac.compare_digest(token.strip().encode("utf-8"), self._key)

    def _api(self, method: str, route: str, environ: Environ) -> Response:
        if route == "generateTask/image-upscaler":
            if error := _only(method, ("POST",)):
                return error
            body, too_large = _read_body(environ, self.config.max_body_bytes)
            if too_large:
                return responses.error(413, "Request body too large")
            return self.api.submit(body)
        if route == "statusTask/image-upscaler":
            if error := _only(method, ("GET",)):
                return error
            query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
            return self.api.status((query.get("taskId") or [None])[-1])
        if route == "apikeys/current-balance":
            return _only(method, ("GET",)) or self.api.balance()
        return responses.error(404, "Not found")

    def _static(self, folder: Path, name: str, pattern: re.Pattern[str]) -> Response:
        if not pattern.fullmatch(name):
            return responses.error(404, "Not found")
        root = folder.resolve()
        path = (root / name).resolve()
        if path.parent != root or not path.is_file():
            return responses.error(404, "Not found")
        return responses.file(path, CONTENT_TYPES[path.suffix])


def _only(method: str, allowed: tuple[str, ...]) -> Response | None:
    if method in allowed:
        return None
    return responses.error(405, "Method not allowed", headers=[("Allow", ", ".join(allowed))])


def _read_body(environ: Environ, limit: int) -> tuple[bytes, bool]:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        return b"", True
    if length <= 0:
        return b"", False
    return environ["wsgi.input"].read(length), False


def create_app(config: EngineConfig | None = None) -> EngineApp:
    """Build the engine from config (default: the environment), start it, return the app."""
    engine = Engine(config or EngineConfig.from_env())
    engine.start()
    return EngineApp(engine)


class _LazyApplication:
    """Module-level WSGI callable for servers that import an object, not a factory."""

    def __init__(self) -> None:
        self._app: EngineApp | None = None
        self._lock = threading.Lock()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if self._app is None:
            with self._lock:
                if self._app is None:
                    self._app = create_app()
        return self._app(environ, start_response)


application = _LazyApplication()
