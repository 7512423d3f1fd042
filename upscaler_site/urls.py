"""Each app's routes, in the order they were matched before the split (no two overlap)."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from accounts.views import Login, PasswordResetConfirm

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("jobs.urls")),
    path("", include("api.urls")),
    # Before Django's own, which they replace: the login page knows about email
    # verification, and a reset also lifts login pauses.
    path("accounts/login/", Login.as_view(), name="login"),
    path(
        "accounts/reset/<uidb64>/<token>/",
        PasswordResetConfirm.as_view(),
        name="password_reset_confirm",
    ),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("teams.urls")),
    path("", include("spend.urls")),
    path("", include("accounts.urls")),
]
