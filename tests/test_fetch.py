"""Tests for the URL guard, :func:`logobrand.images_fetch.fetch_url`, on a local HTTP server.

The server runs on 127.0.0.1 in a thread; nothing leaves the machine. Private addresses are
allowed (``DEFAULT_POLICY``) except where a test checks that they are refused.
"""

from __future__ import annotations

import dataclasses
import io
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image

from logobrand import images_fetch
from logobrand.errors import FetchError, InvalidArgumentError
from logobrand.images import load_image
from logobrand.images_fetch import (
    DEFAULT_MAX_BYTES,
    DEFAULT_POLICY,
    SERVER_POLICY,
    FetchPolicy,
    blocked_reason,
    fetch_url,
)


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (6, 4), (10, 200, 30)).save(buf, "PNG")
    return buf.getvalue()


PNG = _png()
HTML = b"<!DOCTYPE html><html><body>not an image</body></html>"

# Quick limits so the slow routes finish fast.
FAST = FetchPolicy(connect_timeout=2.0, read_timeout=0.3, total_timeout=10.0)


class Handler(BaseHTTPRequestHandler):
    """Routes for every case; HTTP/1.0, so a body without Content-Length ends at close."""

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output quiet."""

    def _send(
        self, status: int, body: bytes, content_type: str | None, length: bool = True
    ) -> None:
        self.send_response(status)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str | None, status: int = 302) -> None:
        self.send_response(status)
        if location is not None:
            self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        path = self.path
        port = self.server.server_port  # type: ignore[attr-defined]
        if path == "/img.png":
            self._send(200, PNG, "image/png")
        elif path == "/img-params.png":
            self._send(200, PNG, "Image/PNG; charset=binary")
        elif path == "/octet":
            self._send(200, PNG, "application/octet-stream")
        elif path == "/junk-octet":
            self._send(200, b"\x00\x01" * 100, "application/octet-stream")
        elif path == "/html":
            self._send(200, HTML, "text/html; charset=utf-8")
        elif path == "/liar":
            self._send(200, HTML, "image/png")
        elif path == "/svg":
            self._send(200, b'<svg xmlns="http://www.w3.org/2000/svg"/>', "image/svg+xml")
        elif path == "/slow-headers":
            time.sleep(1.0)
            self._send(200, PNG, "image/png")
        elif path == "/slow-body":
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            self.wfile.write(PNG[:10])
            self.wfile.flush()
            time.sleep(1.0)
            self.wfile.write(PNG[10:])
        elif path == "/drip":
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            self.wfile.write(PNG[:8])
            for _ in range(15):
                self.wfile.write(b"\x00")
                self.wfile.flush()
                time.sleep(0.1)
        elif path == "/big-declared":
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(50_000_000))
            self.end_headers()
            self.wfile.write(PNG)
        elif path == "/short":  # announces the whole PNG, sends half, closes
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(PNG)))
            self.end_headers()
            self.wfile.write(PNG[: len(PNG) // 2])
        elif path == "/big-stream":
            self._send(200, PNG + b"\x00" * 5000, "image/png", length=False)
        elif path.startswith("/chain/"):
            left = int(path.rsplit("/", 1)[1])
            self._redirect("/img.png" if left == 0 else f"/chain/{left - 1}")
        elif path == "/loop":
            self._redirect("/loop", 301)
        elif path == "/relative":
            self._redirect("img.png", 307)
        elif path == "/no-location":
            self._redirect(None)
        elif path == "/to-loopback":
            self._redirect(f"http://127.0.0.1:{port}/img.png")
        elif path == "/to-ftp":
            self._redirect("ftp://example.com/a.png")
        elif path == "/to-metadata":
            self._redirect("http://169.254.169.254/latest/meta-data/")
        else:
            self._send(404, b"nope", "text/plain")


class QuietServer(ThreadingHTTPServer):
    """Does not print the broken pipes that the refused fetches cause on purpose."""

    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """Ignore errors of handlers whose client hung up."""


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """Base URL of the local test server, e.g. ``http://127.0.0.1:40123``."""
    httpd = QuietServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def not_tls_server() -> Iterator[int]:
    """A TCP port that answers any connection with plain text and closes (not TLS)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.settimeout(5.0)

    def serve() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            conn.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\nplain text, not TLS\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        listener.close()
        thread.join(timeout=5)


# ---------------------------------------------------------------------------------------------
# Success


def test_fetch_returns_the_image_bytes(server: str) -> None:
    assert fetch_url(f"{server}/img.png") == PNG
    assert fetch_url(f"{server}/img-params.png", policy=FAST) == PNG


def test_octet_stream_with_image_magic_is_accepted(server: str) -> None:
    assert fetch_url(f"{server}/octet") == PNG


def test_redirects_within_the_limit_are_followed(server: str) -> None:
    assert fetch_url(f"{server}/chain/2", max_redirects=3) == PNG  # 3 redirects
    assert fetch_url(f"{server}/relative") == PNG


def test_load_image_fetches_urls(server: str) -> None:
    out = load_image(f"{server}/img.png")
    assert out.shape == (4, 6, 3)
    assert np.all(out == (10, 200, 30))


def test_environment_proxies_are_not_used(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("http_proxy", "http://10.255.255.1:9")
    monkeypatch.setenv("HTTP_PROXY", "http://10.255.255.1:9")
    assert fetch_url(f"{server}/img.png", policy=FAST) == PNG


# ---------------------------------------------------------------------------------------------
# Address guard


def test_loopback_is_refused_when_private_addresses_are_not_allowed(server: str) -> None:
    url = f"{server}/img.png"
    with pytest.raises(FetchError, match="loopback") as info:
        fetch_url(url, allow_private=False)
    assert url in str(info.value)
    with pytest.raises(FetchError, match="loopback"):
        fetch_url(url, policy=SERVER_POLICY)
    with pytest.raises(FetchError, match="loopback"):
        load_image(url, fetch_policy=SERVER_POLICY)


def test_localhost_name_is_refused_too(server: str) -> None:
    port = server.rsplit(":", 1)[1]
    with pytest.raises(FetchError, match="loopback"):
        fetch_url(f"http://localhost:{port}/img.png", policy=SERVER_POLICY)


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata, link-local
        "http://10.0.0.1/a.png",
        "http://192.168.1.1/a.png",
        "http://[::1]:8080/a.png",
        "http://0.0.0.0:8080/a.png",
        "http://[::ffff:127.0.0.1]/a.png",
        "http://224.0.0.1/a.png",
    ],
)
def test_private_addresses_are_refused_before_connecting(url: str) -> None:
    started = time.monotonic()
    with pytest.raises(FetchError, match="non-public"):
        fetch_url(url, policy=SERVER_POLICY)
    assert time.monotonic() - started < 1.0


def test_redirect_from_an_allowed_host_to_a_private_address_is_refused(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Simulates a public first hop: the address check lets exactly one address through."""
    real_check = images_fetch._blocked_reason
    passes = {"left": 1}

    def first_hop_is_public(address: str) -> str | None:
        if passes["left"] > 0:
            passes["left"] -= 1
            return None
        return real_check(address)

    monkeypatch.setattr(images_fetch, "_blocked_reason", first_hop_is_public)
    with pytest.raises(FetchError, match="loopback") as info:
        fetch_url(f"{server}/to-loopback", policy=SERVER_POLICY)
    assert "redirected to" in str(info.value)
    assert passes["left"] == 0  # the first hop really was checked and let through

    passes["left"] = 1
    with pytest.raises(FetchError, match="link-local"):
        fetch_url(f"{server}/to-metadata", policy=SERVER_POLICY)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("8.8.8.8", None),
        ("1.1.1.1", None),
        ("2606:4700:4700::1111", None),
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.0.1", "private"),
        ("fc00::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("100.64.0.1", "not globally routable"),  # carrier-grade NAT
    ],
)
def test_blocked_reason(address: str, reason: str | None) -> None:
    assert blocked_reason(address) == reason


@pytest.mark.parametrize(
    "address", ["::ffff:127.0.0.1", "::ffff:10.0.0.1", "2002:7f00:1::1", "64:ff9b::a00:1"]
)
def test_ipv4_embedded_in_ipv6_is_unwrapped(address: str) -> None:
    reason = blocked_reason(address)
    assert reason is not None
    assert "embedded" in reason


# ---------------------------------------------------------------------------------------------
# Schemes and URLs


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/a.png",
        "file:///etc/passwd",
        "gopher://example.com/",
        "data:image/png;base64,AAAA",
        "//example.com/a.png",
        "example.com/a.png",
        "http:///a.png",
        "http://user:secret@127.0.0.1/a.png",
        "http://127.0.0.1:99999/a.png",
    ],
)
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(FetchError) as info:
        fetch_url(url)
    assert url in str(info.value)


def test_file_scheme_says_what_to_do() -> None:
    with pytest.raises(FetchError, match="pass the local path"):
        fetch_url("file:///tmp/a.png")


def test_redirect_to_another_scheme_is_refused(server: str) -> None:
    with pytest.raises(FetchError, match="only http"):
        fetch_url(f"{server}/to-ftp")


# ---------------------------------------------------------------------------------------------
# Limits


def test_read_timeout(server: str) -> None:
    started = time.monotonic()
    with pytest.raises(FetchError, match="timed out") as info:
        fetch_url(f"{server}/slow-headers", policy=FAST)
    assert f"{server}/slow-headers" in str(info.value)
    with pytest.raises(FetchError, match="timed out"):
        fetch_url(f"{server}/slow-body", policy=FAST)
    assert time.monotonic() - started < 3.0


def test_total_timeout_stops_a_slow_drip(server: str) -> None:
    policy = dataclasses.replace(FAST, read_timeout=1.0, total_timeout=0.4)
    started = time.monotonic()
    with pytest.raises(FetchError, match="total limit"):
        fetch_url(f"{server}/drip", policy=policy)
    assert time.monotonic() - started < 1.5


def test_declared_oversize_body_is_refused_before_reading(server: str) -> None:
    with pytest.raises(FetchError, match="announces 50000000 bytes"):
        fetch_url(f"{server}/big-declared", policy=FAST)


def test_a_body_shorter_than_announced_is_a_fetch_error(server: str) -> None:
    with pytest.raises(FetchError, match=rf"ended after {len(PNG) // 2} of the {len(PNG)} bytes"):
        fetch_url(f"{server}/short", policy=FAST)


def test_streamed_oversize_body_is_cut_off(server: str) -> None:
    with pytest.raises(FetchError, match="larger than the limit of 1000"):
        fetch_url(f"{server}/big-stream", max_bytes=1000)
    assert fetch_url(f"{server}/img.png", max_bytes=len(PNG)) == PNG


def test_wrong_content_type_is_refused(server: str) -> None:
    with pytest.raises(FetchError, match=r"text/html.*web page"):
        fetch_url(f"{server}/html")


def test_image_type_with_non_image_body_is_refused(server: str) -> None:
    with pytest.raises(FetchError, match="HTML/text"):
        fetch_url(f"{server}/liar")
    with pytest.raises(FetchError, match="SVG"):
        fetch_url(f"{server}/svg")
    with pytest.raises(FetchError, match="not a supported image"):
        fetch_url(f"{server}/junk-octet")


def test_custom_content_types(server: str) -> None:
    with pytest.raises(FetchError, match="image/png"):
        fetch_url(f"{server}/img.png", allowed_content_types=("image/jpeg",))


def test_too_many_redirects(server: str) -> None:
    with pytest.raises(FetchError, match="too many redirects"):
        fetch_url(f"{server}/chain/3", max_redirects=3)
    with pytest.raises(FetchError, match="too many redirects"):
        fetch_url(f"{server}/loop")
    with pytest.raises(FetchError, match="too many redirects"):
        fetch_url(f"{server}/relative", max_redirects=0)


def test_http_errors_and_broken_redirects(server: str) -> None:
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch_url(f"{server}/missing.png")
    with pytest.raises(FetchError, match="without a Location"):
        fetch_url(f"{server}/no-location")


def test_connection_refused_is_a_fetch_error() -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    with pytest.raises(FetchError, match="ConnectionRefused"):
        fetch_url(f"http://127.0.0.1:{port}/a.png", policy=FAST)


def test_https_to_a_non_tls_server_is_a_fetch_error(not_tls_server: int) -> None:
    with pytest.raises(FetchError, match="TLS"):
        fetch_url(f"https://127.0.0.1:{not_tls_server}/a.png", policy=FAST)


# ---------------------------------------------------------------------------------------------
# Policies


def test_policies() -> None:
    assert DEFAULT_POLICY.allow_private is True
    assert SERVER_POLICY.allow_private is False
    assert DEFAULT_POLICY.max_bytes == DEFAULT_MAX_BYTES == 20 * 1024 * 1024
    assert (DEFAULT_POLICY.connect_timeout, DEFAULT_POLICY.read_timeout) == (5.0, 10.0)
    assert DEFAULT_POLICY.max_redirects == 3
    assert DEFAULT_POLICY.allowed_content_types == ("image/",)
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT_POLICY.allow_private = False  # type: ignore[misc]


@pytest.mark.parametrize(
    "make",
    [
        lambda: FetchPolicy(max_bytes=0),
        lambda: FetchPolicy(max_bytes=True),
        lambda: FetchPolicy(connect_timeout=0),
        lambda: FetchPolicy(read_timeout=-1.0),
        lambda: FetchPolicy(read_timeout=float("inf")),  # overflowed the socket timeout
        lambda: FetchPolicy(total_timeout=float("nan")),
        lambda: fetch_url("http://127.0.0.1/", timeout=float("inf")),
        lambda: FetchPolicy(max_redirects=-1),
        lambda: FetchPolicy(allowed_content_types="image/"),  # type: ignore[arg-type]
        lambda: fetch_url("http://127.0.0.1/", timeout=(1.0, 2.0, 3.0)),  # type: ignore[arg-type]
        lambda: fetch_url("http://127.0.0.1/", policy="strict"),  # type: ignore[arg-type]
    ],
)
def test_invalid_policy_values(make: Callable[[], object]) -> None:
    with pytest.raises(InvalidArgumentError):
        make()


def test_keyword_overrides_take_precedence_over_the_policy(server: str) -> None:
    # SERVER_POLICY refuses loopback, the explicit keyword allows it for this call only.
    assert fetch_url(f"{server}/img.png", policy=SERVER_POLICY, allow_private=True) == PNG
    assert fetch_url(f"{server}/img.png", timeout=(1.0, 1.0)) == PNG
    assert SERVER_POLICY.allow_private is False
