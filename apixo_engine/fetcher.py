"""The engine's own source fetcher, with an SSRF guard.

Every connection (the first request and each redirect hop) resolves the host and refuses
it unless all of its addresses are global, or its "host:port" is on the allow-list. The
connection is then made to one of the addresses that were checked, so a DNS answer cannot
change between the check and the connect.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError

from .config import host_port

USER_AGENT = "apixo-engine/1.0"
CHUNK = 64 * 1024


class FetchError(Exception):
    """The source could not be downloaded; str() is a short human reason."""


class AddressRefused(FetchError):
    """The SSRF guard refused the host (raised before any connection is made)."""


class AddressGuard:
    def __init__(self, allowed: frozenset[str]) -> None:
        self.allowed = allowed

    def is_allowlisted(self, host: str, port: int) -> bool:
        return host_port(host, port) in self.allowed

    def for_hop(self, previous: str | None, here: str) -> AddressGuard:
        """The guard for a hop to host:port `here`, redirected from `previous` (None: the
        URL the client sent).

        An allow-listed private address may be reached by a redirect only from itself: the
        allow-list trusts the URLs clients send, not where a stranger's server points (so a
        public host cannot bounce the engine to the app's own private address).
        """
        return self if previous in (None, here) else AddressGuard(frozenset())

    def checked_addresses(self, host: str, port: int) -> list[str]:
        """Resolve host; all addresses must be global. Returns them in resolver order."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise FetchError(f"could not resolve host {_short(host)!r}") from exc
        addresses: list[str] = []
        for info in infos:
            raw = str(info[4][0])
            if not is_global_address(raw):
                address = raw.split("%", 1)[0]
                what = (
                    address
                    if address == host
                    else f"host {_short(host)!r} resolves to {address}, which"
                )
                raise AddressRefused(
                    f"{what} is not a public address and is not on the engine's allow-list"
                )
            if raw not in addresses:
                addresses.append(raw)
        if not addresses:
            raise FetchError(f"could not resolve host {_short(host)!r}")
        return addresses


def _short(host: str) -> str:
    return host if len(host) <= 80 else host[:77] + "..."


# IPv6 forms that carry an IPv4 address in their last 32 bits, which a gateway or the host
# itself may turn back into IPv4: NAT64 (64:ff9b::a.b.c.d), IPv4-compatible (::a.b.c.d,
# deprecated) and IPv4-translated (::ffff:0:a.b.c.d). Python calls the first two global.
_EMBEDS_IPV4 = tuple(
    ipaddress.IPv6Network(net) for net in ("64:ff9b::/96", "::/96", "::ffff:0:0:0/96")
)


def is_global_address(raw: str) -> bool:
    """Return True if raw is a global unicast address, and so is any IPv4 address inside it
    (IPv4-mapped, 6to4, Teredo, NAT64, IPv4-compatible or -translated forms)."""
    try:
        address = ipaddress.ip_address(raw.split("%", 1)[0])
    except ValueError:
        return False
    if not address.is_global:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        embedded = [address.ipv4_mapped, address.sixtofour, *(address.teredo or ())]
        if any(address in net for net in _EMBEDS_IPV4):
            embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        return all(v4.is_global for v4 in embedded if v4 is not None)
    return True


def _guarded_new_conn(
    conn: HTTPConnection, guard: AddressGuard, connect: Callable[[], socket.socket]
) -> socket.socket:
    if guard.is_allowlisted(conn.host, conn.port):
        return connect()
    original = conn._dns_host
    last_error: Exception | None = None
    try:
        for address in guard.checked_addresses(conn.host, conn.port):
            conn._dns_host = address  # connect to the address that was checked
            try:
                return connect()
            except NewConnectionError as exc:
                last_error = exc
    finally:
        conn._dns_host = original
    assert last_error is not None
    raise last_error


class GuardedAdapter(HTTPAdapter):
    """An HTTPAdapter whose connection pools check every new connection with the guard."""

    def __init__(self, guard: AddressGuard) -> None:
        # Fetcher.fetch swaps it before each redirect hop; a session serves one fetch.
        self.guard = guard
        super().__init__(max_retries=0)

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        adapter = self

        class GuardedHTTPConnection(HTTPConnection):
            def _new_conn(self) -> socket.socket:
                return _guarded_new_conn(self, adapter.guard, super()._new_conn)

        class GuardedHTTPSConnection(HTTPSConnection):
            def _new_conn(self) -> socket.socket:
                return _guarded_new_conn(self, adapter.guard, super()._new_conn)

        class GuardedHTTPPool(HTTPConnectionPool):
            ConnectionCls = GuardedHTTPConnection

        class GuardedHTTPSPool(HTTPSConnectionPool):
            ConnectionCls = GuardedHTTPSConnection

        self.poolmanager.pool_classes_by_scheme = {
            "http": GuardedHTTPPool,
            "https": GuardedHTTPSPool,
        }


class Fetcher:
    def __init__(
        self,
        allowed: frozenset[str],
        *,
        timeout: float = 20.0,
        max_bytes: int = 10 * 1024 * 1024,
        max_redirects: int = 3,
    ) -> None:
        self.guard = AddressGuard(allowed)
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects

    def _session(self) -> tuple[requests.Session, GuardedAdapter]:
        session = requests.Session()
        session.trust_env = False  # no proxies or .netrc from the environment
        adapter = GuardedAdapter(self.guard)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers.update({"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})
        return session, adapter

    def fetch(self, url: str) -> bytes:
        """Download url (following at most max_redirects redirects) into memory."""
        deadline = time.monotonic() + self.timeout
        session, adapter = self._session()
        previous: str | None = None
        with session:
            for _hop in range(self.max_redirects + 1):
                here = _check_url(url)
                if previous not in (None, here):
                    # A kept-alive connection was checked under the last hop's guard.
                    adapter.poolmanager.clear()
                adapter.guard = self.guard.for_hop(previous, here)
                previous = here
                try:
                    response = session.get(
                        url, stream=True, allow_redirects=False, timeout=self._left(deadline)
                    )
                except FetchError:
                    raise
                except requests.Timeout as exc:
                    raise FetchError("the source server did not answer in time") from exc
                except requests.RequestException as exc:
                    raise FetchError(_connection_reason(exc)) from exc
                with response:
                    if response.is_redirect:
                        url = urljoin(url, response.headers.get("Location", ""))
                        continue
                    if response.status_code != 200:
                        raise FetchError(f"the source server answered HTTP {response.status_code}")
                    return self._read(response, deadline)
        raise FetchError(f"too many redirects (more than {self.max_redirects})")

    def _read(self, response: requests.Response, deadline: float) -> bytes:
        limit_mb = self.max_bytes // (1024 * 1024)
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise FetchError(f"the image is larger than {limit_mb} MB")
        body = bytearray()
        try:
            for chunk in response.iter_content(CHUNK):
                body += chunk
                if len(body) > self.max_bytes:
                    raise FetchError(f"the image is larger than {limit_mb} MB")
                if time.monotonic() > deadline:
                    raise FetchError("the download took too long")
        except requests.RequestException as exc:
            raise FetchError("the connection broke during the download") from exc
        return bytes(body)

    def _left(self, deadline: float) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise FetchError("the download took too long")
        return left


def _check_url(url: str) -> str:
    """Return the URL's "host:port" (as the allow-list spells it), or raise FetchError."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise FetchError("the URL is not valid") from exc
    if parts.scheme not in ("http", "https"):
        raise FetchError("only http and https URLs are supported")
    if not parts.hostname:
        raise FetchError("the URL has no host")
    return host_port(parts.hostname, port or (443 if parts.scheme == "https" else 80))


def _connection_reason(exc: requests.RequestException) -> str:
    text = str(exc)
    if "Name or service not known" in text or "NameResolutionError" in text:
        return "could not resolve the host"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS error while connecting to the source server"
    if isinstance(exc, requests.ConnectionError):
        return "could not connect to the source server"
    return "the request to the source server failed"
