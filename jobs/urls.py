"""Routes of the gallery, jobs, batches, share links, APIXO's webhook, health and the
development pages."""

from __future__ import annotations

from django.urls import path

from jobs import views, views_batches, views_dev, views_presets, views_share, webhooks
from jobs.health import healthz

urlpatterns = [
    path("", views.gallery, name="gallery"),
    path("jobs/", views.submit, name="submit"),
    path("gallery/poll/", views.gallery_poll, name="gallery_poll"),
    path("jobs/<uuid:code>/", views.job_detail, name="job_detail"),
    path("jobs/<uuid:code>/cancel/", views.job_cancel, name="job_cancel"),
    path("jobs/<uuid:code>/retry/", views.job_retry, name="job_retry"),
    path("jobs/<uuid:code>/result/", views.job_file, {"kind": "result"}, name="job_result"),
    path("jobs/<uuid:code>/preview/", views.job_file, {"kind": "preview"}, name="job_preview"),
    path("jobs/<uuid:code>/thumb/", views.job_file, {"kind": "thumb"}, name="job_thumb"),
    path("jobs/<uuid:code>/source/", views.job_file, {"kind": "source"}, name="job_source"),
    path(
        "jobs/<uuid:code>/source-preview/",
        views.job_file,
        {"kind": "source_preview"},
        name="job_source_preview",
    ),
    path("jobs/<uuid:code>/note/", views_batches.job_note, name="job_note"),
    path("presets/", views_presets.preset_save, name="preset_save"),
    path("presets/<uuid:code>/delete/", views_presets.preset_delete, name="preset_delete"),
    path("jobs/selection/", views_batches.selection, name="selection"),
    path("batches/<uuid:code>/zip/", views_batches.batch_zip, name="batch_zip"),
    path(
        "batches/<uuid:code>/retry-failed/",
        views_batches.batch_retry_failed,
        name="batch_retry_failed",
    ),
    path("s/<str:token>/", views.source_signed, name="source_signed"),
    path("webhooks/apixo/<str:secret>/", webhooks.apixo_webhook, name="apixo_webhook"),
    path("healthz", healthz, name="healthz"),
    # Share links: the only public pages of a job.
    path("jobs/<uuid:code>/share/", views_share.share_create, name="share_create"),
    path("share/<str:token>/", views_share.share_page, name="share_page"),
    path("share/<str:token>/revoke/", views_share.share_revoke, name="share_revoke"),
    path(
        "share/<str:token>/result/",
        views_share.share_file,
        {"kind": "result"},
        name="share_result",
    ),
    path(
        "share/<str:token>/preview/",
        views_share.share_file,
        {"kind": "preview"},
        name="share_preview",
    ),
    path(
        "share/<str:token>/source/",
        views_share.share_file,
        {"kind": "source"},
        name="share_source",
    ),
    path(
        "share/<str:token>/source-preview/",
        views_share.share_file,
        {"kind": "source_preview"},
        name="share_source_preview",
    ),
    # Development only (DEBUG and staff; 404 otherwise).
    path("dev/emails/", views_dev.dev_emails, name="dev_emails"),
]
