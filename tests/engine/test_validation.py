"""Submit validation: APIXO's exact messages, in APIXO's order."""

from __future__ import annotations

from typing import Any

import pytest

from apixo_engine.serve import EngineServer

from .support import Client

pytestmark = pytest.mark.timeout(15)

URL = "https://images.example/photo.jpg"


def body(**params: Any) -> dict[str, Any]:
    return {"input": {"mode": "image-to-image", "image_urls": [URL], **params}}


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({}, "The required parameter {{input}} is missing."),
        ({"input": None}, "The required parameter {{input}} is missing."),
        ({"input": {"image_urls": [URL]}}, "Invalid mode type. Supported: image-to-image"),
        (
            {"input": {"mode": "text-to-image", "image_urls": [URL]}},
            "Invalid mode type. Supported: image-to-image",
        ),
        (
            {"input": {"mode": "image-to-image"}},
            "The required parameter {{image_urls}} is missing.",
        ),
        (body(image_urls=URL), "The parameter {{image_urls}} must be Array type."),
        (body(image_urls=[]), "The parameter {{image_urls}} must contain exactly 1 image."),
        (body(image_urls=[URL, URL]), "The parameter {{image_urls}} must contain exactly 1 image."),
        (body(image_urls=[42]), "The parameter {{image_urls}} Array elements must be String type."),
        (body(image_urls=[""]), "The parameter {{image_urls}} cannot contain empty string."),
        (body(resolution="1k"), "The parameter {{resolution}} must be either '2k', '4k' or '8k'."),
        (body(resolution="4K"), "The parameter {{resolution}} must be either '2k', '4k' or '8k'."),
        (
            body(output_format="gif"),
            "The parameter {{output_format}} must be either 'jpg', 'png' or 'webp'.",
        ),
        (
            body(output_format="jpeg"),
            "The parameter {{output_format}} must be either 'jpg', 'png' or 'webp'.",
        ),
        (
            {**body(), "request_type": "sync"},
            "Invalid request_type. Supported: async, callback",
        ),
        (
            {**body(), "request_type": "callback"},
            "The required parameter {{callback_url}} is missing.",
        ),
        (
            {**body(), "request_type": "callback", "callback_url": ""},
            "The required parameter {{callback_url}} is missing.",
        ),
        ([1, 2], "Invalid JSON body."),
    ],
)
def test_it_rejects_an_invalid_submit_with_the_exact_message(
    client: Client, payload: Any, message: str
) -> None:
    response = client.post(payload)

    assert response.status_code == 400
    assert response.json() == {"code": 400, "message": message}


def test_it_checks_the_fields_in_apixo_order(client: Client) -> None:
    response = client.post({"input": {"mode": "x", "image_urls": 5, "resolution": "1k"}})

    assert response.json()["message"] == "Invalid mode type. Supported: image-to-image"


def test_it_rejects_a_body_that_is_not_json(client: Client, engine: EngineServer) -> None:
    response = client.session.post(
        f"{engine.url}/api/v1/generateTask/image-upscaler", data=b"{not json", timeout=5
    )

    assert response.status_code == 400
    assert response.json() == {"code": 400, "message": "Invalid JSON body."}


def test_it_accepts_a_task_and_answers_a_task_id(client: Client) -> None:
    response = client.post(body(resolution="2k", output_format="png"))

    assert response.status_code == 200
    payload = response.json()
    assert payload["code"] == 200
    assert payload["message"] == "success"
    assert payload["data"]["taskId"].startswith("task_")
    assert len(payload["data"]["taskId"]) > len("task_") + 16


def test_it_defaults_to_async_4k_jpg(client: Client, engine: EngineServer) -> None:
    task_id = client.create(f"{URL}?engine_fail=Timeout", resolution=None)

    task = engine.app.engine.store.get(task_id)
    assert task is not None
    assert (task.request_type, task.resolution, task.output_format) == ("async", "4k", "jpg")
