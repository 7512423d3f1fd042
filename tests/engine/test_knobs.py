"""Knobs: engine_delay (states), engine_429, engine_http, engine_stall, time factor."""

from __future__ import annotations

import time

import pytest

from .conftest import EngineFactory
from .support import Client, RecordingServer, wait_for

pytestmark = pytest.mark.timeout(20)


def state(client: Client, task_id: str) -> str:
    return str(client.data(task_id)["state"])


def test_it_shows_pending_then_processing_then_success(
    make_engine: EngineFactory, source: RecordingServer
) -> None:
    client = Client(make_engine(workers=1).url)
    first = client.create(source.url("/photo.jpg?engine_delay=0.6"))
    second = client.create(source.url("/photo.jpg?engine_delay=0.3"))

    wait_for(lambda: state(client, first) == "processing")
    assert state(client, second) == "pending"  # the only worker is busy with `first`
    data = client.data(second)
    assert data["completeTime"] is None and data["costTime"] is None
    assert data["resultJson"] is None and data["failCode"] is None

    wait_for(lambda: state(client, second) == "processing", timeout=5)
    assert state(client, first) == "success"
    finished = client.wait(second)
    assert finished["state"] == "success"
    assert finished["costTime"] >= 300  # includes the injected delay


def test_it_applies_the_delay_before_an_injected_failure(
    client: Client, source: RecordingServer
) -> None:
    task_id = client.create(source.url("/photo.jpg?engine_delay=0.3&engine_fail=Timeout"))

    assert state(client, task_id) in ("pending", "processing")
    data = client.wait(task_id)
    assert (data["state"], data["failCode"]) == ("failed", "Timeout")
    assert data["costTime"] >= 300


def test_it_scales_injected_delays_by_the_time_factor(
    make_engine: EngineFactory, source: RecordingServer
) -> None:
    client = Client(make_engine(time_factor=0.01).url)
    started = time.monotonic()

    data = client.wait(client.create(source.url("/photo.jpg?engine_delay=100")))

    assert data["state"] == "success"
    assert time.monotonic() - started < 10


def test_it_uses_the_env_default_delay(make_engine: EngineFactory, source: RecordingServer) -> None:
    client = Client(make_engine(delay=0.5).url)
    task_id = client.create(source.url("/photo.jpg"))

    wait_for(lambda: state(client, task_id) == "processing")
    assert client.wait(task_id)["costTime"] >= 500


def test_it_answers_429_for_the_first_n_submits_and_status_reads(
    client: Client, source: RecordingServer
) -> None:
    url = source.url("/photo.jpg?engine_429=2")

    for _ in range(2):
        refused = client.submit(url)
        assert refused.status_code == 429
        assert refused.json() == {"code": 429, "message": "Rate limit reached, retry with backoff"}
    task_id = client.create(url)
    assert [client.status(task_id).status_code for _ in range(2)] == [429, 429]
    assert client.wait(task_id)["state"] == "success"
    assert client.balance().json()["data"] == 99.99  # 429s are not charged
    assert client.submit(url).status_code == 200  # the counter is per URL and spent


def test_it_counts_429s_per_exact_image_url(client: Client, source: RecordingServer) -> None:
    assert client.submit(source.url("/photo.jpg?engine_429=1&a=1")).status_code == 429
    assert client.submit(source.url("/photo.jpg?engine_429=1&a=2")).status_code == 429
    assert client.submit(source.url("/photo.jpg?engine_429=1&a=1")).status_code == 200


def test_it_applies_the_env_default_429_to_every_url(
    make_engine: EngineFactory, source: RecordingServer
) -> None:
    client = Client(make_engine(rate_limit_n=1).url)

    assert client.submit(source.url("/photo.jpg")).status_code == 429
    assert client.submit(source.url("/photo.jpg")).status_code == 200


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (400, "Invalid request"),
        (401, "Invalid or missing API key"),
        (402, "Insufficient balance"),
        (403, "Access to this model is denied"),
        (500, "Internal server error"),
        (502, "Upstream service error"),
        (504, "Upstream timeout"),
    ],
)
def test_it_answers_an_injected_http_error_without_creating_a_task(
    client: Client, source: RecordingServer, code: int, message: str
) -> None:
    response = client.submit(source.url(f"/photo.jpg?engine_http={code}"))

    assert response.status_code == code
    assert response.json() == {"code": code, "message": message}
    assert client.balance().json()["data"] == 100


def test_it_stalls_a_task_in_processing(client: Client, source: RecordingServer) -> None:
    stalled = client.create(source.url("/photo.jpg?engine_stall=1"))
    wait_for(lambda: state(client, stalled) == "processing")

    # A stalled task holds no worker: other tasks still finish.
    others = [client.create(source.url("/photo.jpg")) for _ in range(3)]
    assert all(client.wait(task_id)["state"] == "success" for task_id in others)
    time.sleep(0.3)
    data = client.data(stalled)
    assert data["state"] == "processing"
    assert data["completeTime"] is None
