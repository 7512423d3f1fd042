"""Auth, routing, status errors, balance, health and the static file routes."""

from __future__ import annotations

import http.client
import io
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
import requests
from PIL import Image

from apixo_engine.serve import EngineServer

from .conftest import EngineFactory
from .support import Client, RecordingServer

pytestmark = pytest.mark.timeout(20)

API_ROUTES = [
    ("POST", "/api/v1/generateTask/image-upscaler"),
    ("GET", "/api/v1/statusTask/image-upscaler?taskId=task_x"),
    ("GET", "/api/v1/apikeys/current-balance"),
]


@pytest.mark.parametrize(("method", "path"), API_ROUTES)
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-key"}, {"Authorization": "Basic test-engine-key"}],
    ids=["missing", "wrong", "not-bearer"],
)
def test_it_answers_401_without_the_right_key(
    engine: EngineServer, method: str, path: str, headers: dict[str, str]
) -> None:
    response = requests.request(method, engine.url + path, headers=headers, json={}, timeout=5)

    assert response.status_code == 401
    assert response.json() == {"code": 401, "message": "Invalid or missing API key"}


def test_it_answers_404_for_an_unknown_task(client: Client) -> None:
    response = client.status("task_doesnotexist")

    assert response.status_code == 404
    assert response.json() == {"code": 404, "message": "Task not found"}


@pytest.mark.parametrize("task_id", [None, ""])
def test_it_answers_400_without_a_task_id(client: Client, task_id: str | None) -> None:
    response = client.status(task_id)

    assert response.status_code == 400
    assert response.json() == {
        "code": 400,
        "message": "The required parameter {{taskId}} is missing.",
    }


def test_it_answers_404_and_405_envelopes(client: Client, engine: EngineServer) -> None:
    unknown = client.session.get(f"{engine.url}/api/v1/generateTask/other-model", timeout=5)
    outside = requests.get(f"{engine.url}/nowhere", timeout=5)
    wrong = client.session.get(f"{engine.url}/api/v1/generateTask/image-upscaler", timeout=5)

    assert (unknown.status_code, unknown.json()["code"]) == (404, 404)
    assert (outside.status_code, outside.json()["code"]) == (404, 404)
    assert wrong.status_code == 405
    assert wrong.json() == {"code": 405, "message": "Method not allowed"}
    assert wrong.headers["Allow"] == "POST"


def test_it_answers_healthz(engine: EngineServer) -> None:
    response = requests.get(f"{engine.url}/healthz", timeout=5)

    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_it_starts_with_the_configured_balance_as_a_two_decimal_number(
    make_engine: EngineFactory,
) -> None:
    client = Client(make_engine(initial_balance=Decimal("74.87")).url)

    response = client.balance()

    assert response.status_code == 200
    assert response.text == '{"code":200,"message":"success","data":74.87}'


def test_it_charges_one_cent_per_accepted_task_only(
    client: Client, source: RecordingServer
) -> None:
    assert client.balance().text.endswith('"data":100.00}')
    for _ in range(3):
        client.create(source.url("/photo.jpg?engine_fail=Timeout"))
    client.post({"input": None})  # rejected: not charged
    client.submit(source.url("/photo.jpg?engine_http=502"))  # refused: not charged

    assert client.balance().json()["data"] == 99.97


def test_it_answers_402_when_the_balance_is_spent(
    make_engine: EngineFactory, source: RecordingServer
) -> None:
    client = Client(make_engine(initial_balance=Decimal("0.01")).url)
    client.create(source.url("/photo.jpg?engine_fail=Timeout"))

    response = client.submit(source.url("/photo.jpg?engine_fail=Timeout"))

    assert response.status_code == 402
    assert response.json() == {"code": 402, "message": "Insufficient balance"}
    assert client.balance().json()["data"] == 0


@pytest.mark.parametrize(
    ("name", "fmt", "size"),
    [("landscape.jpg", "JPEG", (640, 427)), ("logo.png", "PNG", (300, 300))],
)
def test_it_serves_the_samples(
    engine: EngineServer, name: str, fmt: str, size: tuple[int, int]
) -> None:
    response = requests.get(f"{engine.url}/samples/{name}", timeout=5)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == f"image/{fmt.lower()}"
    assert int(response.headers["Content-Length"]) == len(response.content)
    image = Image.open(io.BytesIO(response.content))
    assert (image.format, image.size) == (fmt, size)


@pytest.mark.parametrize(
    "path",
    [
        "/files/../engine.sqlite3",
        "/files/%2e%2e/engine.sqlite3",
        "/files/..%2Fengine.sqlite3",
        "/files/..%2F..%2Fengine%2Fengine.sqlite3",
        "/files/results/../../engine.sqlite3",
        "/files/",
        "/samples/../server.py",
        "/samples/..%2Fserver.py",
    ],
)
def test_it_refuses_path_traversal(engine: EngineServer, path: str) -> None:
    netloc = urlsplit(engine.url).netloc
    connection = http.client.HTTPConnection(netloc, timeout=5)
    connection.request("GET", path)  # sent as-is, no client-side normalisation
    response = connection.getresponse()
    body = response.read()
    connection.close()

    assert response.status == 404
    assert b"SQLite" not in body and b"import" not in body


def test_it_answers_404_for_an_unknown_result_file(engine: EngineServer) -> None:
    response = requests.get(f"{engine.url}/files/{'a' * 32}.jpg", timeout=5)

    assert response.status_code == 404
