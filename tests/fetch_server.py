"""A small threaded HTTP server on 127.0.0.1 for the downloader's tests.

Routes:
- /image.jpg: a JPEG-ish body with "Content-Type: image/JPEG; charset=binary".
- /headers: the request headers, one "Name: value" per line.
- /status/<code>: an empty answer with that status.
- /redirect/<n>: a relative redirect to /redirect/<n-1>; /redirect/0 redirects to the image.
- /redirect-to?url=<url>: a redirect to url.
- /big?size=<n>: n bytes with Content-Length; /stream?size=<n>: n bytes without it.
- /declared?size=<n>: claims Content-Length n but sends nothing.
- /slow-headers, /slow-body: stall (up to STALL seconds) before the headers or the body.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

IMAGE = b"\xff\xd8\xff\xe0" + b"jpeg" * 1000
STALL = 5.0
_CHUNK = 32 * 1024


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output quiet

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        path = parts.path
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        size = int(query.get("size", "0"))
        with suppress(BrokenPipeError, ConnectionResetError):
            if path == "/image.jpg":
                self._send(200, IMAGE, "image/JPEG; charset=binary")
            elif path == "/headers":
                body = "".join(f"{k}: {v}\n" for k, v in self.headers.items())
                self._send(200, body.encode(), "text/plain")
            elif path.startswith("/status/"):
                self._send(int(path.removeprefix("/status/")), b"", "text/plain")
            elif path.startswith("/redirect/"):
                n = int(path.removeprefix("/redirect/"))
                self._redirect(f"/redirect/{n - 1}" if n > 0 else "/image.jpg")
            elif path == "/redirect-to":
                self._redirect(query["url"])
            elif path == "/big":
                self._send(200, b"x" * size, "image/png")
            elif path == "/stream":
                self._stream(size)
            elif path == "/declared":
                self.send_response(200)
                self.send_header("Content-Length", str(size))
                self.end_headers()
            elif path == "/slow-headers":
                self.server.stop.wait(STALL)
                self._send(200, IMAGE, "image/jpeg")
            elif path == "/slow-body":
                self.send_response(200)
                self.send_header("Content-Length", str(len(IMAGE)))
                self.end_headers()
                self.wfile.write(IMAGE[:10])
                self.wfile.flush()
                self.server.stop.wait(STALL)
            else:
                self._send(404, b"", "text/plain")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _stream(self, size: int) -> None:
        # HTTP/1.0 without Content-Length: the body ends when the connection closes.
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()
        sent = 0
        while sent < size and not self.server.stop.is_set():
            n = min(_CHUNK, size - sent)
            self.wfile.write(b"x" * n)
            sent += n


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.stop = threading.Event()
        self.server_names: list[str | None] = []  # SNI sent by each TLS client

    def use_tls(self, certfile: str, keyfile: str) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certfile, keyfile)
        context.sni_callback = lambda _sock, name, _ctx: self.server_names.append(name)
        self.socket = context.wrap_socket(self.socket, server_side=True)


@contextmanager
def serve(tls: tuple[str, str] | None = None) -> Iterator[_Server]:
    """Run the server on a free port in a background thread; yield it.

    With tls=(certfile, keyfile) it speaks HTTPS.
    """
    server = _Server()
    if tls:
        server.use_tls(*tls)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop.set()  # releases handlers stalled in slow routes
        server.shutdown()
        server.server_close()
        thread.join()
