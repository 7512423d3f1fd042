"""Emails: a plain-text template rendered and sent from DEFAULT_FROM_EMAIL."""

from __future__ import annotations

from typing import Any

from django.core.mail import send_mail
from django.template.loader import render_to_string


def send(subject: str, template: str, context: dict[str, Any], to: list[str]) -> None:
    """Render template with context as the body and send it to every address in to."""
    send_mail(subject, render_to_string(template, context), None, to)
