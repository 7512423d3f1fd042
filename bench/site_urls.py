"""The app's URLs plus the alternatives the benchmarks compare it with (bench only)."""

from __future__ import annotations

from django.urls import include, path

from bench import site_views

urlpatterns = [
    path("bench/bare204/", site_views.bare_204, name="bench_bare_204"),
    path("bench/card/<uuid:code>/", site_views.card_poll, name="bench_card_poll"),
    path("bench/poll-exists/", site_views.poll_exists, name="bench_poll_exists"),
    path("bench/gallery-naive/", site_views.gallery_naive, name="bench_gallery_naive"),
    path("", include("upscaler_site.urls")),
]
