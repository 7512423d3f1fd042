"""Development comfort: emails a person can click (printed, and on /dev/emails/ for staff)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import django_rq
import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from jobs import dev
from tests.conftest import make_user
from tests.test_deploy import ROOT, clean_env

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(60)]

DEV_MAIL = {"default": {"BACKEND": "jobs.dev.ConsoleEmailBackend"}}


@pytest.fixture(autouse=True)
def _no_noted_emails() -> Iterator[None]:
    django_rq.get_connection("default").delete(dev.EMAILS_KEY)
    yield
    django_rq.get_connection("default").delete(dev.EMAILS_KEY)


@pytest.fixture
def development(settings: Any) -> Any:
    """DEBUG on, with the development email backend (the test run's default is locmem)."""
    settings.DEBUG = True
    settings.MAILERS = DEV_MAIL
    return settings


@pytest.fixture
def staff_client(db: None) -> Client:
    root = make_user("root")
    root.is_staff = True
    root.save()
    client = Client()
    client.force_login(root)
    return client


def _reset(client: Client, user: User) -> None:
    r = client.post(reverse("password_reset"), {"email": user.email})
    assert r.status_code == 302


# --- the console email ------------------------------------------------------------------


def test_the_printed_reset_link_is_whole_and_works(
    development: Any, alice: User, capsys: pytest.CaptureFixture[str]
) -> None:
    _reset(Client(), alice)
    printed = capsys.readouterr().out

    assert "quoted-printable" not in printed and "=\n" not in printed
    assert "To: alice@example.org" in printed
    links = re.findall(r"^http://testserver(/accounts/reset/\S+)$", printed, re.MULTILINE)
    assert len(links) == 1
    # The link as a person copies it from the terminal leads to the new-password form.
    r = Client().get(links[0], follow=True)
    assert "invalid" not in r.content.decode()
    assert "new_password1" in r.content.decode()


def test_it_prints_the_text_as_written(
    development: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from django.core.mail import send_mail

    long_line = "You’ve been invited: " + "https://example.org/invite/" + "x" * 120
    send_mail("Hello", long_line, None, ["bob@example.org"])

    assert long_line in capsys.readouterr().out.splitlines()


# --- /dev/emails/ -------------------------------------------------------------------------


def test_it_lists_a_reset_link_for_staff(
    development: Any, alice: User, staff_client: Client
) -> None:
    _reset(Client(), alice)

    page = staff_client.get(reverse("dev_emails")).content.decode()

    assert "Password reset on testserver" in page
    assert re.search(r'<a href="http://testserver/accounts/reset/[^"]+/">', page)


def test_it_lists_an_invitation_link(
    development: Any, alice: User, staff_client: Client, alice_client: Client
) -> None:
    from tests.conftest import make_team

    team = make_team(alice)
    r = alice_client.post(
        reverse("team_invite", args=[team.code]), {"email": "new@example.org", "role": "member"}
    )
    assert r.status_code == 302

    page = staff_client.get(reverse("dev_emails")).content.decode()

    assert "invited to Acme" in page
    assert re.search(rf'<a href="{re.escape(development.SITE_URL)}/invite/[^"]+/">', page)


def test_it_lists_emails_other_processes_sent(development: Any, staff_client: Client) -> None:
    """The worker sends batch and spend emails: the page shows what any process printed."""
    import os

    env = clean_env(REDIS_URL=os.environ["REDIS_URL"], SQLITE_PATH="/nonexistent/db.sqlite3")
    sent = subprocess.run(
        [sys.executable, "manage.py", "sendtestemail", "ops@example.org"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert sent.returncode == 0, sent.stderr
    assert "To: ops@example.org" in sent.stdout

    page = staff_client.get(reverse("dev_emails")).content.decode()

    assert "Test email from" in page and "ops@example.org" in page


def test_it_requires_login(development: Any) -> None:
    r = Client().get(reverse("dev_emails"))
    assert r.status_code == 302 and "/accounts/login/" in r["Location"]


def test_it_is_404_for_non_staff(development: Any, alice: User, alice_client: Client) -> None:
    _reset(Client(), alice)
    assert alice_client.get(reverse("dev_emails")).status_code == 404


def test_it_is_404_when_debug_is_off(development: Any, alice: User, staff_client: Client) -> None:
    _reset(Client(), alice)
    development.DEBUG = False
    assert staff_client.get(reverse("dev_emails")).status_code == 404


def test_it_keeps_no_copy_when_debug_is_off(
    development: Any, alice: User, staff_client: Client
) -> None:
    development.DEBUG = False
    _reset(Client(), alice)
    development.DEBUG = True
    assert "No email sent yet" in staff_client.get(reverse("dev_emails")).content.decode()


def test_it_keeps_the_last_twenty(development: Any, staff_client: Client) -> None:
    from django.core.mail import send_mail

    for n in range(dev.EMAILS_KEPT + 3):
        send_mail(f"Message {n}", "body", None, ["x@example.org"])

    emails = staff_client.get(reverse("dev_emails")).context["emails"]

    assert [e["subject"] for e in emails] == [
        f"Message {n}" for n in range(dev.EMAILS_KEPT + 2, 2, -1)
    ]
