"""Where a trace source may live: checked when an integration is saved and again on every
connection, because DNS may answer differently the second time (rebinding).

An integration's ``base_url`` is chosen by a workspace admin while the import and test code run
inside our account, so without this check a URL could reach the cloud metadata service
(169.254.169.254), the Lambda Runtime API (127.0.0.1:9001) or anything else in the network.
Addresses are judged after resolution, as the numbers a socket would connect to, so spellings
(``0x7f.1``, ``2130706433``, ``[::ffff:127.0.0.1]``) do not matter; an IPv6 address that
carries an IPv4 one (mapped, NAT64, 6to4, Teredo) is judged by the IPv4 address.

Loopback and private ranges are allowed only with ``allow_private`` (``IOFOLD_ALLOW_PRIVATE_SOURCES``,
set by the local stack for its fake sources); unspecified, multicast, link-local and reserved
addresses never are.

``GuardedTransport`` is httpx's transport with one change: each connection resolves the host,
checks every address and connects to a checked one, while the Host header and TLS SNI stay on
the name. No proxy from the environment is used (it would be the proxy's address we checked).
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Callable, Iterable
from typing import Union

import httpcore
import httpx

from chalicelib.errors import SourceError

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
Resolver = Callable[[str, int], list[str]]
"""``(host, port) -> addresses`` as strings; raises OSError when the host does not resolve."""

ALLOWED_SCHEMES = ("http", "https")
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class AddressRefused(SourceError):
    """A source URL or connection points where sources may not be (private, loopback, metadata …)."""


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the operating system resolves ``host`` to, in its order, without repeats."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def refusal_reason(address: IPAddress | str, *, allow_private: bool) -> str | None:
    """Why a source may not be at ``address`` ('link-local', 'loopback' …), or None when it may."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address):
        ip = _embedded_ipv4(ip) or ip
    if ip.is_unspecified or ip in _THIS_NETWORK:
        return "unspecified"
    if ip.is_multicast:
        return "multicast"
    if ip.is_link_local:
        return "link-local"
    if ip.is_loopback:
        return None if allow_private else "loopback"
    if ip.is_reserved:
        return "reserved"
    if not ip.is_global:
        return None if allow_private else "private"
    return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one reaches: IPv4-mapped, NAT64 (64:ff9b::/96), 6to4, Teredo client."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def checked_addresses(host: str, port: int, *, allow_private: bool, resolver: Resolver) -> list[str]:
    """Resolve ``host``; all its addresses when every one is allowed, else AddressRefused.
    Raises OSError when the host does not resolve."""
    addresses = resolver(host, port)
    if not addresses:
        raise OSError(f"{host} resolved to no address")
    for address in addresses:
        reason = refusal_reason(address, allow_private=allow_private)
        if reason:
            raise AddressRefused(f"the source host {host} resolves to {address} ({reason}); "
                                 "sources must be reachable on the public internet")
    return addresses


def check_source_url(url: str, *, allow_private: bool, resolver: Resolver = system_resolver) -> None:
    """Refuse (AddressRefused) a source URL that is not http(s), does not resolve, or resolves
    to an address sources may not use."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise AddressRefused(f"the source URL is not valid: {exc}") from exc
    if parsed.scheme not in ALLOWED_SCHEMES or not parsed.host:
        raise AddressRefused("the source URL must be http:// or https:// with a host")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        checked_addresses(parsed.host, port, allow_private=allow_private, resolver=resolver)
    except OSError as exc:
        raise AddressRefused(f"the source host {parsed.host} does not resolve") from exc


class GuardedBackend(httpcore.SyncBackend):
    """httpcore's socket backend, connecting only to checked addresses of the requested host."""

    def __init__(self, *, allow_private: bool, resolver: Resolver = system_resolver):
        self.allow_private = allow_private
        self.resolver = resolver

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[tuple] | None = None) -> httpcore.NetworkStream:
        try:
            addresses = checked_addresses(host, port, allow_private=self.allow_private, resolver=self.resolver)
        except OSError as exc:
            raise httpcore.ConnectError(f"{host} does not resolve ({exc})") from exc
        for address in addresses[:-1]:
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError:
                continue
        return super().connect_tcp(addresses[-1], port, timeout, local_address, socket_options)

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[tuple] | None = None) -> httpcore.NetworkStream:
        raise AddressRefused("sources are reached over TCP only")


class GuardedTransport(httpx.HTTPTransport):
    """httpx's HTTP transport whose connections go through GuardedBackend; never via a proxy."""

    def __init__(self, *, allow_private: bool, resolver: Resolver = system_resolver,
                 verify: ssl.SSLContext | bool = True, max_connections: int = 20):
        ssl_context = httpx.create_ssl_context(verify=verify)  # SSL_CERT_FILE/DIR still honoured
        super().__init__(verify=ssl_context, trust_env=False)
        # httpx 0.28 builds its httpcore pool without a way to pass a network backend: replace
        # that (still unused) pool with one that has ours. Covered by tests/unit/sources/test_addresses.py.
        self._pool = httpcore.ConnectionPool(ssl_context=ssl_context, max_connections=max_connections,
                                             max_keepalive_connections=max_connections, keepalive_expiry=5.0,
                                             network_backend=GuardedBackend(allow_private=allow_private,
                                                                            resolver=resolver))
