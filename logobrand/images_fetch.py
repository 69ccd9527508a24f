"""Fetch an image over ``http(s)`` safely (standard library only).

:func:`fetch_url` is what :func:`logobrand.images.load_image` uses for URL inputs. It guards
against the usual ways a URL fetch goes wrong on a service:

* only ``http`` and ``https`` URLs (no ``file://``, ``ftp://`` ...), without credentials;
* with ``allow_private=False`` every address the host resolves to must be public: loopback,
  private (RFC 1918, unique-local), link-local (incl. the cloud metadata address
  169.254.169.254), multicast, reserved, unspecified and other non-global addresses are
  refused, also when written as IPv4-mapped/6to4/NAT64 IPv6 addresses;
* DNS rebinding: each hop's host is resolved once, every address is checked, and the TCP
  connection is made to one of those checked addresses (the ``Host`` header, TLS SNI and
  certificate check still use the host name), so the name cannot resolve differently between
  the check and the connect;
* redirects are followed by hand, at most ``max_redirects`` of them, and every hop is
  re-validated (scheme and addresses);
* a connect timeout, a per-read timeout and a total time limit;
* a size limit: a ``Content-Length`` over the limit is refused before the body is read, and
  the streamed body is cut off after ``max_bytes + 1`` bytes;
* the ``Content-Type`` must be an image type (or ``application/octet-stream``) and the body's
  magic bytes must be those of a supported image.

Two policies are predefined. :data:`DEFAULT_POLICY` (``allow_private=True``) suits a library
call on a user's own machine, where fetching from the local network is legitimate.
**Anything server-like** (a web service, a Spark/Ray job, any code that fetches URLs chosen
by someone else) **must use** :data:`SERVER_POLICY`, which refuses private addresses so the
fetcher cannot be used to reach internal services (SSRF).

Proxy settings from the environment (``HTTP_PROXY`` ...) are not used: connections go
directly to the checked address.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import ipaddress
import logging
import socket
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

from logobrand.errors import FetchError, InvalidArgumentError, check_int
from logobrand.image_types import describe_unknown, sniff_image_type

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_POLICY",
    "MAX_TIMEOUT",
    "SERVER_POLICY",
    "FetchPolicy",
    "blocked_reason",
    "fetch_url",
]

logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
"""Default download limit: 20 MiB."""

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_OCTET_STREAM_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})
_CHUNK = 64 * 1024
_USER_AGENT = "logobrand (+https://pypi.org/project/logobrand/)"
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_Address = tuple[socket.AddressFamily, tuple[Any, ...]]  # (family, sockaddr from getaddrinfo)


MAX_TIMEOUT = 86_400.0
"""The longest timeout a :class:`FetchPolicy` accepts, in seconds (a day)."""


@dataclass(frozen=True)
class FetchPolicy:
    """Limits and address rules for :func:`fetch_url`.

    Attributes:
        connect_timeout: Seconds allowed to connect (and for the TLS handshake).
        read_timeout: Seconds allowed for each read from the server.
        total_timeout: Seconds allowed for the whole fetch, redirects included.
        max_bytes: Largest body accepted, in bytes.
        max_redirects: Most redirects followed.
        allow_private: Whether loopback, private, link-local and other non-public addresses
            may be fetched. Must be ``False`` for anything server-like.
        allowed_content_types: ``Content-Type`` prefixes accepted (besides
            ``application/octet-stream`` with image magic bytes).
    """

    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    total_timeout: float = 60.0
    max_bytes: int = DEFAULT_MAX_BYTES
    max_redirects: int = 3
    allow_private: bool = True
    allowed_content_types: tuple[str, ...] = ("image/",)

    def __post_init__(self) -> None:
        for field in ("connect_timeout", "read_timeout", "total_timeout"):
            value = getattr(self, field)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not 0 < value <= MAX_TIMEOUT
            ):
                raise InvalidArgumentError(
                    f"FetchPolicy.{field} must be seconds in (0, {MAX_TIMEOUT:g}], got {value!r}"
                )
        check_int("FetchPolicy.max_bytes", self.max_bytes, 1)
        check_int("FetchPolicy.max_redirects", self.max_redirects, 0)
        if isinstance(self.allowed_content_types, str) or not all(
            isinstance(t, str) and t for t in self.allowed_content_types
        ):
            raise InvalidArgumentError(
                "FetchPolicy.allowed_content_types must be a tuple of non-empty strings, "
                f"got {self.allowed_content_types!r}"
            )
        object.__setattr__(
            self, "allowed_content_types", tuple(t.lower() for t in self.allowed_content_types)
        )


DEFAULT_POLICY = FetchPolicy()
"""For a library call on the user's own machine: private addresses allowed."""

SERVER_POLICY = FetchPolicy(allow_private=False)
"""For anything server-like (web services, Spark/Ray jobs): private addresses refused."""


def fetch_url(
    url: str,
    *,
    policy: FetchPolicy | None = None,
    timeout: float | tuple[float, float] | None = None,
    max_bytes: int | None = None,
    max_redirects: int | None = None,
    allow_private: bool | None = None,
    allowed_content_types: tuple[str, ...] | None = None,
) -> bytes:
    """Download an image and return its encoded bytes.

    Keyword arguments left as ``None`` take their value from ``policy``.

    Args:
        url: An ``http://`` or ``https://`` URL.
        policy: Base limits; defaults to :data:`DEFAULT_POLICY`. Use :data:`SERVER_POLICY`
            for anything server-like.
        timeout: Seconds, either one number for both connecting and each read, or a
            ``(connect, read)`` pair.
        max_bytes: Largest body accepted.
        max_redirects: Most redirects followed.
        allow_private: Whether non-public addresses (loopback, private, link-local ...) may
            be fetched.
        allowed_content_types: Accepted ``Content-Type`` prefixes, e.g. ``("image/",)``.

    Returns:
        The response body, whose magic bytes are those of a supported image format.

    Raises:
        FetchError: The URL is not ``http(s)``, its host is blocked or cannot be resolved,
            the server is unreachable, too slow, redirects too often, answers with an error
            status, a non-image type or too many bytes. The message names the URL.
        InvalidArgumentError: A limit is out of range.
    """
    pol = _effective_policy(
        policy, timeout, max_bytes, max_redirects, allow_private, allowed_content_types
    )
    if not isinstance(url, str):
        raise InvalidArgumentError(f"url must be a str, got {type(url).__name__}")
    deadline = time.monotonic() + pol.total_timeout
    current = url
    for hop in range(pol.max_redirects + 1):
        where = url if hop == 0 else f"{url} (redirected to {current})"
        location = _fetch_once(current, where, pol, deadline)
        if isinstance(location, bytes):
            return location
        current = location
        logger.debug("%s redirects to %s", url, current)
    raise FetchError(
        f"cannot fetch {url}: too many redirects (more than {pol.max_redirects}); last "
        f"location {current}"
    )


def _effective_policy(
    policy: FetchPolicy | None,
    timeout: float | tuple[float, float] | None,
    max_bytes: int | None,
    max_redirects: int | None,
    allow_private: bool | None,
    allowed_content_types: tuple[str, ...] | None,
) -> FetchPolicy:
    base = DEFAULT_POLICY if policy is None else policy
    if not isinstance(base, FetchPolicy):
        raise InvalidArgumentError(f"policy must be a FetchPolicy, got {type(base).__name__}")
    changes: dict[str, object] = {}
    if timeout is not None:
        if isinstance(timeout, tuple):
            if len(timeout) != 2:
                raise InvalidArgumentError(
                    f"timeout must be seconds or a (connect, read) pair, got {timeout!r}"
                )
            changes["connect_timeout"], changes["read_timeout"] = timeout
        else:
            changes["connect_timeout"] = changes["read_timeout"] = timeout
    if max_bytes is not None:
        changes["max_bytes"] = max_bytes
    if max_redirects is not None:
        changes["max_redirects"] = max_redirects
    if allow_private is not None:
        changes["allow_private"] = allow_private
    if allowed_content_types is not None:
        changes["allowed_content_types"] = allowed_content_types
    return dataclasses.replace(base, **changes) if changes else base  # type: ignore[arg-type]


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str
    port: int
    request_path: str


def _parse_url(url: str, where: str) -> _Target:
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise FetchError(f"cannot fetch {where}: malformed URL ({exc})") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        problem = f"a {scheme}:// URL" if scheme else "a URL without a scheme"
        hint = " (pass the local path itself instead)" if scheme == "file" else ""
        raise FetchError(
            f"cannot fetch {where}: only http:// and https:// URLs are supported, "
            f"not {problem}{hint}"
        )
    if parts.username is not None or parts.password is not None:
        raise FetchError(f"cannot fetch {where}: URLs with user names or passwords are refused")
    host = parts.hostname
    if not host:
        raise FetchError(f"cannot fetch {where}: the URL has no host name")
    try:
        ascii_host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError as exc:
        raise FetchError(f"cannot fetch {where}: invalid host name {host!r}") from exc
    path = urllib.parse.quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
    if parts.query:
        path += "?" + urllib.parse.quote(parts.query, safe="/%:@!$&'()*+,;=-._~?")
    default_port = 443 if scheme == "https" else 80
    return _Target(scheme, ascii_host, port if port is not None else default_port, path)


def _resolve(host: str, port: int) -> list[_Address]:
    """Resolve ``host`` to ``(family, sockaddr)`` pairs for TCP; ``sockaddr[0]`` is the IP."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [
        (family, tuple(sockaddr))
        for family, _, _, _, sockaddr in infos
        if family in (socket.AF_INET, socket.AF_INET6)
    ]


def blocked_reason(address: str | IPAddress) -> str | None:
    """Say why an address may not be fetched under ``allow_private=False``.

    Args:
        address: An IPv4 or IPv6 address (an IPv6 zone suffix such as ``%eth0`` is allowed).

    Returns:
        ``None`` for a public (globally routable unicast) address, else a short reason such
        as ``"loopback"``, ``"private"`` or ``"link-local"``.
    """
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip.teredo is not None:
            embedded = ip.teredo[1]
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            inner = blocked_reason(embedded)
            if inner is not None:
                return f"{inner} (embedded in {ip})"
    checks = (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
        ("not globally routable", not ip.is_global),
    )
    for reason, hit in checks:
        if hit:
            return reason
    return None


def _checked_addresses(target: _Target, where: str, pol: FetchPolicy) -> list[_Address]:
    try:
        addresses = _resolve(target.host, target.port)
    except (OSError, UnicodeError) as exc:
        raise FetchError(
            f"cannot fetch {where}: cannot resolve host {target.host!r} ({exc})"
        ) from exc
    if not addresses:
        raise FetchError(f"cannot fetch {where}: host {target.host!r} has no IP address")
    if not pol.allow_private:
        for _, sockaddr in addresses:
            ip = str(sockaddr[0])
            try:
                reason = _blocked_reason(ip)
            except ValueError:
                reason = "unparsable address"
            if reason is not None:
                raise FetchError(
                    f"cannot fetch {where}: host {target.host!r} resolves to {ip}, a "
                    f"{reason} address, and this fetch policy refuses non-public addresses "
                    "(allow_private=False)"
                )
    return addresses


# The function _checked_addresses calls; tests may replace it to simulate a public first hop.
_blocked_reason = blocked_reason


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP(S) connection to already-checked addresses; the name is used for Host/SNI."""

    def __init__(
        self,
        target: _Target,
        addresses: list[_Address],
        pol: FetchPolicy,
    ) -> None:
        super().__init__(target.host, target.port, timeout=pol.connect_timeout)
        self._addresses = addresses
        self._read_timeout = pol.read_timeout
        self._tls = ssl.create_default_context() if target.scheme == "https" else None
        if self._tls is not None:
            self.default_port = 443  # so the Host header omits the default port
        self._lock = threading.Lock()
        self._live_sock: socket.socket | None = None
        self.aborted = False

    def abort(self) -> None:
        """Cut the connection from another thread (the total-time watchdog).

        ``shutdown`` makes a read blocked in the fetching thread return at once; the
        fetching thread then sees :attr:`aborted` and reports the time limit.
        """
        with self._lock:
            self.aborted = True
            sock = self._live_sock
        if sock is not None:
            # The plain-socket shutdown, also for an SSLSocket: it acts on the descriptor
            # without touching the TLS state that the fetching thread is using.
            with contextlib.suppress(OSError):  # already closed
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def connect(self) -> None:
        """Connect to the first reachable checked address, then wrap in TLS if https."""
        last_error: OSError | None = None
        sock: socket.socket | None = None
        for family, sockaddr in self._addresses:
            candidate = socket.socket(family, socket.SOCK_STREAM)
            try:
                candidate.settimeout(self.timeout)
                candidate.connect(sockaddr)
            except OSError as exc:
                candidate.close()
                last_error = exc
                continue
            sock = candidate
            break
        if sock is None:
            raise last_error if last_error is not None else OSError("no address to connect to")
        with self._lock:
            self._live_sock = sock
            aborted = self.aborted
        try:
            if aborted:
                raise TimeoutError("total time limit reached while connecting")
            if self._tls is not None:
                sock = self._tls.wrap_socket(sock, server_hostname=self.host)
                with self._lock:
                    self._live_sock = sock
            sock.settimeout(self._read_timeout)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


def _fetch_once(url: str, where: str, pol: FetchPolicy, deadline: float) -> bytes | str:
    """Do one request; return the image bytes, or the absolute URL a redirect points to.

    A watchdog thread cuts the connection when the total time limit passes, so a server that
    drips one byte at a time cannot hold the fetch beyond ``total_timeout``.
    """
    target = _parse_url(url, where)
    addresses = _checked_addresses(target, where, pol)
    _check_deadline(deadline, where, pol)
    conn = _PinnedConnection(target, addresses, pol)
    watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), conn.abort)
    watchdog.daemon = True
    watchdog.start()
    try:
        try:
            result = _exchange(conn, target, url, where, pol, deadline)
        except TimeoutError as exc:
            if conn.aborted:
                raise _total_limit_error(where, pol) from exc
            raise FetchError(
                f"cannot fetch {where}: timed out (connect {pol.connect_timeout:g}s, "
                f"read {pol.read_timeout:g}s)"
            ) from exc
        except ssl.SSLError as exc:
            if conn.aborted:
                raise _total_limit_error(where, pol) from exc
            raise FetchError(f"cannot fetch {where}: TLS error ({exc})") from exc
        except (OSError, ValueError, http.client.HTTPException) as exc:
            if conn.aborted:
                raise _total_limit_error(where, pol) from exc
            raise FetchError(f"cannot fetch {where}: {type(exc).__name__}: {exc}") from exc
        if conn.aborted:  # a cut connection can look like a short, complete body
            raise _total_limit_error(where, pol)
    finally:
        watchdog.cancel()
        conn.close()
    if isinstance(result, str):
        return result
    body, content_type = result
    if sniff_image_type(body) is None:
        raise FetchError(
            f"cannot fetch {where}: the content (type {content_type or 'not given'}) is not a "
            f"supported image: {describe_unknown(body)}"
        )
    return body


def _exchange(
    conn: _PinnedConnection,
    target: _Target,
    url: str,
    where: str,
    pol: FetchPolicy,
    deadline: float,
) -> tuple[bytes, str] | str:
    """Send the request; return ``(body, content type)`` or a redirect's absolute URL."""
    conn.request(
        "GET",
        target.request_path,
        headers={
            "User-Agent": _USER_AGENT,
            "Accept": "image/*",
            "Accept-Encoding": "identity",
            "Connection": "close",
        },
    )
    response = conn.getresponse()
    if response.status in _REDIRECT_STATUSES:
        location = response.getheader("Location")
        if not location:
            raise FetchError(
                f"cannot fetch {where}: HTTP {response.status} redirect without a Location"
            )
        return urllib.parse.urljoin(url, location.strip())
    if response.status != 200:
        raise FetchError(
            f"cannot fetch {where}: the server answered HTTP {response.status} {response.reason}"
        )
    content_type = _check_headers(response, where, pol)
    return _read_limited(response, where, pol, deadline), content_type


def _total_limit_error(where: str, pol: FetchPolicy) -> FetchError:
    return FetchError(
        f"cannot fetch {where}: took longer than the total limit of {pol.total_timeout:g}s"
    )


def _check_headers(response: http.client.HTTPResponse, where: str, pol: FetchPolicy) -> str:
    """Check Content-Type and Content-Length before reading the body; return the type."""
    raw_type = response.getheader("Content-Type") or ""
    content_type = raw_type.split(";", 1)[0].strip().lower()
    if content_type not in _OCTET_STREAM_TYPES and not content_type.startswith(
        pol.allowed_content_types
    ):
        hint = (
            " (the URL points to a web page, not to the image itself)"
            if content_type in ("text/html", "application/xhtml+xml")
            else ""
        )
        raise FetchError(
            f"cannot fetch {where}: the server sent {content_type!r}, not an image{hint}"
        )
    length = response.getheader("Content-Length")
    if length is not None:
        try:
            declared = int(length.strip())
        except ValueError:
            declared = -1  # malformed: rely on the streaming limit
        if declared > pol.max_bytes:
            raise FetchError(
                f"cannot fetch {where}: the server announces {declared} bytes, over the "
                f"limit of {pol.max_bytes} (max_bytes)"
            )
    return content_type


def _read_limited(
    response: http.client.HTTPResponse, where: str, pol: FetchPolicy, deadline: float
) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while True:
        _check_deadline(deadline, where, pol)
        # read1: at most one read from the socket, so the deadline is checked often.
        chunk = response.read1(min(_CHUNK, pol.max_bytes + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        if total > pol.max_bytes:
            raise FetchError(
                f"cannot fetch {where}: the body is larger than the limit of "
                f"{pol.max_bytes} bytes (max_bytes)"
            )
    announced = (response.getheader("Content-Length") or "").strip()
    if announced.isdigit() and total < int(announced):
        raise FetchError(
            f"cannot fetch {where}: the connection ended after {total} of the {announced} bytes "
            "the server announced; try again"
        )
    return b"".join(chunks)


def _check_deadline(deadline: float, where: str, pol: FetchPolicy) -> None:
    if time.monotonic() > deadline:
        raise _total_limit_error(where, pol)
