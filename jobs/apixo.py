"""APIXO's `image-upscaler` API: the only module that talks to APIXO.

Reference: https://apixo.ai/docs/llms.txt (restated in shared/apixo/image-upscaler.md).
Every detail of the wire format the documentation leaves open lives here, so that adapting
to the real service is one edit. With no APIXO_API_KEY, settings point this same client
at the embedded engine (apixo_engine/), which serves the same contract locally.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import requests
from django.conf import settings
from django.views.decorators.debug import sensitive_variables
from urllib3.exceptions import ProtocolError

logger = logging.getLogger(__name__)

MODEL = "image-upscaler"
STATES = ("pending", "processing", "success", "failed")
USER_AGENT = "Upscaler/1.0 (+self-hosted)"
# 4xx answers are about our request or account and will not change on retry; 429 and 5xx
# are about APIXO's load or health and will.
PERMANENT_STATUSES = (400, 401, 402, 403, 404)
STATUS_CODES = {
    400: "Rejected",
    401: "Unauthorized",
    402: "InsufficientBalance",
    403: "Forbidden",
    404: "TaskNotFound",
}

session = requests.Session()
session.headers["User-Agent"] = USER_AGENT


class UpscalerError(Exception):
    """A failed APIXO call.

    permanent: retrying the same call will not help (4xx). Otherwise it may (429, 5xx,
    connection errors, timeouts).
    maybe_accepted: the request was sent but no answer came back, so APIXO may have
    accepted it: a submit must not be blindly repeated.
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        status: int | None = None,
        maybe_accepted: bool = False,
        code: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.status = status
        self.maybe_accepted = maybe_accepted
        self._code = code

    @property
    def code(self) -> str:
        """A fail code for the job this error ends."""
        if self._code:
            return self._code
        if self.status in STATUS_CODES:
            return STATUS_CODES[self.status]
        return "Unavailable"

    @property
    def rate_limited(self) -> bool:
        return self.status == 429


@dataclass(frozen=True)
class TaskStatus:
    task_id: str
    state: str
    result_urls: list[str] = field(default_factory=list)
    fail_code: str = ""
    fail_msg: str = ""
    create_time: int | None = None
    complete_time: int | None = None
    cost_time: int | None = None
    # The embedded engine adds the model it used to resultJson; APIXO says nothing.
    model: str = ""


def _headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {settings.APIXO_KEY}"}


# The key is in the headers: keep every frame below this one out of error reports.
@sensitive_variables()
def _request(method: str, path: str, **kwargs: Any) -> Any:
    """Send one request and return the envelope's `data`. Raise UpscalerError otherwise."""
    url = f"{settings.APIXO_BASE_URL}{path}"
    try:
        response = session.request(
            method, url, headers=_headers(), timeout=settings.APIXO_TIMEOUT, **kwargs
        )
    except requests.ConnectionError as e:
        # A refused or timed-out connection never reached APIXO, so repeating is safe; a
        # connection dropped while waiting for the answer may have been accepted.
        dropped = any(isinstance(a, ProtocolError) for a in e.args)
        raise UpscalerError(
            "Could not connect to APIXO.", permanent=False, maybe_accepted=dropped
        ) from None
    except requests.Timeout:
        # A read timeout: the request went out, the answer never came.
        raise UpscalerError(
            "APIXO did not answer in time.", permanent=False, maybe_accepted=True
        ) from None

    try:
        body = response.json()
    except (ValueError, RecursionError):
        body = None
    if not isinstance(body, dict):
        if response.ok:
            logger.warning("APIXO %s %s: unexpected body %r", method, path, response.text[:2000])
            raise UpscalerError(
                "APIXO sent an answer we could not read.",
                permanent=False,
                status=response.status_code,
            )
        body = {}

    # The envelope repeats the status in `code`; some gateways answer HTTP 200 with an
    # error code there, so the envelope's code wins when it is an error.
    status = response.status_code
    envelope_code = body.get("code")
    if isinstance(envelope_code, str) and envelope_code.isdigit():
        envelope_code = int(envelope_code)
    if status == 200 and isinstance(envelope_code, int) and envelope_code >= 400:
        status = envelope_code
    if status >= 400:
        message = body.get("message") or body.get("msg") or response.reason or "error"
        return_msg = f"APIXO answered {status}: {message}"
        if status not in PERMANENT_STATUSES and status != 429 and status < 500:
            logger.warning("APIXO %s %s: unexpected status %s", method, path, status)
        raise UpscalerError(return_msg, permanent=status in PERMANENT_STATUSES, status=status)
    if "data" not in body:
        logger.warning("APIXO %s %s: no data in %r", method, path, response.text[:2000])
        raise UpscalerError(
            "APIXO sent an answer we could not read.", permanent=False, status=status
        )
    return body["data"]


def submit_task(image_url: str, resolution: str, output_format: str, callback_url: str = "") -> str:
    """Submit one upscaling task and return APIXO's taskId."""
    # Reference: https://apixo.ai/docs/llms.txt ("image-upscaler": generateTask)
    payload: dict[str, Any] = {
        "request_type": "callback" if callback_url else "async",
        "input": {
            "mode": "image-to-image",
            "image_urls": [image_url],
            "resolution": resolution,
            "output_format": output_format,
        },
    }
    if callback_url:
        payload["callback_url"] = callback_url
    data = _request("POST", f"/generateTask/{MODEL}", json=payload)
    task_id = data.get("taskId") if isinstance(data, dict) else None
    if not isinstance(task_id, str) or not task_id:
        logger.warning("APIXO generateTask: no taskId in %r", data)
        # The request was accepted (200) but we cannot follow the task: someone must look.
        raise UpscalerError(
            "APIXO accepted the task but sent no task ID.", permanent=False, maybe_accepted=True
        )
    return task_id


def get_task(task_id: str) -> TaskStatus:
    """Read one task's state, and its result URLs or failure once finished."""
    # Reference: https://apixo.ai/docs/llms.txt ("image-upscaler": statusTask)
    data = _request("GET", f"/statusTask/{MODEL}", params={"taskId": task_id})
    return parse_status(data, task_id)


def parse_status(data: Any, task_id: str) -> TaskStatus:
    """Turn a status (or webhook) `data` object into a TaskStatus, tolerantly."""
    if not isinstance(data, dict):
        logger.warning("APIXO status for %s: data is not an object: %r", task_id, data)
        raise UpscalerError("APIXO sent a status we could not read.", permanent=False)
    state = data.get("state")
    if state not in STATES:
        logger.warning("APIXO status for %s: unknown state in %r", task_id, data)
        raise UpscalerError(f"APIXO reported an unknown state {state!r}.", permanent=False)

    result_urls: list[str] = []
    model = ""
    if state == "success":
        result_urls, model = _parse_result(data.get("resultJson"))
        if not result_urls:
            logger.warning("APIXO status for %s: success without resultUrls: %r", task_id, data)
            raise UpscalerError(
                "APIXO reported success but sent no result URL.",
                permanent=True,
                code="ResultUnavailable",
            )
    return TaskStatus(
        task_id=str(data.get("taskId") or task_id),
        state=state,
        result_urls=result_urls,
        fail_code=str(data.get("failCode") or ("Unknown error" if state == "failed" else "")),
        fail_msg=str(data.get("failMsg") or ""),
        create_time=_int_or_none(data.get("createTime")),
        complete_time=_int_or_none(data.get("completeTime")),
        cost_time=_int_or_none(data.get("costTime")),
        model=model,
    )


def _parse_result(raw: Any) -> tuple[list[str], str]:
    """resultJson's URLs, and the model if the (embedded) service named one."""
    # resultJson is documented as a JSON *string*; accept an object too.
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except (ValueError, RecursionError):
            return [], ""
    if not isinstance(raw, dict):
        return [], ""
    urls = raw.get("resultUrls")
    model = raw.get("model")
    model = model[:60] if isinstance(model, str) and model.isprintable() else ""
    if not isinstance(urls, list):
        return [], model
    return [u for u in urls if isinstance(u, str) and u.startswith(("http://", "https://"))], model


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def get_balance() -> Decimal:
    """The API key's remaining balance in USD."""
    # Reference: https://apixo.ai/docs/llms.txt ("System APIs": current-balance)
    data = _request("GET", "/apikeys/current-balance")
    try:
        balance = Decimal(str(data)).quantize(Decimal("0.01"))
        if balance.is_nan():  # "NaN" parses and quantizes without complaint
            raise InvalidOperation
        return balance
    except InvalidOperation:
        logger.warning("APIXO current-balance: not a number: %r", data)
        raise UpscalerError("APIXO sent a balance we could not read.", permanent=False) from None
