"""The OpenAPI 3.1 document of the JSON API (served at /api/v1/openapi.json).

Written by hand, next to the views it describes (api/views.py); tests/api/test_openapi.py runs
schemathesis against the live views with it, so the two can't drift apart unnoticed.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from jobs.models import Job


def _nullable(kind: str, **extra: Any) -> dict[str, Any]:
    return {"type": [kind, "null"], **extra}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": schema}},
        **extra,
    }


def _error(description: str, **extra: Any) -> dict[str, Any]:
    return _json(_ref("Errors"), description, **extra)


UNAUTHORIZED = _error(
    "No token, or a wrong or revoked one.",
    headers={"WWW-Authenticate": {"schema": {"type": "string"}}},
)
NOT_FOUND = _error("No such job, or one you may not see; or a team you are not in.")


REMEMBERED = (
    " Left out: the setting you last submitted with on the web in this context (Personal "
    "or the team), else this default."
)

OPTION_SCHEMAS: dict[str, Any] = {
    "force_new": {
        "type": "boolean",
        "default": False,
        "description": "Upscale again even if you (or the team) already have this image at "
        "this tier and format; otherwise that result is reused at once, with no charge.",
    },
    "strip_gps": {
        "type": "boolean",
        "default": False,
        "description": "Remove the GPS location from the results' EXIF." + REMEMBERED,
    },
    "notify": {
        "type": "boolean",
        "default": False,
        "description": "Email me when this batch finishes (batches that take a while)."
        + REMEMBERED,
    },
    "skip_small": {
        "type": "boolean",
        "default": False,
        "description": "Cancel, before any charge, each image whose source is already at or "
        "above the tier's long edge (the job ends `canceled`, with the reason in "
        "`fail_message`); otherwise it is upscaled at the same size." + REMEMBERED,
    },
}


def _schemas() -> dict[str, Any]:
    uuid = {"type": "string", "format": "uuid"}
    when = {"type": "string", "format": "date-time"}
    return {
        "Errors": {
            "type": "object",
            "description": "Messages per field; `non_field_errors` for the request as a whole. "
            "The messages are the web form's, word for word.",
            "required": ["errors"],
            "properties": {
                "errors": {
                    "type": "object",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                }
            },
        },
        "Job": {
            "type": "object",
            "required": [
                "id",
                "url",
                "web_url",
                "state",
                "team",
                "submitted_by",
                "retry_of",
                "resolution",
                "output_format",
                "source",
                "result",
                "fail_code",
                "fail_message",
                "advice",
                "charged_cents",
                "reused",
                "waiting",
                "eta",
                "created",
                "submitted_at",
                "finished_at",
            ],
            "properties": {
                "id": uuid,
                "url": {"type": "string", "description": "This job in the API."},
                "web_url": {"type": "string", "description": "This job's page on the site."},
                "state": {"type": "string", "enum": list(Job.State.values)},
                "team": _nullable("string", description="The team's code; null: Personal."),
                "submitted_by": _nullable("string"),
                "retry_of": _nullable("string", description="The job this one retried."),
                "resolution": {"type": "string", "enum": list(Job.Resolution.values)},
                "output_format": {"type": "string", "enum": list(Job.Format.values)},
                "source": {
                    "type": "object",
                    "required": ["name", "url", "width", "height", "bytes"],
                    "properties": {
                        "name": {"type": "string"},
                        "url": _nullable("string", description="null for an upload."),
                        "width": _nullable("integer"),
                        "height": _nullable("integer"),
                        "bytes": _nullable("integer"),
                    },
                },
                "result": {
                    "description": "Set once the job succeeded.",
                    "anyOf": [_ref("Result"), {"type": "null"}],
                },
                "fail_code": _nullable("string"),
                "fail_message": _nullable("string"),
                "advice": _nullable("string", description="What to do about a failure."),
                "charged_cents": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "What this job cost, in cents: its ledger entries, charges "
                    "less refunds. APIXO bills every image it accepted, so a failed job can "
                    "cost money too; one APIXO never accepted, or a reused copy, costs 0.",
                },
                "reused": {
                    "type": "boolean",
                    "description": "A copy of an earlier result of the same source, tier and "
                    "format: no APIXO task, no charge.",
                },
                "waiting": {
                    "description": "What a queued job is waiting for before its next try, "
                    "as its card in the gallery says it; null when nothing in particular.",
                    "anyOf": [_ref("Waiting"), {"type": "null"}],
                },
                "eta": _nullable(
                    "string",
                    format="date-time",
                    description="When an in-flight job should be done, learnt from this "
                    "site's recent jobs of its tier; null without enough of them, while "
                    "submissions are paused, or once the job has finished.",
                ),
                "created": when,
                "submitted_at": _nullable("string", format="date-time"),
                "finished_at": _nullable("string", format="date-time"),
            },
        },
        "Waiting": {
            "type": "object",
            "required": ["reason", "text", "next_try_at"],
            "properties": {
                "reason": {
                    "type": "string",
                    "enum": [v for v in Job.Wait.values if v],
                    "description": "busy: APIXO answered 429; error: APIXO answered 5xx; "
                    "unreachable: APIXO could not be reached; source: the source link did "
                    "not answer; paused: submissions are paused (APIXO refused our "
                    "key/balance); slot: waiting for a free submission slot.",
                },
                "text": {"type": "string", "description": "What the job's card says."},
                "next_try_at": _nullable(
                    "string",
                    format="date-time",
                    description="When the next try is due; null while waiting for a slot.",
                ),
            },
        },
        "Result": {
            "type": "object",
            "required": ["url", "file_name", "width", "height", "bytes", "made_by"],
            "properties": {
                "url": {"type": "string", "description": "Download it with your token."},
                "file_name": {"type": "string"},
                "width": _nullable("integer"),
                "height": _nullable("integer"),
                "bytes": _nullable("integer"),
                "made_by": {
                    "type": "string",
                    "description": 'What made it: "APIXO", or the embedded engine and its'
                    ' model (e.g. "Embedded engine: realesrgan-x4plus"); empty if unknown.',
                },
            },
        },
        "JobList": {
            "type": "object",
            "required": ["count", "page", "per_page", "next", "previous", "jobs"],
            "properties": {
                "count": {"type": "integer", "minimum": 0},
                "page": {"type": "integer", "minimum": 1},
                "per_page": {"type": "integer", "minimum": 1},
                "next": _nullable("string"),
                "previous": _nullable("string"),
                "jobs": {"type": "array", "items": _ref("Job")},
            },
        },
        "Submitted": {
            "type": "object",
            "required": ["batch", "jobs", "warnings"],
            "properties": {
                "batch": {**uuid, "description": "The submission's key."},
                "jobs": {"type": "array", "items": _ref("Job")},
                "warnings": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Sources the tier will not enlarge.",
                },
            },
        },
        "Submission": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "urls": {
                    "type": "array",
                    "maxItems": settings.BATCH_MAX_IMAGES,
                    "items": {"type": "string"},
                    "description": "Image links (http or https), one string each.",
                },
                "resolution": {
                    "type": "string",
                    "enum": list(Job.Resolution.values),
                    "default": "4k",
                    "description": "The long edge: 2k = 2048 px, 4k = 4096, 8k = 8192."
                    + REMEMBERED,
                },
                "output_format": {
                    "type": "string",
                    "enum": list(Job.Format.values),
                    "default": "jpg",
                    "description": "The result's format." + REMEMBERED,
                },
                "team": {**uuid, "description": "Submit to this team (you must be a member)."},
                "key": {
                    **uuid,
                    "description": "Idempotency key: sending the same key again returns the "
                    "first submission's jobs (200) instead of new ones.",
                },
                **OPTION_SCHEMAS,
            },
        },
        "WebhookEvent": {
            "type": "object",
            "required": ["id", "type", "created", "data"],
            "properties": {
                "id": {**uuid, "description": "The same in every attempt of this event."},
                "type": {"type": "string", "enum": ["job.succeeded", "job.failed", "ping"]},
                "created": {"type": "integer", "description": "Unix time."},
                "data": {
                    "type": "object",
                    "properties": {"job": _ref("Job"), "message": {"type": "string"}},
                },
            },
        },
    }


def _paths() -> dict[str, Any]:
    job_id = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    team = {
        "name": "team",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "format": "uuid"},
        "description": "A team's code: its gallery instead of your Personal one.",
    }
    multipart = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "urls": {"type": "string", "description": "Image links, one per line."},
            "images": {
                "type": "array",
                "items": {"type": "string", "format": "binary"},
                "description": "Image files (JPEG, PNG, WebP, HEIC, AVIF).",
            },
            "resolution": {"type": "string", "enum": list(Job.Resolution.values)},
            "output_format": {"type": "string", "enum": list(Job.Format.values)},
            "team": {"type": "string", "format": "uuid"},
            "key": {"type": "string", "format": "uuid"},
            **{
                name: {
                    "type": "string",
                    "enum": ["true", "false", "on", "1", "0"],
                    "description": schema["description"],
                }
                for name, schema in OPTION_SCHEMAS.items()
            },
        },
    }
    return {
        "/api/v1/jobs": {
            "get": {
                "operationId": "listJobs",
                "summary": "Your jobs (or a team's), newest first",
                "parameters": [
                    team,
                    {
                        "name": "page",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 1_000_000},
                    },
                    {
                        "name": "per_page",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 100},
                    },
                    {
                        "name": "state",
                        "in": "query",
                        "schema": {"type": "string", "enum": list(Job.State.values)},
                    },
                ],
                "responses": {
                    "200": _json(_ref("JobList"), "A page of jobs."),
                    "400": _error("A bad query parameter."),
                    "401": UNAUTHORIZED,
                    "404": NOT_FOUND,
                },
            },
            "post": {
                "operationId": "submitJobs",
                "summary": "Submit images: links (JSON or form) and/or files (multipart)",
                "description": "One job per image, $0.01 each once APIXO accepts it. A batch "
                "with any bad link or file is refused whole, with the web form's messages.",
                "parameters": [team],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": _ref("Submission"),
                            "example": {
                                "urls": ["https://images.example.com/photo.jpg"],
                                "resolution": "4k",
                                "output_format": "webp",
                            },
                        },
                        "multipart/form-data": {"schema": multipart},
                    },
                },
                "responses": {
                    "201": _json(_ref("Submitted"), "Submitted: the new jobs, queued."),
                    "200": _json(_ref("Submitted"), "This key was sent before: its jobs."),
                    "400": _error("A bad link or file, or a malformed request."),
                    "401": UNAUTHORIZED,
                    "402": _error("Over the quota or the team's budget; nothing was submitted."),
                    "403": _error("Viewers can't submit to the team."),
                    "404": NOT_FOUND,
                    "413": _error("The request is too large."),
                    "415": _error("Neither JSON nor a form."),
                    "429": _error(
                        "Too many submissions this minute (shared with the web form).",
                        headers={"Retry-After": {"schema": {"type": "string"}}},
                    ),
                },
            },
        },
        "/api/v1/jobs/{id}": {
            "get": {
                "operationId": "getJob",
                "summary": "One job",
                "parameters": [job_id],
                "responses": {
                    "200": _json(_ref("Job"), "The job."),
                    "401": UNAUTHORIZED,
                    "404": NOT_FOUND,
                },
            }
        },
        "/api/v1/jobs/{id}/result": {
            "get": {
                "operationId": "getJobResult",
                "summary": "Download a finished job's image",
                "parameters": [job_id],
                "responses": {
                    "200": {
                        "description": "The upscaled image, as an attachment.",
                        "content": {
                            f"image/{kind}": {"schema": {"type": "string", "format": "binary"}}
                            for kind in ("jpeg", "png", "webp")
                        },
                    },
                    "401": UNAUTHORIZED,
                    "404": _error("No such job, or it has no result (yet)."),
                },
            }
        },
        "/api/v1/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document",
                "security": [],
                "responses": {"200": _json({"type": "object"}, "The OpenAPI document.")},
            }
        },
    }


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"{settings.SITE_NAME} API",
            "version": "1",
            "description": "Upscale images from scripts. Authenticate with a personal API "
            "token (Authorization: Bearer <token>), created on your account page. Errors "
            'are `{"errors": {"<field>": ["message"]}}`.',
        },
        "servers": [{"url": settings.SITE_URL}],
        "security": [{"token": []}],
        "paths": _paths(),
        "webhooks": {
            "jobFinished": {
                "post": {
                    "summary": "A job you submitted succeeded or failed",
                    "description": "Sent to your webhook URL (account page, API tokens). "
                    "Verify `Upscaler-Signature: t=<unix>,v1=<hex>`: the hex HMAC-SHA256, "
                    "keyed with your webhook secret, of `<t>.<raw body>`. Any 2xx answer "
                    "counts as delivered; anything else is retried with backoff.",
                    "parameters": [
                        {
                            "name": name,
                            "in": "header",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                        for name in ("Upscaler-Signature", "Upscaler-Event", "Upscaler-Delivery")
                    ],
                    "requestBody": {
                        "content": {"application/json": {"schema": _ref("WebhookEvent")}}
                    },
                    "responses": {"200": {"description": "Delivered."}},
                }
            }
        },
        "components": {
            "securitySchemes": {
                "token": {"type": "http", "scheme": "bearer", "description": "ups_..."}
            },
            "schemas": _schemas(),
        },
    }
