"""The /api/v1 handlers: submit, status and balance."""

from __future__ import annotations

import logging

from . import responses
from .engine import Engine
from .knobs import HTTP_ERRORS, read_knobs
from .responses import Response
from .store import CENT, InsufficientBalance
from .validation import MISSING_TASK_ID, InvalidRequest, parse_body, validate_submit

logger = logging.getLogger(__name__)

RATE_LIMITED = "Rate limit reached, retry with backoff"
TASK_NOT_FOUND = "Task not found"


class Api:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.store = engine.store
        self.config = engine.config

    def submit(self, raw_body: bytes) -> Response:
        try:
            request = validate_submit(parse_body(raw_body))
        except InvalidRequest as exc:
            return responses.error(400, exc.message)
        knobs = read_knobs(request.image_url, self.config)
        if knobs.http_error is not None:
            return responses.error(knobs.http_error, HTTP_ERRORS[knobs.http_error])
        if self.store.take_submit_429(request.image_url, knobs.rate_limit_n):
            return responses.error(429, RATE_LIMITED, headers=[("Retry-After", "1")])
        try:
            task = self.store.create_task(
                image_url=request.image_url,
                resolution=request.resolution,
                output_format=request.output_format,
                request_type=request.request_type,
                callback_url=request.callback_url,
                status_429=knobs.rate_limit_n,
            )
        except InsufficientBalance:
            return responses.error(402, HTTP_ERRORS[402])
        self.engine.enqueue(task)
        logger.info("task %s accepted (%s, %s)", task.task_id, task.resolution, task.output_format)
        return responses.envelope(200, "success", {"taskId": task.task_id})

    def status(self, task_id: str | None) -> Response:
        if not task_id or not task_id.strip():
            return responses.error(400, MISSING_TASK_ID)
        task = self.store.get(task_id.strip())
        if task is None:
            return responses.error(404, TASK_NOT_FOUND)
        if self.store.take_status_429(task.task_id):
            return responses.error(429, RATE_LIMITED, headers=[("Retry-After", "1")])
        return responses.envelope(200, "success", task.public_data())

    def balance(self) -> Response:
        amount = self.store.balance().quantize(CENT)
        return responses.raw_data_envelope(200, "success", f"{amount:f}")
