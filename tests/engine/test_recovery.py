"""Restart recovery: unfinished tasks (and undelivered callbacks) are picked up again."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apixo_engine.config import EngineConfig
from apixo_engine.store import Store

from .conftest import EngineFactory
from .support import Client, RecordingServer, wait_for

pytestmark = pytest.mark.timeout(20)


def test_it_finishes_a_pending_task_after_a_restart(
    make_engine: EngineFactory, engine_config: EngineConfig, source: RecordingServer
) -> None:
    store = Store(engine_config.db_path, Decimal("100.00"))
    task = store.create_task(
        image_url=source.url("/photo.jpg"), resolution="2k", output_format="png"
    )
    store.close()

    client = Client(make_engine().url)

    data = client.wait(task.task_id)
    assert data["state"] == "success", data
    assert client.result_image(data)[1].size == (2048, 1280)
    assert client.balance().json()["data"] == 99.99  # charged once, when it was created


def test_it_resumes_a_task_left_processing_after_a_restart(
    make_engine: EngineFactory, source: RecordingServer
) -> None:
    first = make_engine()
    client = Client(first.url)
    task_id = client.create(source.url("/photo.jpg?engine_delay=30"))
    wait_for(lambda: client.data(task_id)["state"] == "processing")
    first.stop()  # interrupts the delay; the task stays `processing` in the store

    second = make_engine(time_factor=0.01)  # same data dir, delay now 0.3 s
    client = Client(second.url)

    data = client.wait(task_id)
    assert data["state"] == "success", data
    assert second.url in data["resultJson"]


def test_it_redelivers_a_callback_after_a_restart(
    make_engine: EngineFactory,
    engine_config: EngineConfig,
    source: RecordingServer,
    receiver: RecordingServer,
) -> None:
    store = Store(engine_config.db_path, Decimal("100.00"))
    task = store.create_task(
        image_url=source.url("/photo.jpg"),
        resolution="2k",
        output_format="jpg",
        request_type="callback",
        callback_url=receiver.url("/hook"),
    )
    store.mark_processing(task.task_id)
    store.finish(task.task_id, fail_code="Timeout", fail_msg="Upstream did not finish in time.")
    store.close()

    make_engine()

    wait_for(lambda: receiver.bodies, timeout=5)
    assert receiver.bodies[0]["data"]["taskId"] == task.task_id
    assert receiver.bodies[0]["data"]["failCode"] == "Timeout"
