"""Callback mode: the final payload is POSTed to callback_url, retried on non-2xx."""

from __future__ import annotations

import time

import pytest

from apixo_engine.serve import EngineServer

from .conftest import EngineFactory
from .support import Client, RecordingServer, wait_for

pytestmark = pytest.mark.timeout(20)


def bodies(receiver: RecordingServer, count: int) -> list[dict[str, object]]:
    def enough() -> list[dict[str, object]] | None:
        with receiver.lock:
            return list(receiver.bodies) if len(receiver.bodies) >= count else None

    return list(wait_for(enough, timeout=10))


def callback_state(engine: EngineServer, task_id: str) -> str | None:
    task = engine.app.engine.store.get(task_id)
    return task.callback_state if task else None


def test_it_posts_the_final_payload_to_the_callback_url(
    client: Client, source: RecordingServer, receiver: RecordingServer
) -> None:
    task_id = client.create(
        source.url("/photo.jpg"),
        request_type="callback",
        callback_url=receiver.url("/hooks/apixo/s3cret/"),
    )

    [payload] = bodies(receiver, 1)

    assert receiver.paths() == ["/hooks/apixo/s3cret/"]
    assert (payload["code"], payload["message"]) == (200, "success")
    assert payload["data"] == client.data(task_id)
    assert client.data(task_id)["state"] == "success"


def test_it_posts_a_failure_with_its_fail_code(
    client: Client, source: RecordingServer, receiver: RecordingServer
) -> None:
    client.create(
        source.url("/photo.jpg?engine_fail=SensitiveContent"),
        request_type="callback",
        callback_url=receiver.url("/hook"),
    )

    [payload] = bodies(receiver, 1)

    data = payload["data"]
    assert isinstance(data, dict)
    assert (data["state"], data["failCode"]) == ("failed", "SensitiveContent")
    assert data["resultJson"] is None


def test_it_retries_after_a_failed_delivery(
    client: Client, engine: EngineServer, source: RecordingServer, receiver: RecordingServer
) -> None:
    receiver.answers.extend([500, 503])
    task_id = client.create(
        source.url("/photo.jpg?engine_fail=Timeout"),
        request_type="callback",
        callback_url=receiver.url("/hook"),
    )

    payloads = bodies(receiver, 3)

    assert len(payloads) == 3
    assert all(p == payloads[0] for p in payloads)
    wait_for(lambda: callback_state(engine, task_id) == "delivered")


def test_it_gives_up_after_three_retries(
    make_engine: EngineFactory, source: RecordingServer, receiver: RecordingServer
) -> None:
    engine = make_engine()
    client = Client(engine.url)
    receiver.answers.extend([500] * 10)
    task_id = client.create(
        source.url("/photo.jpg?engine_fail=Timeout"),
        request_type="callback",
        callback_url=receiver.url("/hook"),
    )

    wait_for(lambda: callback_state(engine, task_id) == "gave_up", timeout=10)
    assert len(receiver.bodies) == 4  # the first try and 3 retries


def test_it_sends_no_callback_in_async_mode(
    client: Client, source: RecordingServer, receiver: RecordingServer
) -> None:
    task_id = client.create(source.url("/photo.jpg"), callback_url=receiver.url("/hook"))

    client.wait(task_id)
    time.sleep(0.2)

    assert receiver.bodies == []


def test_it_rejects_a_callback_url_that_is_not_http(client: Client) -> None:
    response = client.submit(
        "https://images.example/a.jpg", request_type="callback", callback_url="mailto:x@y"
    )

    assert response.status_code == 400
