"""Helpers for the engine tests: tiny loopback HTTP servers, sample images, an API client."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from PIL import Image

KEY = "test-engine-key"

# --- sample images -------------------------------------------------------------------------


def encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def sharpness(image: Image.Image) -> float:
    """Variance of the Laplacian of the luma: higher is sharper."""
    import numpy as np

    luma = np.asarray(image.convert("L"), dtype=np.float64)
    laplacian = (
        -4 * luma[1:-1, 1:-1] + luma[:-2, 1:-1] + luma[2:, 1:-1] + luma[1:-1, :-2] + luma[1:-1, 2:]
    )
    return float(laplacian.var())


def photo(width: int = 320, height: int = 200) -> Image.Image:
    image = Image.new("RGB", (width, height))
    image.putdata(
        [(x * 255 // width, y * 255 // height, 128) for y in range(height) for x in range(width)]
    )
    return image


def alpha_png() -> bytes:
    """64x64: the top-left 32x32 quadrant fully transparent (black), the rest opaque red."""
    image = Image.new("RGBA", (64, 64), (255, 0, 0, 255))
    image.paste((0, 0, 0, 0), (0, 0, 32, 32))
    return encode(image, "PNG")


def rotated_jpeg() -> bytes:
    """Stored 300x200 (left half red, right half blue) with EXIF orientation 6.

    Displayed upright it is 200x300 with red on top and blue at the bottom.
    """
    image = Image.new("RGB", (300, 200), (255, 0, 0))
    image.paste((0, 0, 255), (150, 0, 300, 200))
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(image, "JPEG", quality=95, exif=exif.tobytes())


def gif() -> bytes:
    return encode(Image.new("P", (20, 20), 1), "GIF")


def sources() -> dict[str, tuple[str, bytes]]:
    return {
        "/photo.jpg": ("image/jpeg", encode(photo(), "JPEG", quality=90)),
        "/photo.png": ("image/png", encode(photo(), "PNG")),
        "/photo.webp": ("image/webp", encode(photo(), "WEBP", quality=90)),
        "/tall.jpg": ("image/jpeg", encode(photo(200, 320), "JPEG", quality=90)),
        "/tiny.jpg": ("image/jpeg", encode(photo(16, 9), "JPEG", quality=90)),
        "/alpha.png": ("image/png", alpha_png()),
        "/rotated.jpg": ("image/jpeg", rotated_jpeg()),
        "/anim.gif": ("image/gif", gif()),
        "/notes.txt": ("text/plain", b"this is not an image\n"),
        "/truncated.jpg": ("image/jpeg", encode(photo(), "JPEG", quality=90)[:2000]),
    }


# --- loopback HTTP servers -----------------------------------------------------------------


class RecordingServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.hits: list[str] = []
        self.bodies: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.files: dict[str, tuple[str, bytes]] = {}
        self.answers: list[int] = []  # receiver: status codes to answer, in order
        self.answer_delay = 0.0

    @property
    def netloc(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"

    def url(self, path: str) -> str:
        return f"http://{self.netloc}{path}"

    def paths(self) -> list[str]:
        with self.lock:
            return [urlsplit(hit).path for hit in self.hits]

    def start(self) -> RecordingServer:
        threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _Quiet(BaseHTTPRequestHandler):
    server: RecordingServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def _send(self, status: int, body: bytes, content_type: str, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)


class SourceHandler(_Quiet):
    """Serves server.files by path (the query string, where knobs live, is ignored).

    /redirect?to=<url> answers 302; /huge and /huge-unsized send 11 MB.
    """

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.hits.append(self.path)
        parts = urlsplit(self.path)
        if parts.path == "/redirect":
            target = parse_qs(parts.query)["to"][0]
            self._send(302, b"", "text/plain", Location=target)
        elif parts.path in ("/huge", "/huge-unsized"):
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            if parts.path == "/huge":
                self.send_header("Content-Length", str(11 * 1024 * 1024))
            self.end_headers()
            try:
                for _ in range(11 * 16):
                    self.wfile.write(b"\xff" * 65536)
            except OSError:
                pass
        elif parts.path in self.server.files:
            content_type, body = self.server.files[parts.path]
            self._send(200, body, content_type)
        else:
            self._send(404, b"not found", "text/plain")


class ReceiverHandler(_Quiet):
    """Records JSON POST bodies; answers the next code from server.answers (default 200)."""

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length))
        with self.server.lock:
            self.server.hits.append(self.path)
            self.server.bodies.append(body)
            status = self.server.answers.pop(0) if self.server.answers else 200
        self._send(status, b"{}", "application/json")


# --- API client ----------------------------------------------------------------------------


class Client:
    def __init__(self, base_url: str, key: str = KEY) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.headers["Authorization"] = f"Bearer {key}"

    def post(self, body: Any) -> requests.Response:
        return self.session.post(
            f"{self.base_url}/api/v1/generateTask/image-upscaler", json=body, timeout=10
        )

    def submit(self, image_url: str, **params: Any) -> requests.Response:
        top: dict[str, Any] = {
            k: params.pop(k) for k in ("request_type", "callback_url") if k in params
        }
        params.setdefault("resolution", "2k")
        inputs: dict[str, Any] = {"mode": "image-to-image", "image_urls": [image_url], **params}
        body = {**top, "input": inputs}
        return self.post(body)

    def create(self, image_url: str, **params: Any) -> str:
        response = self.submit(image_url, **params)
        assert response.status_code == 200, response.text
        return str(response.json()["data"]["taskId"])

    def status(self, task_id: str | None) -> requests.Response:
        params = {} if task_id is None else {"taskId": task_id}
        return self.session.get(
            f"{self.base_url}/api/v1/statusTask/image-upscaler", params=params, timeout=10
        )

    def data(self, task_id: str) -> dict[str, Any]:
        response = self.status(task_id)
        assert response.status_code == 200, response.text
        return dict(response.json()["data"])

    def wait(self, task_id: str, timeout: float = 15.0) -> dict[str, Any]:
        """Poll until the task is finished (success or failed)."""
        return dict(wait_for(lambda: _finished(self.data(task_id)), timeout))

    def balance(self) -> requests.Response:
        return self.session.get(f"{self.base_url}/api/v1/apikeys/current-balance", timeout=10)

    def result_image(self, data: dict[str, Any]) -> tuple[requests.Response, Image.Image]:
        url = json.loads(data["resultJson"])["resultUrls"][0]
        response = requests.get(url, timeout=10)
        assert response.status_code == 200, response.text
        image = Image.open(io.BytesIO(response.content))
        image.load()
        return response, image


def _finished(data: dict[str, Any]) -> dict[str, Any] | None:
    return data if data["state"] in ("success", "failed") else None


def wait_for(check: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)
