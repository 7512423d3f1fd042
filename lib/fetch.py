"""The SSRF-safe downloader for source and result images.

Together with jobs/apixo.py, this is the only module that makes HTTP requests. Every URL,
and every redirect hop, must resolve only to global addresses (or be a host:port listed in
settings.FETCH_ALLOWED_HOSTS). The connection then goes to one of the addresses that were
checked rather than to a fresh lookup, so DNS rebinding cannot swap in a private address
between the check and the connect.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import sys
from contextvars import ContextVar
from dataclasses import dataclass
from http import HTTPStatus
from http.cookiejar import DefaultCookiePolicy
from typing import IO, Any
from urllib.parse import urljoin, urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ReadTimeoutError
from urllib3.util import connection as urllib3_connection
from urllib3.util import parse_url

logger = logging.getLogger(__name__)

USER_AGENT = "Upscaler/1.0 (+self-hosted)"
MAX_URL_LENGTH = 2048
MAX_REDIRECTS = 3
CHUNK_SIZE = 64 * 1024

_DEFAULT_PORTS = {"http": 80, "https": 443}
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Worth retrying later: the server may recover. Any other non-200 answer will not change.
_TRANSIENT_STATUSES = frozenset({408, 425, 429})
# A NAT64 gateway turns 64:ff9b::a.b.c.d into a.b.c.d, so the IPv6 form is only as global
# as the IPv4 address it carries; so do the IPv4-compatible (::a.b.c.d, deprecated) and
# IPv4-translated (::ffff:0:a.b.c.d) forms, which Python also calls global.
_EMBEDS_IPV4 = tuple(
    ipaddress.IPv6Network(net) for net in ("64:ff9b::/96", "::/96", "::ffff:0:0:0/96")
)

PRIVATE_MESSAGE = "This link points to a private or local network address, which is not allowed."


class FetchError(Exception):
    """A download that failed, with a message fit to show the user.

    `permanent` is False when trying again later may succeed (timeouts, connection
    failures, 5xx); callers retry only those.
    """

    def __init__(self, message: str, *, permanent: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent


@dataclass(frozen=True)
class Downloaded:
    content_type: str  # from the response header, lower-cased, params stripped ("" if none)
    size: int  # bytes written
    final_url: str  # after redirects


@dataclass(frozen=True)
class _Target:
    """A URL that passed the checks, with the addresses a connection to it may use."""

    url: str  # as requests will send it (IDNA host, re-quoted path)
    host: str  # normalised as _normalise_host does, to compare with urllib3's host
    port: int
    addresses: tuple[str, ...]


# The target of the request in flight in this thread. Connections read it when they open
# a socket, since requests offers no per-request way to hand data to urllib3's connections.
_pinned: ContextVar[_Target | None] = ContextVar("fetch_pinned", default=None)


def _resolve(host: str, port: int) -> list[str]:
    """Return every address host resolves to, deduplicated, in resolver order.

    Raise OSError (socket.gaierror) if it does not resolve. Tests replace this function.
    """
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _is_global(address: str) -> bool:
    """Return True if address is a global unicast address, including any IPv4 inside it."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if not ip.is_global:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = [ip.ipv4_mapped, ip.sixtofour, *(ip.teredo or ())]
        if any(ip in net for net in _EMBEDS_IPV4):
            embedded.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        return all(v4.is_global for v4 in embedded if v4 is not None)
    return True


def _normalise_host(host: str) -> str:
    # urllib3 strips IPv6 brackets and a trailing FQDN dot from its connections' hosts;
    # the pin must compare equal to those.
    return host.strip("[]").rstrip(".").lower()


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _is_allow_listed(host: str, port: int) -> bool:
    allowed = {entry.strip().lower() for entry in settings.FETCH_ALLOWED_HOSTS}
    return _host_port(host, port) in allowed


def _fail(host: str, message: str, *, permanent: bool = True) -> FetchError:
    """Log a refused or failed fetch and return the FetchError to raise."""
    # Only the host: the path and query of a user's link may carry access tokens.
    logger.info("Fetch from %s failed: %s", host or "(no host)", message)
    return FetchError(message, permanent=permanent)


def _check(url: str, *, redirected_from: _Target | None = None) -> _Target:
    """Return the target for url, or raise FetchError saying why it may not be fetched.

    A redirect may reach an allow-listed private host:port only from that same host:port:
    the allow-list trusts the links we are given, not where a stranger's server points.
    """
    url = url.strip()
    if not url:
        raise _fail("", "The link is empty.")
    if len(url) > MAX_URL_LENGTH:
        raise _fail("", f"This link is too long (over {MAX_URL_LENGTH} characters).")
    if any(ord(c) < 32 or ord(c) == 127 for c in url):
        raise _fail("", "This link contains control characters.")
    parts = urlsplit(url)
    if parts.scheme.lower() not in _DEFAULT_PORTS:
        raise _fail("", "Only http:// and https:// links are supported.")
    shown_host = parts.hostname or ""
    if "@" in parts.netloc:
        raise _fail(shown_host, "Links with a user name or password are not supported.")
    if not shown_host:
        raise _fail("", "This link has no host name.")

    # Take the host and port exactly as requests and urllib3 will see them (IDNA-encoded,
    # lower-cased), so the check, the allow-list and the pin all agree with the connection.
    try:
        prepared = requests.PreparedRequest()
        prepared.prepare_url(url, None)
        parsed = parse_url(prepared.url or "")
    except (requests.RequestException, ValueError, UnicodeError):
        raise _fail(shown_host, "This link is not a valid web address.") from None
    host = _normalise_host(parsed.host or "")
    if not host or not prepared.url:
        raise _fail("", "This link has no host name.")
    port = parsed.port or _DEFAULT_PORTS[parsed.scheme or "http"]

    try:
        addresses = _resolve(host, port)
    except (OSError, UnicodeError) as e:
        # EAI_AGAIN is the resolver failing, not the name being unknown: try again later.
        transient = isinstance(e, socket.gaierror) and e.errno == socket.EAI_AGAIN
        raise _fail(
            shown_host,
            f"The host name {shown_host} could not be found.",
            permanent=not transient,
        ) from None
    if not addresses:
        raise _fail(shown_host, f"The host name {shown_host} could not be found.")
    # Every address, not just the first: the connection may use any of them.
    allow_listed = _is_allow_listed(host, port) and (
        redirected_from is None or (redirected_from.host, redirected_from.port) == (host, port)
    )
    if not allow_listed and not all(_is_global(a) for a in addresses):
        raise _fail(shown_host, PRIVATE_MESSAGE)
    return _Target(url=prepared.url, host=host, port=port, addresses=tuple(addresses))


def check_url(url: str) -> str:
    """Check a user-supplied URL's shape and that its host resolves only to allowed addresses.

    Return the URL (stripped). Raise FetchError with a user-facing message otherwise.
    """
    _check(url)
    return url.strip()


def _connect_pinned(conn: HTTPConnection) -> socket.socket:
    """Open conn's socket to an address checked for the request in flight.

    Raise NewConnectionError (which requests turns into ConnectionError) when nothing is
    pinned for conn's host and port, so a request that skipped the checks cannot connect.
    """
    target = _pinned.get()
    if target is None or (_normalise_host(conn.host), conn.port) != (target.host, target.port):
        raise NewConnectionError(conn, f"No checked address is pinned for {conn.host}.")
    error: OSError | None = None
    # Like urllib3's own create_connection, try each address in turn.
    for address in target.addresses:
        try:
            sock = urllib3_connection.create_connection(
                (address, target.port),
                conn.timeout,
                source_address=conn.source_address,
                socket_options=conn.socket_options,
            )
        except OSError as e:
            error = e
            continue
        sys.audit("http.client.connect", conn, conn.host, conn.port)
        return sock
    if isinstance(error, TimeoutError):
        raise ConnectTimeoutError(conn, f"Connection to {conn.host} timed out.") from error
    raise NewConnectionError(conn, f"Failed to establish a new connection: {error}") from error


# The HTTPS connection keeps its host for SNI and certificate checks; only the socket
# underneath goes to the pinned address.
class _PinnedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _connect_pinned(self)


class _PinnedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        return _connect_pinned(self)


class _PinnedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _PinnedHTTPConnection


class _PinnedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _PinnedHTTPSConnection


class _PinnedAdapter(HTTPAdapter):
    """An adapter whose connections go only to pinned, checked addresses.

    It must not override send(): the `responses` library mocks HTTPAdapter.send, and tests
    across the project rely on that to intercept downloads.
    """

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _PinnedHTTPConnectionPool,
            "https": _PinnedHTTPSConnectionPool,
        }

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        # A proxy would connect to the target itself, out of reach of the pin.
        raise requests.exceptions.InvalidProxyURL("Proxies are not supported for fetches.")


def _new_session() -> requests.Session:
    session = requests.Session()
    # No proxies or .netrc credentials from the environment: both would bypass the checks
    # or leak secrets to user-chosen hosts.
    session.trust_env = False
    # One session serves every user's links; no site may leave cookies for the next fetch.
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    # Images are already compressed; identity keeps Content-Length equal to what we write.
    session.headers.update({"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})
    adapter = _PinnedAdapter(max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


_session = _new_session()


def _format_size(n: int) -> str:
    mb = 1024 * 1024
    if n >= mb:
        return f"{n / mb:.3g} MB"
    if n >= 1024:
        return f"{n / 1024:.3g} KB"
    return f"{n} bytes"


def _is_timeout(e: requests.RequestException) -> bool:
    # requests reports a read timeout while streaming the body as a ConnectionError.
    return isinstance(e, requests.Timeout) or any(
        isinstance(arg, ReadTimeoutError) for arg in e.args
    )


def _fetch_one(
    target: _Target, dest: IO[bytes], max_bytes: int, timeout: float
) -> Downloaded | str:
    """GET target; return what was written to dest, or the next URL if it redirects."""
    token = _pinned.set(target)
    try:
        response = _session.get(
            target.url, stream=True, allow_redirects=False, timeout=(timeout, timeout)
        )
        with response:
            status = response.status_code
            if status in _REDIRECT_STATUSES:
                location = response.headers.get("Location")
                if not location:
                    raise _fail(target.host, "The server sent a redirect without a target.")
                return urljoin(target.url, location)
            if status != 200:
                try:
                    phrase = f" {HTTPStatus(status).phrase}"
                except ValueError:
                    phrase = ""
                raise _fail(
                    target.host,
                    f"The server answered {status}{phrase}.",
                    permanent=status < 500 and status not in _TRANSIENT_STATUSES,
                )

            too_large = f"The image is larger than {_format_size(max_bytes)}."
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise _fail(target.host, too_large)
            size = 0
            for chunk in response.iter_content(CHUNK_SIZE):
                size += len(chunk)
                # The chunk that passes the cap is dropped, so dest never exceeds it.
                if size > max_bytes:
                    raise _fail(target.host, too_large)
                dest.write(chunk)
            content_type = response.headers.get("Content-Type", "")
            return Downloaded(
                content_type=content_type.split(";")[0].strip().lower(),
                size=size,
                final_url=target.url,
            )
    except requests.RequestException as e:
        if _is_timeout(e):
            raise _fail(target.host, "The download timed out.", permanent=False) from e
        if isinstance(e, requests.exceptions.SSLError):
            raise _fail(
                target.host, f"The secure connection to {target.host} failed.", permanent=False
            ) from e
        if isinstance(e, requests.ConnectionError | requests.exceptions.ChunkedEncodingError):
            raise _fail(
                target.host, f"Could not download from {target.host}.", permanent=False
            ) from e
        raise _fail(target.host, "The download failed.", permanent=False) from e
    finally:
        _pinned.reset(token)


def download(
    url: str, dest: IO[bytes], *, max_bytes: int, timeout: float | None = None
) -> Downloaded:
    """Stream url into dest (never whole in memory), following at most 3 redirects, each hop
    re-checked. Raise FetchError if the URL or any hop is refused, the status is not 200,
    the body passes max_bytes (stop reading at once), or the connection fails/times out.

    `timeout` (seconds, default settings.FETCH_TIMEOUT) applies to connecting and to each
    read, not to the whole transfer. On FetchError, dest may hold part of the body (never
    more than max_bytes); the caller discards it.
    """
    seconds = settings.FETCH_TIMEOUT if timeout is None else timeout
    target = _check(url)
    redirects = 0
    while True:
        outcome = _fetch_one(target, dest, max_bytes, seconds)
        if isinstance(outcome, Downloaded):
            logger.debug("Fetched %d bytes from %s", outcome.size, target.host)
            return outcome
        redirects += 1
        if redirects > MAX_REDIRECTS:
            raise _fail(target.host, "Too many redirects.")
        target = _check(outcome, redirected_from=target)


@dataclass(frozen=True)
class Posted:
    status: int
    body: str  # the start of the answer's body (at most `keep` bytes), decoded leniently


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    timeout: float | None = None,
    keep: int = 1000,
) -> Posted:
    """POST body to a user-chosen URL (a webhook endpoint) once, with the downloads' checks:
    global addresses only (or allow-listed), the connection pinned to the checked address.

    Redirects are never followed: a 3xx comes back as it is, so a public endpoint cannot
    bounce a signed delivery to a private address. Any HTTP answer is returned; raise
    FetchError if the URL is refused, or the connection fails or times out.
    """
    seconds = settings.FETCH_TIMEOUT if timeout is None else timeout
    target = _check(url)
    token = _pinned.set(target)
    try:
        response = _session.post(
            target.url,
            data=body,
            headers=headers,
            stream=True,
            allow_redirects=False,
            timeout=(seconds, seconds),
        )
        with response:
            # Only the start of the answer, for the delivery log: a receiver can't make us
            # read (or store) a large body.
            head = next(response.iter_content(keep), b"")[:keep]
            return Posted(status=response.status_code, body=head.decode("utf-8", "replace"))
    except requests.RequestException as e:
        if _is_timeout(e):
            raise _fail(target.host, "The request timed out.", permanent=False) from e
        raise _fail(target.host, f"Could not connect to {target.host}.", permanent=False) from e
    finally:
        _pinned.reset(token)
