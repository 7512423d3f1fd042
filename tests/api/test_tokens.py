"""The tokens page: create, show once, revoke; and the webhook URL's settings."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from django.test import Client

from api import outgoing
from api.models import ApiToken, WebhookEndpoint

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(30)]


@pytest.fixture
def pings(monkeypatch: pytest.MonkeyPatch) -> list[WebhookEndpoint]:
    sent: list[WebhookEndpoint] = []
    monkeypatch.setattr(outgoing, "send_ping", sent.append)
    return sent


def _create(client: Client, name: str = "backup script") -> str:
    r = client.post("/accounts/tokens/", {"name": name})
    assert r.status_code == 201
    return str(r.context["new_token"])


def test_it_works(alice_client: Client) -> None:
    r = alice_client.get("/accounts/tokens/")
    assert r.status_code == 200
    assert b"No tokens yet." in r.content
    assert r["Cache-Control"] == "no-store"


def test_it_requires_login(client: Client) -> None:
    r = client.get("/accounts/tokens/")
    assert r.status_code == 302
    assert r["Location"].startswith("/accounts/login/")


def test_the_account_page_links_to_it(alice_client: Client) -> None:
    assert b'href="/accounts/tokens/"' in alice_client.get("/accounts/account/").content


def test_it_creates_a_token_and_shows_it_once(alice_client: Client, alice: Any) -> None:
    raw = _create(alice_client)
    assert raw.startswith("ups_") and len(raw) > 40
    token = ApiToken.objects.get(user=alice)
    assert token.name == "backup script"
    assert token.prefix == raw[:8]
    # Only a hash is stored: the secret is in no column.
    assert token.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    values = ApiToken.objects.filter(pk=token.pk).values().get()
    assert raw not in [str(v) for v in values.values()]
    page = alice_client.get("/accounts/tokens/").content.decode()
    assert raw not in page
    assert f"{raw[:8]}…" in page and "never" in page


def test_the_new_token_works_on_the_api(alice_client: Client) -> None:
    raw = _create(alice_client)
    r = Client().get("/api/v1/jobs", headers={"Authorization": f"Bearer {raw}"})
    assert r.status_code == 200
    page = alice_client.get("/accounts/tokens/").content.decode()
    assert "never" not in page  # last used: now


def test_it_requires_a_name(alice_client: Client, alice: Any) -> None:
    r = alice_client.post("/accounts/tokens/", {"name": ""})
    assert r.status_code == 400
    assert b"This field is required." in r.content
    assert not ApiToken.objects.exists()


def test_it_revokes_a_token(alice_client: Client, alice: Any) -> None:
    raw = _create(alice_client)
    token = ApiToken.objects.get(user=alice)
    r = alice_client.post(f"/accounts/tokens/{token.code}/revoke/", follow=True)
    assert b"is revoked" in r.content
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert (
        Client().get("/api/v1/jobs", headers={"Authorization": f"Bearer {raw}"}).status_code == 401
    )


def test_it_rejects_outsider(alice_client: Client, charlie: Any) -> None:
    token, raw = ApiToken.issue(charlie, "charlie's")
    r = alice_client.post(f"/accounts/tokens/{token.code}/revoke/")
    assert r.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None
    assert raw[:8] not in alice_client.get("/accounts/tokens/").content.decode()


def test_revoke_is_post_only(alice_client: Client, alice: Any) -> None:
    token, _ = ApiToken.issue(alice, "x")
    assert alice_client.get(f"/accounts/tokens/{token.code}/revoke/").status_code == 405


def test_deleting_the_account_deletes_its_tokens(alice_client: Client, alice: Any) -> None:
    _create(alice_client)
    WebhookEndpoint.objects.create(user=alice, url="https://hooks.example.com/")
    alice_client.post("/accounts/account/", {"password": "password"})
    assert not ApiToken.objects.exists()
    assert not WebhookEndpoint.objects.exists()


# --- the webhook URL ----------------------------------------------------------------------


def test_it_sets_the_webhook_url(alice_client: Client, alice: Any, public_dns: None) -> None:
    r = alice_client.post("/accounts/webhook/", {"url": "https://hooks.example.com/upscaler"})
    assert r.status_code == 302
    endpoint = WebhookEndpoint.objects.get(user=alice)
    assert endpoint.url == "https://hooks.example.com/upscaler"
    assert endpoint.active and endpoint.secret.startswith("whsec_")
    page = alice_client.get("/accounts/tokens/").content.decode()
    assert endpoint.secret in page and "Nothing sent yet." in page
    # Changing the URL keeps the secret.
    alice_client.post("/accounts/webhook/", {"url": "https://hooks.example.com/v2"})
    assert WebhookEndpoint.objects.get(user=alice).secret == endpoint.secret


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:9000/hook", "private or local network"),
        ("http://10.1.2.3/hook", "private or local network"),
        ("http://169.254.169.254/latest", "private or local network"),
        ("ftp://hooks.example.com/", "Only http:// and https:// links"),
        ("not a url", "Enter a valid URL."),
    ],
)
def test_it_refuses_private_or_bad_webhook_urls(
    alice_client: Client, public_dns: None, url: str, message: str
) -> None:
    r = alice_client.post("/accounts/webhook/", {"url": url})
    assert r.status_code == 400
    assert message in r.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_it_tests_pauses_rotates_and_removes(
    alice_client: Client, alice: Any, pings: list[WebhookEndpoint]
) -> None:
    endpoint = WebhookEndpoint.objects.create(user=alice, url="https://hooks.example.com/")
    old_secret = endpoint.secret

    alice_client.post("/accounts/webhook/", {"action": "test"})
    assert [e.pk for e in pings] == [endpoint.pk]

    alice_client.post("/accounts/webhook/", {"action": "toggle"})
    endpoint.refresh_from_db()
    assert not endpoint.active
    assert b"Resume" in alice_client.get("/accounts/tokens/").content
    alice_client.post("/accounts/webhook/", {"action": "toggle"})
    endpoint.refresh_from_db()
    assert endpoint.active

    alice_client.post("/accounts/webhook/", {"action": "rotate"})
    endpoint.refresh_from_db()
    assert endpoint.secret != old_secret and endpoint.secret.startswith("whsec_")

    alice_client.post("/accounts/webhook/", {"action": "delete"})
    assert not WebhookEndpoint.objects.exists()


def test_actions_need_a_webhook_first(alice_client: Client, pings: list[Any]) -> None:
    r = alice_client.post("/accounts/webhook/", {"action": "test"}, follow=True)
    assert b"Set a webhook URL first." in r.content
    assert pings == []


def test_one_users_actions_never_touch_anothers_webhook(alice_client: Client, charlie: Any) -> None:
    endpoint = WebhookEndpoint.objects.create(user=charlie, url="https://hooks.example.com/")
    alice_client.post("/accounts/webhook/", {"action": "delete"})
    alice_client.post("/accounts/webhook/", {"action": "rotate"})
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).secret == endpoint.secret
