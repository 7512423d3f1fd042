"""Sign-up, login, logout and the password pages, as the gallery's user meets them."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(30)]


def test_signup_logs_in_with_the_default_quota(client: Client) -> None:
    r = client.post(
        "/accounts/signup/",
        {
            "username": "dora",
            "email": "dora@example.org",
            "password1": "a-Long-pass-123",
            "password2": "a-Long-pass-123",
        },
        follow=True,
    )
    assert r.status_code == 200
    assert "spent $0.00 of $1.00" in r.content.decode()


def test_login_page_is_public(client: Client) -> None:
    assert client.get("/accounts/login/").status_code == 200


def test_password_reset_sends_a_link(client: Client, alice: Any, mailoutbox: list[Any]) -> None:
    r = client.post("/accounts/password_reset/", {"email": alice.email}, follow=True)
    assert r.status_code == 200
    assert "Check your email" in r.content.decode()
    assert len(mailoutbox) == 1 and "/accounts/reset/" in mailoutbox[0].body


def test_password_change_requires_login(client: Client) -> None:
    assert client.get("/accounts/password_change/").status_code == 302


def test_logout_logs_out(alice_client: Client) -> None:
    r = alice_client.post("/accounts/logout/", follow=True)
    assert "You are logged out" in r.content.decode()
    assert alice_client.get("/").status_code == 302
