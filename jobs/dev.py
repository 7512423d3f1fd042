"""Development comforts: a terminal log a person can follow, and emails a person can click.

- `QuietDevelopmentLog` drops the routine lines `make run` would otherwise print every few
  seconds (settings.LOGGING uses it when DEBUG is on).
- `ConsoleEmailBackend` prints each email as plain text (the default backend in
  development): Django's console backend prints the MIME message, whose quoted-printable
  body wraps a long link across two lines, so the first half leads nowhere.
- It also keeps the last emails in Redis, for the staff page /dev/emails/: the web process
  sends resets, invitations and verifications, the worker sends batch and spend emails, and
  the page shows them all.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import django_rq
from django.conf import settings
from django.core.mail import EmailMessage
from django.core.mail.backends.console import EmailBackend as DjangoConsoleBackend
from django.utils import timezone

logger = logging.getLogger(__name__)

# Requests as runserver logs them: the gallery's live poll (jobs.urls "gallery_poll") and
# the static files each page loads.
ROUTINE_REQUESTS = ('"GET /gallery/poll/', '"GET /static/')
EMAILS_KEY = "upscaler:dev:emails"
EMAILS_KEPT = 20
EMAILS_TTL = 24 * 3600
LINK = re.compile(r"https?://[^\s<>\"']+")


class QuietDevelopmentLog(logging.Filter):
    """Drop RQ's lines about each job it runs (ours say what changed: jobs.models logs every
    state change), runserver's lines for each live poll and static file, and django-axes'
    four lines about each good login. Warnings and errors all pass (a 404 or a lockout is a
    warning)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        if record.name.split(".", 1)[0] in ("rq", "axes"):
            return False
        return not (
            record.name == "django.server" and record.getMessage().startswith(ROUTINE_REQUESTS)
        )


def readable(message: EmailMessage) -> str:
    """The email as a person reads it: a few headers, then the plain-text body as written
    (no transfer encoding, no wrapped lines)."""
    headers = [
        ("From", message.from_email or settings.DEFAULT_FROM_EMAIL),
        ("To", ", ".join(message.to)),
        ("Cc", ", ".join(message.cc)),
        ("Subject", message.subject),
    ]
    lines = [f"{name}: {value}" for name, value in headers if value]
    lines += [f"Attachment: {_attachment_name(a)}" for a in message.attachments]
    return "\n".join(lines) + "\n\n" + str(message.body).strip() + "\n"


def _attachment_name(attachment: Any) -> str:
    name = getattr(attachment, "filename", None) or getattr(attachment, "get_filename", None)
    if callable(name):
        name = name()
    return str(name or "(unnamed)")


class ConsoleEmailBackend(DjangoConsoleBackend):
    """Print each email as plain text, and note it for /dev/emails/ (in DEBUG only)."""

    def write_message(self, message: EmailMessage) -> None:
        self.stream.write("\n" + readable(message))
        self.stream.write("-" * 79 + "\n")
        if settings.DEBUG:
            remember(message)


def remember(message: EmailMessage) -> None:
    """Keep the email among the last EMAILS_KEPT, for every process to see. A lost note
    (Redis down) costs only the page's copy: the email was printed all the same."""
    entry = {
        "sent": timezone.now().isoformat(),
        "to": ", ".join(message.to),
        "subject": message.subject,
        "body": str(message.body),
    }
    try:
        redis = django_rq.get_connection("default")
        with redis.pipeline() as pipe:
            pipe.lpush(EMAILS_KEY, json.dumps(entry))
            pipe.ltrim(EMAILS_KEY, 0, EMAILS_KEPT - 1)
            pipe.expire(EMAILS_KEY, EMAILS_TTL)
            pipe.execute()
    except Exception:
        logger.warning("Email to %s not noted for /dev/emails/ (Redis unreachable)", entry["to"])


def recent_emails() -> list[dict[str, Any]]:
    """The last emails sent, newest first, each with the links in its body."""
    raw = django_rq.get_connection("default").lrange(EMAILS_KEY, 0, -1)
    emails: list[dict[str, Any]] = [json.loads(item) for item in raw]
    for email in emails:
        email["links"] = LINK.findall(email["body"])
    return emails
