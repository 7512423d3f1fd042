"""Routes of the accounts policy: sign-up, email verification and the account page."""

from __future__ import annotations

from django.urls import path

from accounts import views

urlpatterns = [
    path("accounts/signup/", views.signup, name="signup"),
    path("accounts/verify/", views.verify_resend, name="verify_resend"),
    path("accounts/verify/<str:token>/", views.verify_email, name="verify_email"),
    path("accounts/account/", views.account, name="account"),
]
