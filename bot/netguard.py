"""The address guard: a URL found in feed content never makes FeedRelay connect to an
address inside the operator's network.

An entry may name any URL (an ``<img src>``, a ``media:content``, a page's ``og:image``), and
whoever writes the feed's content writes it. Fetched as it is, ``http://169.254.169.254/...``
or ``http://10.0.0.5/admin.png`` would be fetched from inside the operator's network, and an
answer that is an image would be posted publicly (server-side request forgery). So a
connection for feed content is opened here, in one place, and only after a check:

1. The host is turned into addresses: a host written as an IP address is that address (in
   every form ``inet_aton`` reads too: ``2130706433``, ``0177.0.0.1``, ``0x7f.1``, ``127.1``
   are all 127.0.0.1, decoded here and never handed to a resolver); a name is resolved once,
   by the guard's resolver (injectable; the system's ``getaddrinfo`` by default).
2. Every address is checked; if any one is refused, the host is refused, before any packet
   is sent. Refused: loopback, private (RFC 1918, unique-local ``fc00::/7``), shared
   (``100.64.0.0/10``), link-local (``169.254.0.0/16``, with the cloud metadata address, and
   ``fe80::/10``), site-local, multicast, unspecified, reserved, and every other address that
   is not global (documentation, benchmarking, ...). An IPv6 address that carries an IPv4
   address (IPv4-mapped ``::ffff:a.b.c.d``, 6to4 ``2002::/16``, NAT64 ``64:ff9b::/96``) is
   judged by the IPv4 address it carries.
3. The connection goes to an address that was checked, never to the name: no second DNS
   answer (DNS rebinding) gets through. TLS still uses the name (SNI and the certificate
   check).

``GuardedAdapter`` does this inside urllib3's connection, so every request of a session it is
mounted on, and every redirect hop, goes through the check: a redirect to a refused address
is refused like a direct link. It never uses a proxy, since a proxy would connect to the
address on our behalf, unchecked (``bot.http.make_content_session`` also ignores proxies from
the environment).

``allow_private=True`` (``[bot] allow_private_images``, for a blog on the operator's own
network, and for tests) lets the non-global addresses through, except those that no web
server has: multicast, unspecified and reserved (broadcast among them).
"""

from __future__ import annotations

import ipaddress
import re
import socket
import sys
from collections.abc import Sequence
from typing import Any, Protocol

import requests
from requests.adapters import HTTPAdapter
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool, PoolManager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import allowed_gai_family

__all__ = [
    "AddressGuard",
    "AddressRefusedError",
    "GuardedAdapter",
    "IPAddress",
    "Resolver",
    "address_refusal",
    "system_resolver",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_PRIVATE = tuple(
    ipaddress.ip_network(block)
    for block in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Every label a number (decimal, octal with a leading 0, hex with 0x): an IPv4 address in
# one of the forms inet_aton reads, or nothing valid; never a host name (no top-level
# domain is numeric).
_NUMERIC_HOST = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+))*", re.I)


class Resolver(Protocol):
    """Turns a host name into addresses."""

    def __call__(self, host: str, port: int) -> Sequence[str]:
        """Every address ``host`` has for a TCP connection to ``port``, as text.

        Raises ``OSError`` (``socket.gaierror``) when the name does not resolve.
        """


def system_resolver(host: str, port: int) -> list[str]:
    """The system's answer (``getaddrinfo``), each address once, in its order."""
    found = socket.getaddrinfo(host, port, allowed_gai_family(), socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in found))


class AddressRefusedError(requests.exceptions.ConnectionError):
    """A content URL's host is, or resolves to, an address the guard refuses; nothing was
    sent to it. The message says which address and why. ``liftable``: ``[bot]
    allow_private_images = true`` would let it through."""

    def __init__(self, message: str, *, host: str, liftable: bool, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.host = host
        self.liftable = liftable


def address_refusal(address: IPAddress, *, allow_private: bool = False) -> str | None:
    """Why feed content may not make FeedRelay connect to ``address`` (``"a loopback
    address"``), or ``None`` if it may. An address that carries an IPv4 address is judged
    by that one."""
    judged = _carried_ipv4(address) or address
    kind, always = _kind(judged)
    if kind is None or (allow_private and not always):
        return None
    return kind


def _kind(address: IPAddress) -> tuple[str | None, bool]:
    """What kind of non-global address ``address`` is (``None``: a global one), and whether
    it is refused even with ``allow_private`` (no web server has such an address)."""
    if address.is_unspecified:
        return "the unspecified address", True
    if address.is_multicast:
        return "a multicast address", True
    if address.is_loopback:
        return "a loopback address", False
    if address.is_link_local:
        return "a link-local address", False
    if any(address in block for block in _PRIVATE):
        return "a private address", False
    if address in _SHARED:
        return "a shared (carrier-grade NAT) address", False
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return "a site-local address", False
    if address.is_reserved:
        return "a reserved address", True
    if not address.is_global:
        return "a special-purpose address, not a global one", False
    return None, False


def _carried_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for: IPv4-mapped, 6to4 or NAT64."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    return None


class AddressGuard:
    """Decides which addresses a host may be reached at, for feed content.

    ``resolver`` turns names into addresses (tests inject one that knows ``evil.test``);
    ``allow_private`` lets non-global addresses through (see the module's docstring).
    """

    def __init__(self, *, resolver: Resolver = system_resolver, allow_private: bool = False):
        self.resolver = resolver
        self.allow_private = allow_private

    def refusal(self, address: IPAddress, port: int) -> str | None:
        """Why ``address`` may not be connected to (on ``port``), or ``None`` if it may."""
        return address_refusal(address, allow_private=self.allow_private)

    def addresses(self, host: str, port: int) -> list[IPAddress]:
        """The addresses to connect to for ``host``, every one of them checked.

        Raises ``AddressRefusedError`` when ``host`` is, or resolves to, a refused address
        (any one of its addresses), or is a number that is no valid address; ``OSError``
        (``socket.gaierror``) when the name does not resolve.
        """
        host = host.strip("[]")
        literal = _literal(host)
        if literal is not None:
            address, standard = literal
            self._check(host, port, address, standard=standard, resolved=False)
            return [address]
        found = [ipaddress.ip_address(text) for text in self.resolver(host, port)]
        if not found:
            raise socket.gaierror(f"{host} has no address")
        for address in found:
            self._check(host, port, address, standard=False, resolved=True)
        return found

    def _check(
        self, host: str, port: int, address: IPAddress, *, standard: bool, resolved: bool
    ) -> None:
        kind = self.refusal(address, port)
        if kind is None:
            return
        carried = _carried_ipv4(address)
        what = f"{address}, which carries {carried}, {kind}" if carried else f"{address}, {kind}"
        if resolved:
            said = f"{host} resolves to {what}"
        elif not standard:
            said = f"{host} is {what}"  # 2130706433 is 127.0.0.1, a loopback address
        else:
            said = f"{host} carries {carried}, {kind}" if carried else f"{host} is {kind}"
        always = _kind(carried or address)[1]
        raise AddressRefusedError(said, host=host, liftable=not always)


def _literal(host: str) -> tuple[IPAddress, bool] | None:
    """``host`` as an address and whether it was written in a standard form, or ``None``
    for a name. A number that is no address is refused rather than resolved."""
    try:
        return ipaddress.ip_address(host), True
    except ValueError:
        pass
    if not _NUMERIC_HOST.fullmatch(host):
        return None
    try:
        # The forms getaddrinfo reads as numbers: decimal, octal, hex, 1 to 4 parts.
        return ipaddress.IPv4Address(socket.inet_aton(host)), False
    except OSError:
        raise AddressRefusedError(
            f"{host} is not a valid IPv4 address", host=host, liftable=False
        ) from None


# -- the connection ------------------------------------------------------------------------


class _Refused(Exception):
    """Carries an ``AddressRefusedError`` out through urllib3, which would wrap (and retry)
    any ``OSError``; ``GuardedAdapter.send`` raises the error itself."""

    def __init__(self, error: AddressRefusedError) -> None:
        super().__init__(str(error))
        self.error = error


def _guarded_socket(connection: HTTPConnection, guard: AddressGuard) -> socket.socket:
    """What urllib3's ``_new_conn`` does, connecting only to addresses ``guard`` checked."""
    try:
        addresses = guard.addresses(connection.host, connection.port)
    except AddressRefusedError as error:
        raise _Refused(error) from None
    except socket.gaierror as error:
        raise NameResolutionError(connection.host, connection, error) from error
    except OSError as error:
        said = f"cannot resolve {connection.host}: {error}"
        raise NewConnectionError(connection, said) from error
    last: OSError | None = None
    for checked in addresses:
        # An IPv4-mapped address is its IPv4 address (the kernel would connect there too).
        address = _carried_ipv4(checked) if _is_mapped(checked) else checked
        assert address is not None
        family = socket.AF_INET if address.version == 4 else socket.AF_INET6
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            for option in connection.socket_options or ():
                sock.setsockopt(*option)
            if connection.timeout is None or isinstance(connection.timeout, int | float):
                sock.settimeout(connection.timeout)
            if connection.source_address:
                sock.bind(connection.source_address)
            sock.connect((str(address), connection.port))
        except OSError as error:
            sock.close()
            last = error
        else:
            sys.audit("http.client.connect", connection, connection.host, connection.port)
            return sock
    if isinstance(last, TimeoutError):
        raise ConnectTimeoutError(
            connection,
            f"Connection to {connection.host} timed out. (connect timeout={connection.timeout})",
        ) from last
    raise NewConnectionError(connection, f"Failed to establish a new connection: {last}") from last


def _is_mapped(address: IPAddress) -> bool:
    return isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None


class _GuardedHTTPConnection(HTTPConnection):
    def __init__(self, *args: Any, guard: AddressGuard, **kwargs: Any) -> None:
        self.guard = guard
        super().__init__(*args, **kwargs)

    def _new_conn(self) -> socket.socket:
        return _guarded_socket(self, self.guard)


class _GuardedHTTPSConnection(HTTPSConnection):
    def __init__(self, *args: Any, guard: AddressGuard, **kwargs: Any) -> None:
        self.guard = guard
        super().__init__(*args, **kwargs)

    def _new_conn(self) -> socket.socket:
        return _guarded_socket(self, self.guard)


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class _GuardedPoolManager(PoolManager):
    """Pools whose connections all go through ``guard``."""

    def __init__(self, *args: Any, guard: AddressGuard, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.guard = guard
        self.pool_classes_by_scheme = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}

    def _new_pool(
        self,
        scheme: str,
        host: str,
        port: int,
        request_context: dict[str, Any] | None = None,
    ) -> HTTPConnectionPool:
        pool = super()._new_pool(scheme, host, port, request_context)
        pool.conn_kw["guard"] = self.guard
        return pool


class GuardedAdapter(HTTPAdapter):
    """A ``requests`` transport that opens every connection through ``guard``, and never
    through a proxy. A refused address raises ``AddressRefusedError`` (its ``request`` is
    the request, or the redirect hop, that was refused)."""

    def __init__(self, guard: AddressGuard, **kwargs: Any) -> None:
        self.guard = guard
        super().__init__(**kwargs)

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager = _GuardedPoolManager(
            num_pools=connections, maxsize=maxsize, block=block, guard=self.guard, **pool_kwargs
        )

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        raise ValueError("content is never fetched through a proxy: it would reach any address")

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        if proxies and requests.utils.select_proxy(request.url or "", proxies):
            raise ValueError("content is never fetched through a proxy: it would reach any address")
        try:
            return super().send(
                request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=None
            )
        except _Refused as refused:
            refused.error.request = request
            raise refused.error from None
