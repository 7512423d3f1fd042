"""Serving the WSGI app with wsgiref and a threading server (daemon request threads)."""

from __future__ import annotations

import dataclasses
import logging
import socket
import threading
from collections.abc import Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from .config import EngineConfig
from .server import EngineApp, create_app

logger = logging.getLogger("apixo_engine.access")


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True


class ThreadingWSGIServerV6(ThreadingWSGIServer):
    address_family = socket.AF_INET6


class RequestHandler(WSGIRequestHandler):
    """Access lines go to the logging module instead of stderr."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        logger.info("%s %s", self.address_string(), format % args)


def _not_ready(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
    return [b"starting"]


class EngineServer:
    """Binds the socket first (so port 0 picks a free port), then builds and starts the app."""

    def __init__(self, config: EngineConfig) -> None:
        server_class = ThreadingWSGIServerV6 if ":" in config.host else ThreadingWSGIServer
        self.httpd = make_server(
            config.host,
            config.port,
            _not_ready,
            server_class=server_class,
            handler_class=RequestHandler,
        )
        try:
            port = int(self.httpd.server_address[1])
            self.config = dataclasses.replace(config, port=port)
            self.app: EngineApp = create_app(self.config)
        except BaseException:
            self.httpd.server_close()
            raise
        self.httpd.set_app(self.app)
        self._thread: threading.Thread | None = None
        self._stopped = False

    @property
    def url(self) -> str:
        host = self.config.host
        if host in ("", "0.0.0.0", "::"):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.config.port}"

    def serve_forever(self) -> None:
        self.httpd.serve_forever(poll_interval=self.config.poll_interval)

    def start(self) -> EngineServer:
        """Serve from a background daemon thread."""
        self._thread = threading.Thread(
            target=self.serve_forever, name="apixo-engine-http", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting requests, then stop the engine's threads and close the store."""
        if self._stopped:
            return
        self._stopped = True
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(5)
            self._thread = None
        self.httpd.server_close()
        self.app.close()

    def __enter__(self) -> EngineServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
