"""The SSRF guard of outgoing HTTP: a webhook URL (rules may name any) must not reach this machine or the
private network unless the channel allows it.

The host is resolved once, every address checked, and the request then goes to a checked address (the URL keeps
its host name in the ``Host`` header and TLS SNI), so a DNS answer that changes between check and connect
(DNS rebinding) cannot slip through.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from vigil.errors import ChannelError


@dataclass(frozen=True)
class Destination:
    """Where to connect: ``url`` (its host replaced by a checked address unless ``pinned`` is False), and the
    original host for the ``Host`` header and SNI."""

    url: str
    host: str
    pinned: bool

    @property
    def host_header(self) -> str:
        port = urlsplit(self.original).port
        return f"{self.host}:{port}" if port else self.host

    original: str = ""


def is_public(address: str) -> bool:
    """True for a globally routable unicast address (IPv4-mapped IPv6 judged as its IPv4)."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast  # not loopback, private, link-local, shared, reserved


def destination(url: str, *, allow_private: bool) -> Destination:
    """Check ``url`` and say where to connect; ``ChannelError`` for a malformed URL, an unresolvable host, or a
    loopback/private/link-local/multicast/reserved address without ``allow_private``."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ChannelError(f"{url!r} is not an http(s) URL", "fix the webhook URL")
    host = parts.hostname
    if allow_private:
        return Destination(url, host, False, url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ChannelError(f"cannot resolve webhook host {host}: {exc}", "check the URL and DNS") from exc
    addresses = sorted({str(info[4][0]) for info in infos})
    blocked = [a for a in addresses if not is_public(a)]
    if blocked or not addresses:
        raise ChannelError(f"webhook host {host} resolves to a private or local address ({', '.join(blocked)}); "
                           "refused (SSRF guard)", "set allow_private: true on the channel if that is intended")
    ip = addresses[0]
    netloc = f"[{ip}]" if ":" in ip else ip
    if parts.port:
        netloc += f":{parts.port}"
    return Destination(parts._replace(netloc=netloc).geturl(), host, True, url)


__all__ = ["Destination", "destination", "is_public"]
