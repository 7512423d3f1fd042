"""Tests for lib/fetch.py, the SSRF-safe downloader.

None of these tests touch the database. None looks up a host name either: the autouse
`no_dns` fixture turns any name lookup into a test failure, so refusals are proven by the
checks, and downloads go to the local server or to `responses`.
"""

from __future__ import annotations

import io
import logging
import shutil
import socket
import subprocess

import pytest
import requests
import responses

from lib import fetch
from tests.fetch_server import IMAGE, serve

pytestmark = pytest.mark.timeout(20)

MB = 1024 * 1024


@pytest.fixture(autouse=True)
def no_dns(monkeypatch):
    real_getaddrinfo = socket.getaddrinfo

    def numeric_only(host, port, family=0, type=0, proto=0, flags=0):
        try:
            return real_getaddrinfo(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)
        except socket.gaierror:
            raise AssertionError(f"the test tried to look up {host!r}") from None

    monkeypatch.setattr(socket, "getaddrinfo", numeric_only)


@pytest.fixture(scope="module")
def server_port():
    with serve() as server:
        yield server.server_port


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    """An HTTPS server whose self-signed certificate names only pinned.test."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = str(folder / "cert.pem"), str(folder / "key.pem")
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        + ["-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=pinned.test"]
        + ["-addext", "subjectAltName=DNS:pinned.test"],
        check=True,
        capture_output=True,
    )
    with serve(tls=(cert, key)) as server:
        yield server, cert


@pytest.fixture
def https_pinned(tls_server, settings, monkeypatch, resolve_to):
    """Reach the HTTPS server as pinned.test or other.test, trusting its certificate."""
    server, cert = tls_server
    port = server.server_port
    resolve_to("127.0.0.1")
    settings.FETCH_ALLOWED_HOSTS = [f"pinned.test:{port}", f"other.test:{port}"]
    monkeypatch.setattr(fetch._session, "verify", cert)
    server.server_names.clear()
    return server, port


@pytest.fixture
def base(server_port, settings):
    settings.FETCH_ALLOWED_HOSTS = [f"127.0.0.1:{server_port}"]
    return f"http://127.0.0.1:{server_port}"


@pytest.fixture
def resolve_to(monkeypatch):
    """Make every host name resolve to the given addresses, recording the lookups."""
    calls = []

    def install(*addresses):
        def fake(host, port):
            calls.append((host, port))
            return list(addresses)

        monkeypatch.setattr(fetch, "_resolve", fake)
        return calls

    return install


def _refusal(url):
    with pytest.raises(fetch.FetchError) as info:
        fetch.check_url(url)
    return info.value


def _download(url, **kwargs):
    dest = io.BytesIO()
    kwargs.setdefault("max_bytes", MB)
    got = fetch.download(url, dest, **kwargs)
    return got, dest.getvalue()


def _download_error(url, **kwargs):
    with pytest.raises(fetch.FetchError) as info:
        _download(url, **kwargs)
    return info.value


# --- check_url -------------------------------------------------------------------------


def test_it_returns_the_stripped_url(resolve_to):
    resolve_to("93.184.216.34")

    assert fetch.check_url("  https://example.com/a.jpg?x=1 \n") == "https://example.com/a.jpg?x=1"


def test_it_resolves_the_host_with_the_scheme_default_port(resolve_to):
    calls = resolve_to("93.184.216.34")

    fetch.check_url("https://Example.COM/a.jpg")

    assert calls == [("example.com", 443)]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://[::1]/",
        "http://10.1.2.3/",
        "http://172.16.0.1/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/",
        "http://0.0.0.0/",
        "http://2130706433/",
        "http://0x7f.1/",
        "http://017700000001/",
        "http://127.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:7f00:1]/",
        "http://[fc00::1]/",
        "http://[fe80::1]/",
        "http://[64:ff9b::a01:203]/",
        "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/",
        "http://[64:ff9b::169.254.169.254]/",
        "http://[2002:a9fe:a9fe::1]/",
        "http://[::169.254.169.254]/",
        "http://[::ffff:0:a9fe:a9fe]/",
        "http://[2001::5601:5601]/",
        "http://127.0.0.1./",
    ],
)
def test_it_refuses_private_and_local_addresses(url, settings):
    settings.FETCH_ALLOWED_HOSTS = []

    error = _refusal(url)

    assert error.message == fetch.PRIVATE_MESSAGE
    assert error.permanent


def test_it_refuses_an_allowed_host_on_another_port(settings):
    settings.FETCH_ALLOWED_HOSTS = ["127.0.0.1:8100"]

    assert _refusal("http://127.0.0.1:8101/").message == fetch.PRIVATE_MESSAGE


def test_it_accepts_an_allowed_host_and_port(settings):
    settings.FETCH_ALLOWED_HOSTS = ["127.0.0.1:8100"]

    assert fetch.check_url("http://127.0.0.1:8100/x.png") == "http://127.0.0.1:8100/x.png"


def test_it_matches_the_allow_list_with_the_scheme_default_port(settings):
    settings.FETCH_ALLOWED_HOSTS = ["127.0.0.1:80"]

    fetch.check_url("http://127.0.0.1/x.png")
    assert _refusal("https://127.0.0.1/x.png").message == fetch.PRIVATE_MESSAGE


def test_it_accepts_an_allowed_ipv6_host(settings):
    settings.FETCH_ALLOWED_HOSTS = ["[::1]:8100"]

    fetch.check_url("http://[::1]:8100/x.png")


def test_it_refuses_a_hostname_resolving_to_a_private_address(resolve_to):
    resolve_to("192.168.0.10")

    assert _refusal("https://intranet.example.com/").message == fetch.PRIVATE_MESSAGE


def test_it_refuses_a_hostname_with_mixed_global_and_private_addresses(resolve_to):
    resolve_to("93.184.216.34", "10.0.0.5")

    assert _refusal("https://mixed.example.com/").message == fetch.PRIVATE_MESSAGE


def test_it_refuses_a_hostname_that_does_not_resolve(monkeypatch):
    def fail(host, port):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(fetch, "_resolve", fail)

    error = _refusal("https://example.invalid/a.jpg")

    assert error.message == "The host name example.invalid could not be found."
    assert error.permanent


def test_it_marks_a_failing_resolver_transient(monkeypatch):
    def fail(host, port):
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(fetch, "_resolve", fail)

    assert not _refusal("https://example.com/a.jpg").permanent


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "gopher://x/",
        "ftp://example.com/a.jpg",
        "javascript:alert(1)",
        "data:image/png;base64,AAAA",
        "example.com/a.jpg",
    ],
)
def test_it_refuses_other_schemes(url):
    assert _refusal(url).message == "Only http:// and https:// links are supported."


@pytest.mark.parametrize(
    "url", ["http://user:pass@example.com/", "http://user@example.com/", "http://@10.0.0.1/"]
)
def test_it_refuses_userinfo(url, resolve_to):
    resolve_to("93.184.216.34")

    assert _refusal(url).message == "Links with a user name or password are not supported."


def test_it_refuses_an_over_long_url(resolve_to):
    resolve_to("93.184.216.34")
    url = "https://example.com/" + "a" * 2030

    assert "too long" in _refusal(url).message


@pytest.mark.parametrize("url", ["http:///a.jpg", "https://", "http://:80/"])
def test_it_refuses_a_url_without_a_host(url):
    assert _refusal(url).message == "This link has no host name."


def test_it_refuses_control_characters(resolve_to):
    resolve_to("93.184.216.34")

    assert "control characters" in _refusal("https://example.com/a\r\nX-Injected: 1").message


def test_it_logs_refusals_with_the_host_only(caplog, settings):
    settings.FETCH_ALLOWED_HOSTS = []

    with caplog.at_level(logging.INFO, logger="lib.fetch"):
        _refusal("http://10.0.0.1/private/path.jpg?token=s3cret")

    assert "10.0.0.1" in caplog.text
    assert "s3cret" not in caplog.text
    assert "/private/path" not in caplog.text


# --- download against the local server ------------------------------------------------


def test_it_downloads_an_image(base):
    got, body = _download(f"{base}/image.jpg")

    assert body == IMAGE
    assert got == fetch.Downloaded(
        content_type="image/jpeg", size=len(IMAGE), final_url=f"{base}/image.jpg"
    )


def test_it_sends_the_user_agent(base):
    _, body = _download(f"{base}/headers")

    assert b"User-Agent: Upscaler/1.0 (+self-hosted)\n" in body


def test_it_refuses_a_404(base):
    error = _download_error(f"{base}/status/404")

    assert error.message == "The server answered 404 Not Found."
    assert error.permanent


def test_it_marks_a_server_error_transient(base):
    error = _download_error(f"{base}/status/503")

    assert error.message == "The server answered 503 Service Unavailable."
    assert not error.permanent


def test_it_follows_three_redirects(base):
    got, body = _download(f"{base}/redirect/2")

    assert body == IMAGE
    assert got.final_url == f"{base}/image.jpg"


def test_it_refuses_a_fourth_redirect(base):
    assert _download_error(f"{base}/redirect/3").message == "Too many redirects."


def test_it_refuses_a_redirect_to_a_loopback_port_not_allowed(base, server_port):
    target = f"http://127.0.0.1:{server_port + 1}/image.jpg"

    error = _download_error(f"{base}/redirect-to?url={target}")

    assert error.message == fetch.PRIVATE_MESSAGE


def test_it_refuses_a_redirect_to_the_metadata_address(base):
    target = "http://169.254.169.254/latest/meta-data/"

    error = _download_error(f"{base}/redirect-to?url={target}")

    assert error.message == fetch.PRIVATE_MESSAGE


def test_it_refuses_a_redirect_from_elsewhere_to_an_allowed_private_host(
    base, server_port, settings, resolve_to
):
    # engine.test stands for the embedded engine: allow-listed for links we are given, but
    # another host may not bounce a download to it.
    resolve_to("127.0.0.1")
    settings.FETCH_ALLOWED_HOSTS = [f"127.0.0.1:{server_port}", f"engine.test:{server_port}"]
    target = f"http://engine.test:{server_port}/image.jpg"

    error = _download_error(f"{base}/redirect-to?url={target}")

    assert error.message == fetch.PRIVATE_MESSAGE
    assert _download(target)[1] == IMAGE


def test_it_refuses_a_redirect_to_another_scheme(base):
    error = _download_error(f"{base}/redirect-to?url=file:///etc/passwd")

    assert error.message == "Only http:// and https:// links are supported."


def test_it_refuses_a_declared_oversize_body_before_reading(base):
    dest = io.BytesIO()

    with pytest.raises(fetch.FetchError) as info:
        fetch.download(f"{base}/big?size=5000", dest, max_bytes=4999)

    assert info.value.message.startswith("The image is larger than")
    assert dest.getvalue() == b""


def test_it_formats_the_cap_in_mb(base):
    error = _download_error(f"{base}/declared?size={11 * MB}", max_bytes=10 * MB)

    assert error.message == "The image is larger than 10 MB."


def test_it_accepts_a_body_of_exactly_the_cap(base):
    got, _ = _download(f"{base}/stream?size=5000", max_bytes=5000)

    assert got.size == 5000


def test_it_stops_reading_an_undeclared_oversize_body(base):
    error = _download_error(f"{base}/stream?size={3 * MB}", max_bytes=100_000)

    assert error.message.startswith("The image is larger than")


class _HighWaterMark(io.BytesIO):
    """A destination that remembers the most it ever held, checked after every write."""

    most = 0

    def write(self, b):
        written = super().write(b)
        self.most = max(self.most, self.tell())
        return written


def test_it_never_writes_much_past_the_cap(base):
    dest = _HighWaterMark()

    with pytest.raises(fetch.FetchError):
        fetch.download(f"{base}/stream?size={3 * MB}", dest, max_bytes=100_000)

    assert 0 < dest.most <= 100_000 + fetch.CHUNK_SIZE


def test_it_times_out_waiting_for_headers(base):
    error = _download_error(f"{base}/slow-headers", timeout=0.3)

    assert error.message == "The download timed out."
    assert not error.permanent


def test_it_times_out_in_the_middle_of_the_body(base):
    assert _download_error(f"{base}/slow-body", timeout=0.3).message == "The download timed out."


def test_it_takes_the_default_timeout_from_settings(base, settings):
    settings.FETCH_TIMEOUT = 0.3

    assert _download_error(f"{base}/slow-headers").message == "The download timed out."


def test_it_reports_a_refused_connection_as_transient(settings):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # free once closed: nothing listens there
    settings.FETCH_ALLOWED_HOSTS = [f"127.0.0.1:{port}"]

    error = _download_error(f"http://127.0.0.1:{port}/image.jpg")

    assert error.message == "Could not download from 127.0.0.1."
    assert not error.permanent


# --- pinning ---------------------------------------------------------------------------


def test_it_connects_to_the_checked_address_without_a_new_lookup(server_port, settings, resolve_to):
    # pinned.test exists nowhere: the connection can only reach the server through the
    # address the check saw, and no_dns fails the test if anything looks the name up.
    calls = resolve_to("127.0.0.1")
    settings.FETCH_ALLOWED_HOSTS = [f"pinned.test:{server_port}"]

    _, body = _download(f"http://pinned.test:{server_port}/headers")

    assert f"Host: pinned.test:{server_port}\n".encode() in body
    assert calls == [("pinned.test", server_port)]


def test_it_tries_the_next_checked_address(server_port, settings, resolve_to):
    # The server listens on 127.0.0.1 only, so 127.0.0.2 refuses the connection.
    resolve_to("127.0.0.2", "127.0.0.1")
    settings.FETCH_ALLOWED_HOSTS = [f"two.test:{server_port}"]

    _, body = _download(f"http://two.test:{server_port}/image.jpg")

    assert body == IMAGE


def test_it_rechecks_the_host_of_every_hop(base, server_port, resolve_to):
    calls = resolve_to("127.0.0.1")

    _download(f"{base}/redirect/1")

    assert calls == [("127.0.0.1", server_port)] * 3


def test_it_refuses_to_connect_without_a_checked_address(base):
    with pytest.raises(requests.ConnectionError, match="No checked address is pinned"):
        fetch._session.get(f"{base}/image.jpg", timeout=5)


def test_it_verifies_https_against_the_host_name_not_the_pinned_address(https_pinned):
    server, port = https_pinned

    _, body = _download(f"https://pinned.test:{port}/image.jpg")

    assert body == IMAGE
    assert server.server_names == ["pinned.test"]


def test_it_refuses_a_certificate_for_another_host_name(https_pinned):
    _, port = https_pinned

    error = _download_error(f"https://other.test:{port}/image.jpg")

    assert error.message == "The secure connection to other.test failed."


# --- with responses --------------------------------------------------------------------


@responses.activate(assert_all_requests_are_fired=True)
def test_it_can_be_mocked_with_responses(resolve_to):
    resolve_to("93.184.216.34")
    responses.add(
        responses.GET,
        "https://cdn.example.test/out.jpg",
        body=IMAGE,
        content_type="image/jpeg",
    )

    got, body = _download("https://cdn.example.test/out.jpg")

    assert body == IMAGE
    assert got.content_type == "image/jpeg"
    assert responses.calls[0].request.headers["User-Agent"] == "Upscaler/1.0 (+self-hosted)"


@responses.activate
def test_it_refuses_a_mocked_redirect_to_a_private_address(monkeypatch):
    monkeypatch.setattr(
        fetch,
        "_resolve",
        lambda host, port: ["10.0.0.1" if host == "internal.test" else "93.184.216.34"],
    )
    responses.add(
        responses.GET,
        "https://cdn.example.test/out.jpg",
        status=302,
        headers={"Location": "http://internal.test/admin"},
    )

    error = _download_error("https://cdn.example.test/out.jpg")

    assert error.message == fetch.PRIVATE_MESSAGE
    assert len(responses.calls) == 1
