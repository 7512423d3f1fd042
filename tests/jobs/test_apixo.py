"""Tests for jobs/apixo.py, the APIXO client: what it sends, and how it reads each answer.

HTTP is mocked only at APIXO's boundary, with `responses`, on the exact documented URLs
(shared/apixo/image-upscaler.md).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests
import responses
from responses import matchers
from urllib3.exceptions import ProtocolError

from jobs import apixo
from tests.apixo_support import auth, balance_url, status_url, submit_url

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(30)]

TASK_ID = "task_abc123"
RESULT_URL = "https://cdn.example.test/out.jpg"


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield rsps


def accepted(task_id: str = TASK_ID) -> dict[str, Any]:
    return {"code": 200, "message": "success", "data": {"taskId": task_id}}


def add_submit(mock: responses.RequestsMock, **kwargs: Any) -> None:
    mock.add(responses.POST, submit_url(), **kwargs)


def add_status(mock: responses.RequestsMock, data: Any, task_id: str = TASK_ID) -> None:
    mock.add(
        responses.GET,
        status_url(),
        match=[matchers.query_param_matcher({"taskId": task_id}), auth()],
        json={"code": 200, "message": "success", "data": data},
    )


def _status(state: str, **fields: Any) -> dict[str, Any]:
    return {"taskId": TASK_ID, "state": state, "createTime": 1764000000000, **fields}


def submit() -> str:
    return apixo.submit_task("https://images.example.com/photo.jpg", "4k", "jpg")


def submit_error() -> apixo.UpscalerError:
    with pytest.raises(apixo.UpscalerError) as info:
        submit()
    return info.value


# --- submit ------------------------------------------------------------------------------


def test_it_submits_the_documented_body(mock):
    add_submit(
        mock,
        match=[
            matchers.json_params_matcher(
                {
                    "request_type": "async",
                    "input": {
                        "mode": "image-to-image",
                        "image_urls": ["https://images.example.com/photo.jpg"],
                        "resolution": "4k",
                        "output_format": "jpg",
                    },
                }
            )
        ],
        json=accepted(),
    )
    assert submit() == TASK_ID


def test_it_sends_the_api_key_as_a_bearer_token(mock):
    add_submit(mock, match=[auth()], json=accepted())
    submit()


def test_it_returns_the_task_id(mock):
    add_submit(mock, json=accepted("task_xyz789"))
    assert submit() == "task_xyz789"


def test_it_asks_for_a_callback_when_given_a_callback_url(mock):
    callback = "https://upscaler.example.test/webhooks/apixo/s3cret/"
    add_submit(
        mock,
        match=[
            matchers.json_params_matcher(
                {
                    "request_type": "callback",
                    "callback_url": callback,
                    "input": {
                        "mode": "image-to-image",
                        "image_urls": ["https://images.example.com/photo.webp"],
                        "resolution": "8k",
                        "output_format": "webp",
                    },
                }
            )
        ],
        json=accepted(),
    )
    task_id = apixo.submit_task(
        "https://images.example.com/photo.webp", "8k", "webp", callback_url=callback
    )
    assert task_id == TASK_ID


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        (400, "Rejected", "The parameter {{resolution}} must be either '2k', '4k' or '8k'."),
        (401, "Unauthorized", "Invalid or missing API key"),
        (402, "InsufficientBalance", "Insufficient balance"),
        (403, "Forbidden", "This key cannot access image-upscaler"),
        (404, "TaskNotFound", "Task not found"),
    ],
)
def test_it_makes_4xx_answers_permanent(mock, status, code, message):
    add_submit(mock, status=status, json={"code": status, "message": message})
    error = submit_error()
    assert error.permanent
    assert not error.maybe_accepted
    assert error.status == status
    assert error.code == code
    assert message in error.message


@pytest.mark.parametrize("status", [429, 500, 502, 504])
def test_it_makes_429_and_5xx_answers_transient(mock, status):
    add_submit(mock, status=status, json={"code": status, "message": "try later"})
    error = submit_error()
    assert not error.permanent
    assert not error.maybe_accepted
    assert error.status == status
    assert error.rate_limited is (status == 429)


def test_it_reads_an_error_status_without_a_json_body(mock):
    add_submit(mock, status=502, body="<html>Bad Gateway</html>", content_type="text/html")
    error = submit_error()
    assert not error.permanent
    assert error.status == 502


def test_it_treats_an_http_200_with_an_error_code_as_that_error(mock):
    add_submit(mock, status=200, json={"code": 402, "message": "Insufficient balance"})
    error = submit_error()
    assert error.permanent
    assert error.code == "InsufficientBalance"
    assert "Insufficient balance" in error.message


def test_it_reads_an_error_code_sent_as_a_string(mock):
    add_submit(mock, status=200, json={"code": "429", "message": "Too many requests"})
    error = submit_error()
    assert error.rate_limited
    assert not error.permanent


def test_it_accepts_msg_instead_of_message(mock):
    add_submit(mock, status=400, json={"code": 400, "msg": "Invalid mode type"})
    assert "Invalid mode type" in submit_error().message


def test_it_logs_a_malformed_json_body(mock, caplog):
    raw = "<html><body>Service temporarily overloaded</body></html>"
    add_submit(mock, status=200, body=raw, content_type="text/html")
    with caplog.at_level(logging.WARNING, logger="jobs.apixo"):
        error = submit_error()
    assert not error.permanent
    assert not error.maybe_accepted
    assert any(r.levelno == logging.WARNING and raw in r.getMessage() for r in caplog.records)


def test_it_logs_an_envelope_without_data(mock, caplog):
    add_submit(mock, status=200, json={"code": 200, "message": "success"})
    with caplog.at_level(logging.WARNING, logger="jobs.apixo"):
        error = submit_error()
    assert not error.permanent
    assert any(r.levelno == logging.WARNING for r in caplog.records)


def test_it_flags_a_200_without_task_id_as_maybe_accepted(mock):
    add_submit(mock, json={"code": 200, "message": "success", "data": {}})
    error = submit_error()
    assert error.maybe_accepted
    assert not error.permanent


def test_it_treats_a_refused_connection_as_transient(mock):
    add_submit(mock, body=requests.ConnectionError())
    error = submit_error()
    assert not error.permanent
    assert not error.maybe_accepted


def test_it_flags_a_dropped_connection_as_maybe_accepted(mock):
    dropped = ProtocolError("Connection aborted.", ConnectionResetError(104, "reset"))
    add_submit(mock, body=requests.ConnectionError(dropped))
    error = submit_error()
    assert not error.permanent
    assert error.maybe_accepted


def test_it_flags_a_read_timeout_as_maybe_accepted(mock):
    add_submit(mock, body=requests.ReadTimeout())
    error = submit_error()
    assert not error.permanent
    assert error.maybe_accepted


# --- status ------------------------------------------------------------------------------


def test_it_asks_for_the_task_by_id_with_the_key(mock):
    add_status(mock, _status("pending"))
    assert apixo.get_task(TASK_ID).task_id == TASK_ID


@pytest.mark.parametrize("state", ["pending", "processing"])
def test_it_reads_an_unfinished_state(mock, state):
    add_status(mock, _status(state))
    status = apixo.get_task(TASK_ID)
    assert status.state == state
    assert status.result_urls == []


def test_it_reads_result_json_as_a_json_string(mock):
    add_status(mock, _status("success", resultJson=json.dumps({"resultUrls": [RESULT_URL]})))
    status = apixo.get_task(TASK_ID)
    assert status.state == "success"
    assert status.result_urls == [RESULT_URL]


def test_it_reads_the_model_the_embedded_engine_names(mock):
    result = {"resultUrls": [RESULT_URL], "model": "realesrgan-x4plus"}
    add_status(mock, _status("success", resultJson=json.dumps(result)))
    assert apixo.get_task(TASK_ID).model == "realesrgan-x4plus"


@pytest.mark.parametrize("model", [None, 42, "bad\nname"])
def test_it_ignores_a_model_it_cannot_show(mock, model):
    result = {"resultUrls": [RESULT_URL], "model": model}
    add_status(mock, _status("success", resultJson=json.dumps(result)))
    assert apixo.get_task(TASK_ID).model == ""


def test_it_reads_result_json_as_an_object(mock):
    add_status(mock, _status("success", resultJson={"resultUrls": [RESULT_URL]}))
    assert apixo.get_task(TASK_ID).result_urls == [RESULT_URL]


@pytest.mark.parametrize(
    "result_json",
    [
        "{not json",
        None,
        json.dumps({"resultUrls": []}),
        json.dumps({"resultUrls": ["ftp://cdn.example.test/out.jpg"]}),
    ],
)
def test_it_makes_success_without_a_result_url_permanent(mock, result_json):
    add_status(mock, _status("success", resultJson=result_json))
    with pytest.raises(apixo.UpscalerError) as info:
        apixo.get_task(TASK_ID)
    assert info.value.permanent


def test_it_reads_the_fail_code_and_message(mock):
    add_status(
        mock,
        _status("failed", failCode="SensitiveContent", failMsg="Rejected by safety checks"),
    )
    status = apixo.get_task(TASK_ID)
    assert status.state == "failed"
    assert status.fail_code == "SensitiveContent"
    assert status.fail_msg == "Rejected by safety checks"


def test_it_reports_unknown_error_for_a_failure_without_a_code(mock):
    add_status(mock, _status("failed", failCode=None, failMsg=None))
    status = apixo.get_task(TASK_ID)
    assert status.fail_code == "Unknown error"
    assert status.fail_msg == ""


def test_it_makes_an_unknown_state_transient_and_logs_it(mock, caplog):
    add_status(mock, _status("queued_upstream"))
    with (
        caplog.at_level(logging.WARNING, logger="jobs.apixo"),
        pytest.raises(apixo.UpscalerError) as info,
    ):
        apixo.get_task(TASK_ID)
    assert not info.value.permanent
    assert any("queued_upstream" in r.getMessage() for r in caplog.records)


def test_it_parses_times_as_ints(mock):
    add_status(
        mock,
        _status(
            "success",
            resultJson=json.dumps({"resultUrls": [RESULT_URL]}),
            createTime="1764000000000",
            completeTime=1764000021000.0,
            costTime=21000,
        ),
    )
    status = apixo.get_task(TASK_ID)
    assert (status.create_time, status.complete_time, status.cost_time) == (
        1764000000000,
        1764000021000,
        21000,
    )
    assert all(type(t) is int for t in (status.create_time, status.complete_time))


def test_it_leaves_missing_or_junk_times_empty(mock):
    add_status(mock, _status("processing", createTime="soon", costTime=True))
    status = apixo.get_task(TASK_ID)
    assert (status.create_time, status.complete_time, status.cost_time) == (None, None, None)


def test_it_makes_an_unknown_task_permanent(mock):
    mock.add(
        responses.GET,
        status_url(),
        match=[matchers.query_param_matcher({"taskId": "task_gone"})],
        status=404,
        json={"code": 404, "message": "Task not found"},
    )
    with pytest.raises(apixo.UpscalerError) as info:
        apixo.get_task("task_gone")
    assert info.value.permanent
    assert info.value.code == "TaskNotFound"


# --- balance -----------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "expected"), [(74.87, "74.87"), (5, "5.00"), ("0.5", "0.50")])
def test_it_returns_the_balance_with_two_places(mock, data, expected):
    mock.add(
        responses.GET,
        balance_url(),
        match=[auth()],
        json={"code": 200, "message": "success", "data": data},
    )
    balance = apixo.get_balance()
    assert isinstance(balance, Decimal)
    assert str(balance) == expected


@pytest.mark.parametrize("data", ["lots", None, {"usd": 74.87}, "NaN"])
def test_it_refuses_a_balance_that_is_not_a_number(mock, data):
    mock.add(
        responses.GET,
        balance_url(),
        json={"code": 200, "message": "success", "data": data},
    )
    with pytest.raises(apixo.UpscalerError) as info:
        apixo.get_balance()
    assert not info.value.permanent
