"""Failed tasks: injected fail codes, bad sources, unreachable sources and the SSRF guard."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from apixo_engine.knobs import FAIL_MESSAGES

from .conftest import EngineFactory
from .support import Client, RecordingServer

pytestmark = pytest.mark.timeout(20)


def assert_failed(data: dict[str, object], code: str, message_part: str) -> None:
    assert data["state"] == "failed", data
    assert data["failCode"] == code
    assert message_part in str(data["failMsg"])
    assert data["resultJson"] is None
    assert isinstance(data["completeTime"], int) and isinstance(data["costTime"], int)


@pytest.mark.parametrize("code", sorted(FAIL_MESSAGES))
def test_it_fails_with_each_injected_fail_code(
    client: Client, source: RecordingServer, code: str
) -> None:
    data = client.wait(client.create(source.url(f"/photo.jpg?engine_fail={quote(code)}")))

    assert_failed(data, code, FAIL_MESSAGES[code])


def test_it_fails_without_fetching_when_a_fail_code_is_injected(
    trap: RecordingServer, make_engine: EngineFactory
) -> None:
    client = Client(make_engine(allowed_hosts=frozenset({trap.netloc})).url)

    data = client.wait(client.create(trap.url("/photo.jpg?engine_fail=SensitiveContent")))

    assert_failed(data, "SensitiveContent", "safety checks")
    assert trap.hits == []


def test_it_uses_an_unknown_fail_code_as_is(client: Client, source: RecordingServer) -> None:
    data = client.wait(client.create(source.url("/photo.jpg?engine_fail=QuotaExploded")))

    assert_failed(data, "QuotaExploded", "QuotaExploded")


def test_it_fails_every_task_with_the_env_default_fail_code(
    make_engine: EngineFactory, source: RecordingServer
) -> None:
    client = Client(make_engine(fail_code="RateLimited").url)

    data = client.wait(client.create(source.url("/photo.jpg")))

    assert_failed(data, "RateLimited", "rate limit")


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/anim.gif", "Not a JPG, PNG or WebP image."),
        ("/notes.txt", "Not a JPG, PNG or WebP image."),
        ("/truncated.jpg", "The image could not be decoded"),
        ("/missing.jpg", "The image could not be downloaded: the source server answered HTTP 404"),
        ("/huge", "larger than 10 MB"),
        ("/huge-unsized", "larger than 10 MB"),
    ],
)
def test_it_rejects_a_bad_source_as_image_format_incorrect(
    client: Client, source: RecordingServer, path: str, message: str
) -> None:
    data = client.wait(client.create(source.url(path)))

    assert_failed(data, "ImageFormatIncorrect", message)


def test_it_fails_for_an_unreachable_source(client: Client, closed_netloc: str) -> None:
    data = client.wait(client.create(f"http://{closed_netloc}/photo.jpg"))

    assert_failed(data, "ImageFormatIncorrect", "The image could not be downloaded")


@pytest.mark.parametrize("url", ["ftp://example.com/x.jpg", "not a url", "http:///x.jpg"])
def test_it_fails_for_a_source_that_is_not_an_http_url(client: Client, url: str) -> None:
    data = client.wait(client.create(url))

    assert_failed(data, "ImageFormatIncorrect", "The image could not be downloaded")


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/x.jpg",
        "http://192.168.1.1:8080/x.jpg",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:9/x.jpg",
        "http://0.0.0.0:9/x.jpg",
        "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/",
        "http://[::ffff:a9fe:a9fe]/latest/meta-data/",
    ],
)
def test_it_refuses_a_private_source_address(client: Client, url: str) -> None:
    data = client.wait(client.create(url))

    assert_failed(data, "ImageFormatIncorrect", "not on the engine's allow-list")


def test_it_refuses_a_loopback_port_that_is_not_allowed(
    client: Client, trap: RecordingServer
) -> None:
    data = client.wait(client.create(trap.url("/photo.jpg")))

    assert_failed(data, "ImageFormatIncorrect", "not on the engine's allow-list")
    assert trap.hits == []


def test_it_refuses_localhost_by_name(client: Client, trap: RecordingServer) -> None:
    port = trap.netloc.rsplit(":", 1)[1]

    data = client.wait(client.create(f"http://localhost:{port}/photo.jpg"))

    assert_failed(
        data, "ImageFormatIncorrect", "resolves to 127.0.0.1, which is not a public address"
    )
    assert trap.hits == []


def test_it_rechecks_every_redirect(
    client: Client, source: RecordingServer, trap: RecordingServer
) -> None:
    data = client.wait(client.create(source.url(f"/redirect?to={trap.url('/photo.jpg')}")))

    assert_failed(data, "ImageFormatIncorrect", "not on the engine's allow-list")
    assert trap.hits == []


def test_it_refuses_a_redirect_from_another_host_to_an_allowed_private_one(
    make_engine: EngineFactory, source: RecordingServer, trap: RecordingServer
) -> None:
    # trap stands for the app (allow-listed so the engine can fetch its signed uploads):
    # a URL the client sends may reach it, a stranger's redirect may not (the app's /healthz).
    client = Client(make_engine(allowed_hosts=frozenset({source.netloc, trap.netloc})).url)

    bounced = client.wait(client.create(source.url(f"/redirect?to={trap.url('/healthz')}")))

    assert_failed(bounced, "ImageFormatIncorrect", "not on the engine's allow-list")
    assert trap.hits == []
    assert client.wait(client.create(trap.url("/photo.jpg")))["state"] == "success"


def test_it_follows_an_allowed_redirect(client: Client, source: RecordingServer) -> None:
    data = client.wait(client.create(source.url("/redirect?to=/photo.jpg")))

    assert data["state"] == "success", data


def test_it_follows_at_most_three_redirects(client: Client, source: RecordingServer) -> None:
    three = "/photo.jpg"
    for _ in range(3):
        three = f"/redirect?to={quote(three, safe='')}"
    four = f"/redirect?to={quote(three, safe='')}"

    ok = client.wait(client.create(source.url(three)))
    too_many = client.wait(client.create(source.url(four)))

    assert ok["state"] == "success", ok
    assert_failed(too_many, "ImageFormatIncorrect", "too many redirects")


def test_it_fails_only_the_first_n_tasks_of_a_url_with_fail_times(
    client: Client, source: RecordingServer
) -> None:
    url = source.url("/photo.jpg?engine_fail=Timeout&engine_fail_times=1")

    first = client.wait(client.create(url))
    second = client.wait(client.create(url))

    assert_failed(first, "Timeout", "did not finish")
    assert second["state"] == "success", second
