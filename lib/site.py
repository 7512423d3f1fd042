"""Facts about this site's own address (SITE_URL)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from django.conf import settings


def site_is_public() -> bool:
    """Is SITE_URL a public https address that APIXO could reach (for sources, callbacks)?"""
    parts = urlsplit(settings.SITE_URL)
    host = parts.hostname or ""
    if parts.scheme != "https" or host == "localhost" or host.endswith((".local", ".internal")):
        return False
    try:
        return ipaddress.ip_address(host).is_global
    except ValueError:
        return "." in host  # a host name; we can't resolve it the way APIXO would
