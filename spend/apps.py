from __future__ import annotations

from django.apps import AppConfig


class SpendConfig(AppConfig):
    name = "spend"
