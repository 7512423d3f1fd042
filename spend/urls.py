"""Routes of the admin spend review."""

from __future__ import annotations

from django.urls import path

from spend import views

urlpatterns = [
    path("spend/", views.spend_page, name="spend"),
    path("spend/ledger.csv", views.spend_csv, name="spend_csv"),
    path("spend/refund/", views.spend_refund, name="spend_refund"),
    path("spend/quota/", views.spend_quota, name="spend_quota"),
]
