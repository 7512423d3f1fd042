"""Routes of the JSON API (/api/v1/) and of the account's tokens page."""

from __future__ import annotations

from django.urls import path

from api import tokens, views

urlpatterns = [
    path("api/v1/jobs", views.jobs_collection, name="api_jobs"),
    # <str:code>, not <uuid:code>: a malformed id gets the API's JSON 404, not an HTML page.
    path("api/v1/jobs/<str:code>", views.job_detail, name="api_job"),
    path("api/v1/jobs/<str:code>/result", views.job_result, name="api_job_result"),
    path("api/v1/openapi.json", views.openapi, name="api_openapi"),
    path("accounts/tokens/", tokens.tokens, name="api_tokens"),
    path("accounts/tokens/<uuid:code>/revoke/", tokens.token_revoke, name="api_token_revoke"),
    path("accounts/webhook/", tokens.webhook, name="api_webhook"),
]
