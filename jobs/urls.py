from __future__ import annotations

from django.urls import include, path

from jobs import views, views_accounts, views_batches, webhooks
from jobs.health import healthz

urlpatterns = [
    path("", views.gallery, name="gallery"),
    path("jobs/", views.submit, name="submit"),
    path("gallery/poll/", views.gallery_poll, name="gallery_poll"),
    path("jobs/<uuid:code>/", views.job_detail, name="job_detail"),
    path("jobs/<uuid:code>/cancel/", views.job_cancel, name="job_cancel"),
    path("jobs/<uuid:code>/retry/", views.job_retry, name="job_retry"),
    path("jobs/<uuid:code>/result/", views.job_file, {"kind": "result"}, name="job_result"),
    path("jobs/<uuid:code>/thumb/", views.job_file, {"kind": "thumb"}, name="job_thumb"),
    path("jobs/<uuid:code>/source/", views.job_file, {"kind": "source"}, name="job_source"),
    path("jobs/<uuid:code>/note/", views_batches.job_note, name="job_note"),
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
    path("", include("jobs.urls_api")),
    # Before Django's own, which it replaces: a reset also lifts login pauses.
    path(
        "accounts/reset/<uidb64>/<token>/",
        views_accounts.PasswordResetConfirm.as_view(),
        name="password_reset_confirm",
    ),
    path("accounts/", include("django.contrib.auth.urls")),
]
