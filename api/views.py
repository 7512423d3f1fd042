"""The JSON API for scripts, under /api/v1/ (described by api/schema.py).

Requests authenticate with a personal API token (`Authorization: Bearer ups_...`), never a
session cookie, so the views are CSRF-exempt and skip the login redirect. A submission goes
through the web form's own SubmitForm, rate limit and quota message, so a script gets the
same answers, word for word, as the form. Access follows the web's rules: Personal by
default; with `team=<code>`, members submit, viewers get 403 and outsiders 404.

Every error is JSON: `{"errors": {"<field>": ["message", ...]}}`, with `non_field_errors`
for what concerns the whole request.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import (
    PermissionDenied,
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.http import Http404, HttpRequest, HttpResponseBase, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.urls import reverse
from django.utils.datastructures import MultiValueDict
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from api.models import ApiToken
from api.schema import openapi_document
from api.serializers import job_json
from jobs import access, estimates, tasks, throttle
from jobs.forms import SubmitForm
from jobs.models import Batch, Job, Membership, SubmitDefaults, for_cards
from jobs.submit import QuotaExceeded, quota_message, submit_batch
from lib.http import AuthedRequest, image_response

NON_FIELD = "non_field_errors"
PER_PAGE = 24
MAX_PER_PAGE = 100
MAX_PAGE = 1_000_000
# The form's checkboxes: true or false (JSON booleans; in a form, true/false, on, 1/0).
OPTIONS = ("force_new", "strip_gps", "notify", "skip_small")
SUBMIT_FIELDS = ("urls", "resolution", "output_format", "team", "key", *OPTIONS)
FORM_BOOLEANS = {"true": True, "on": True, "1": True, "false": False, "0": False, "": False}
RATE_LIMITED = "You are submitting very fast. Wait a minute, then send again."


class ApiRequest(AuthedRequest):
    api_token: ApiToken


ApiView = Callable[..., HttpResponseBase]


def errors(status: int, messages: dict[str, list[str]], **headers: str) -> JsonResponse:
    response = JsonResponse({"errors": messages}, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def error(status: int, message: str, field: str = NON_FIELD, **headers: str) -> JsonResponse:
    return errors(status, {field: [message]}, **headers)


def _bearer(request: HttpRequest) -> ApiToken | None:
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return ApiToken.authenticate(raw.strip())


def api_view(*methods: str, query: tuple[str, ...] = ()) -> Callable[[ApiView], ApiView]:
    """Token auth, JSON errors, allowed methods and query parameters for an API view.

    401 without a live token; 400 for a query parameter not in `query` (a typo shouldn't
    pass silently); Http404 and PermissionDenied from the access helpers become JSON 404
    and 403.
    """

    def decorator(view: ApiView) -> ApiView:
        @csrf_exempt  # token auth only: a browser's cookies grant nothing here
        @login_not_required
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if request.method not in methods:
                return error(
                    405, f"{request.method} is not allowed here.", Allow=", ".join(methods)
                )
            token = _bearer(request)
            if token is None:
                return error(
                    401,
                    "Send a valid API token: Authorization: Bearer <token>. "
                    "Create one on your account page.",
                    WWW_Authenticate='Bearer realm="upscaler"',
                )
            request.user = token.user
            request.api_token = token  # type: ignore[attr-defined]
            unknown = [name for name in request.GET if name not in query]
            if unknown:
                return errors(400, {name: ["Unknown parameter."] for name in unknown})
            try:
                return view(request, *args, **kwargs)
            except Http404:
                return error(404, "Not found.")
            except PermissionDenied as e:
                return error(403, str(e) or "You can't do that.")

        return wrapper

    return decorator


def _jobs(qs: Any) -> list[dict[str, Any]]:
    learnt = estimates.table()
    jobs = for_cards(qs.select_related("user", "team", "retry_of"))
    return [job_json(j, learnt) for j in jobs]


# --- views --------------------------------------------------------------------------------


@api_view("GET", "POST", query=("team", "page", "per_page", "state"))
def jobs_collection(request: ApiRequest) -> HttpResponseBase:
    """GET: the context's jobs, newest first, a page at a time. POST: submit a batch."""
    if request.method == "POST":
        return _submit(request)
    return _list(request)


def _job(request: ApiRequest, code: str) -> Job:
    """The job, if the token's user may see it (the web's rule); 404 otherwise."""
    try:
        uuid.UUID(code)
    except ValueError:
        raise Http404 from None
    return access.get_job_for_user(request.user, code)[0]


@api_view("GET")
def job_detail(request: ApiRequest, code: str) -> HttpResponseBase:
    return JsonResponse(job_json(_job(request, code)))


@api_view("GET")
def job_result(request: ApiRequest, code: str) -> HttpResponseBase:
    job = _job(request, code)
    if job.state != Job.State.SUCCESS or not job.result_file:
        return error(404, "This job has no result (yet).")
    return image_response(job.result_file, job.download_name, download=True)


@csrf_exempt  # read-only and public; other methods get a plain 405, not a CSRF page
@login_not_required
@require_GET
def openapi(request: HttpRequest) -> JsonResponse:
    """The OpenAPI 3.1 document: public, like any API's documentation."""
    return JsonResponse(openapi_document())


def _list(request: ApiRequest) -> HttpResponseBase:
    params = request.GET
    problems: dict[str, list[str]] = {}
    page = _positive_int(params.get("page", "1"), "page", problems)
    per_page = _positive_int(params.get("per_page", str(PER_PAGE)), "per_page", problems)
    if per_page > MAX_PER_PAGE:
        problems["per_page"] = [f"At most {MAX_PER_PAGE}."]
    state = params.get("state")
    if state is not None and state not in Job.State.values:
        problems["state"] = [f"One of: {', '.join(Job.State.values)}."]
    if problems:
        return errors(400, problems)
    code = params.get("team")
    member = access.get_team_for_user(request.user, code) if code is not None else None
    jobs = access.gallery_jobs(request.user, member)
    if state:
        jobs = jobs.filter(state=state)
    count = jobs.count()
    start = (page - 1) * per_page
    rows = jobs.order_by("-created", "-id")[start : start + per_page]

    def link(n: int) -> str:
        query = {k: v for k, v in params.items() if k in ("team", "state", "per_page")}
        return f"{settings.SITE_URL}{reverse('api_jobs')}?{urlencode({**query, 'page': n})}"

    return JsonResponse(
        {
            "count": count,
            "page": page,
            "per_page": per_page,
            "next": link(page + 1) if start + per_page < count else None,
            "previous": link(page - 1) if page > 1 else None,
            "jobs": _jobs(rows),
        }
    )


def _positive_int(value: str, name: str, problems: dict[str, list[str]]) -> int:
    if not (value.isascii() and value.isdigit() and len(value) < 10) or not (
        1 <= int(value) <= MAX_PAGE
    ):
        problems[name] = [f"A whole number from 1 to {MAX_PAGE}."]
        return 1
    return int(value)


# --- submitting: the form's rules, fed from JSON or a multipart form ----------------------


def _submit(request: ApiRequest) -> HttpResponseBase:
    try:
        parsed = _submission(request)
    except (RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent):
        return error(413, "The request is too large.")
    except MultiPartParserError:
        return error(400, "The multipart body could not be read.")
    if isinstance(parsed, JsonResponse):
        return parsed
    data, files, team_code = parsed
    member = _submit_context(request, team_code)
    data = _with_remembered(data, request, member)
    if not throttle.within_submit_rate(request.user.pk):
        return error(429, RATE_LIMITED, Retry_After="60")
    if not tasks.queue_is_up():
        return error(503, tasks.QUEUE_DOWN, Retry_After="30")
    form = SubmitForm(
        data,
        files,
        oversized=getattr(request, "oversized_uploads", []),
        files_sent=getattr(request, "files_sent", 0),
    )
    if not form.is_valid():
        return errors(400, _form_errors(form))
    sources = form.cleaned_data["sources"]
    team = member.team if member else None
    key = form.cleaned_data["key"]
    try:
        batch, created = submit_batch(
            request.user,
            access.budget_for(request.user, member),
            key,
            sources,
            form.cleaned_data["resolution"],
            form.cleaned_data["output_format"],
            team=team,
            strip_gps=form.cleaned_data["strip_gps"],
            force_new=form.cleaned_data["force_new"],
            notify=form.cleaned_data["notify"],
            skip_small=form.cleaned_data["skip_small"],
        )
    except QuotaExceeded as e:
        return error(402, quota_message(len(sources), e, team))
    except Batch.DoesNotExist:  # the key belongs to somebody else's batch
        return error(400, "This key was already used. Send a new one, or none.", field="key")
    body = {
        "batch": str(batch.code),
        "jobs": _jobs(batch.jobs.order_by("created", "id")),
        "warnings": form.warnings() if created else [],
    }
    return JsonResponse(body, status=201 if created else 200)


def _submit_context(request: ApiRequest, code: str | None) -> Membership | None:
    """The team the submission goes to (None: Personal). 404 for outsiders, 403 for viewers."""
    if code is None:
        return None
    member = access.get_team_for_user(request.user, code)
    if not member.can_submit:
        raise PermissionDenied("Viewers can't submit images to the team.")
    return member


Submission = tuple[dict[str, str], MultiValueDict[str, Any], str | None]


def _submission(request: ApiRequest) -> Submission | JsonResponse:
    """The request's fields as SubmitForm data and files, and the team code; or a 400/415."""
    if request.content_type == "application/json":
        return _from_json(request)
    if request.content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        return _from_form(request)
    return error(415, "Send JSON (application/json) or a form (multipart/form-data).")


def _from_json(request: ApiRequest) -> Submission | JsonResponse:
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # nested too deep: not ours
        return error(400, "The body is not valid JSON.")
    if not isinstance(body, dict):
        return error(400, "The body must be a JSON object.")
    problems = {name: ["Unknown field."] for name in body if name not in SUBMIT_FIELDS}
    urls = body.get("urls", [])
    if not isinstance(urls, list) or not all(_one_line(u) for u in urls):
        problems["urls"] = ["A list of links, each a string on one line."]
    for name in ("resolution", "output_format", "team", "key"):
        if name in body and not isinstance(body[name], str):
            problems[name] = ["A string."]
    for name in OPTIONS:
        if name in body and not isinstance(body[name], bool):
            problems[name] = ["true or false."]
    if problems:
        return errors(400, problems)
    fields = {name: body.get(name) for name in ("resolution", "output_format", "key")}
    # "" is a false the caller said, unlike a field left out (which takes the remembered).
    fields.update({name: "on" if body[name] else "" for name in OPTIONS if name in body})
    return _form_data(urls, fields), MultiValueDict(), body.get("team", request.GET.get("team"))


def _from_form(request: ApiRequest) -> Submission | JsonResponse:
    post, files = request.POST, request.FILES
    problems = {name: ["Unknown field."] for name in post if name not in SUBMIT_FIELDS}
    problems.update({name: ["Unknown field."] for name in files if name != "images"})
    flags = {
        name: FORM_BOOLEANS.get(post[name].strip().lower()) for name in OPTIONS if name in post
    }
    problems.update({name: ["true or false."] for name, on in flags.items() if on is None})
    if problems:
        return errors(400, problems)
    urls = [line for value in post.getlist("urls") for line in value.splitlines()]
    fields = {name: post.get(name) for name in ("resolution", "output_format", "key")}
    fields.update({name: "on" if on else "" for name, on in flags.items()})
    images = MultiValueDict({"images": files.getlist("images")})
    return _form_data(urls, fields), images, post.get("team", request.GET.get("team"))


def _one_line(value: Any) -> bool:
    return isinstance(value, str) and len(value.splitlines()) <= 1


def _form_data(urls: list[str], fields: dict[str, Any]) -> dict[str, str]:
    """SubmitForm's data: the links one per line, the fields given, and a fresh idempotency
    key unless the caller sent one (what else is missing: `_with_remembered`)."""
    given = {name: value for name, value in fields.items() if value is not None}
    return {"urls": "\n".join(urls), "key": str(uuid.uuid4()), **given}


def _with_remembered(
    data: dict[str, str], request: ApiRequest, member: Membership | None
) -> dict[str, str]:
    """data with each setting the request left out taken from the user's remembered ones
    in this context (the web form's last submission there; the form's defaults if none).
    force_new is never remembered: paying again is a decision for one request."""
    remembered = SubmitDefaults.for_context(request.user, member.team if member else None)
    filled = {
        name: ("on" if value is True else "" if value is False else str(value))
        for name, value in remembered.items()
    }
    return {**filled, **data}


def _form_errors(form: SubmitForm) -> dict[str, list[str]]:
    return {
        (NON_FIELD if field == "__all__" else field): [str(m) for m in messages]
        for field, messages in form.errors.items()
    }
