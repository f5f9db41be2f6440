"""Outgoing webhook HTTP: one POST, checked against the target policy, never raising.

The address check and the connection must be about the same address, or a name that resolves to a
public address when checked and to 169.254.169.254 when connected (DNS rebinding) gets through. So
`send` resolves the name itself, checks every address, and hands httpx a network backend pinned to
the allowed ones: httpx still sees the URL's hostname, so the `Host` header, TLS SNI and the
certificate check are all about the name, while the socket only ever goes to a checked address.
The same backend enforces the one deadline on every socket operation, which httpx's per-operation
timeouts cannot do.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import socket
import ssl
import threading
import time
import typing
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import httpcore
import httpx
from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

CUT_AT_TIMEOUT = "response cut at the timeout"


def _nets(*pairs: tuple[str, str]) -> tuple[tuple[IPNetwork, str], ...]:
    return tuple((ipaddress.ip_network(net), reason) for net, reason in pairs)


# Never contacted, whatever the settings say: cloud metadata services and addresses that are not
# a single reachable host. The specific metadata entries come first so the reason names them.
ALWAYS_REFUSED = _nets(
    ("169.254.169.254/32", "a cloud metadata address"),
    ("fd00:ec2::254/128", "a cloud metadata address"),
    ("100.100.100.200/32", "a cloud metadata address"),
    ("169.254.0.0/16", "a link-local address"),
    ("fe80::/10", "a link-local address"),
    ("0.0.0.0/8", "an unspecified address"),
    ("::/128", "an unspecified address"),
    ("224.0.0.0/4", "a multicast address"),
    ("ff00::/8", "a multicast address"),
    ("240.0.0.0/4", "a reserved address"),
)
# Refused when WEBHOOK_BLOCK_PRIVATE_NETWORKS is on, unless WEBHOOK_ALLOWED_NETWORKS opens them.
PRIVATE = _nets(
    ("127.0.0.0/8", "a loopback address"),
    ("::1/128", "a loopback address"),
    ("10.0.0.0/8", "a private address"),
    ("172.16.0.0/12", "a private address"),
    ("192.168.0.0/16", "a private address"),
    ("fc00::/7", "a private address"),
    ("fec0::/10", "a private address"),
    ("100.64.0.0/10", "a shared (CGNAT) address"),
)
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # deprecated ::a.b.c.d; holds :: and ::1 too
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def _match(table: tuple[tuple[IPNetwork, str], ...], ip: IPAddress) -> str | None:
    return next((reason for net, reason in table
                 if net.version == ip.version and ip in net), None)


@dataclass(frozen=True)
class TargetPolicy:
    """Which addresses a webhook may connect to.

    Allowed networks can open private and loopback ranges (a receiver on the LAN) but never the
    always-refused ones: nobody needs a webhook to reach a cloud metadata service, and a broad
    allowance such as 0.0.0.0/0 must not reopen it by accident.
    """

    block_private: bool = False
    allowed: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_settings(cls) -> TargetPolicy:
        networks = getattr(settings, "WEBHOOK_ALLOWED_NETWORKS", [])
        return cls(
            block_private=bool(getattr(settings, "WEBHOOK_BLOCK_PRIVATE_NETWORKS", False)),
            allowed=tuple(ipaddress.ip_network(net, strict=False) for net in networks),
        )

    def refusal(self, ip: IPAddress | str) -> str | None:
        """Why this address may not be contacted, or None when it may."""
        ip = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
        if isinstance(ip, ipaddress.IPv6Address):
            # Addresses that carry an IPv4 address are judged as that address too: ::ffff:a.b.c.d
            # is a.b.c.d on a dual-stack socket, NAT64 and 6to4 gateways forward to it.
            mapped = ip.ipv4_mapped
            if mapped is not None:
                reason = self.refusal(mapped)
                return reason and f"{reason} (IPv4-mapped {mapped})"
            embedded = ip.sixtofour or (
                ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in _NAT64 else None)
            if embedded is not None and (reason := self.refusal(embedded)):
                return f"{reason} (embedded {embedded})"
            if ip in _IPV4_COMPATIBLE and int(ip) > 1:
                return "a reserved address (IPv4-compatible)"
        reason = _match(ALWAYS_REFUSED, ip)
        if reason:
            return reason
        if any(net.version == ip.version and ip in net for net in self.allowed):
            return None
        return _match(PRIVATE, ip) if self.block_private else None


def _literal_ip(host: str) -> IPAddress | None:
    """The address a host names without DNS, including legacy IPv4 forms such as 127.1."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    # getaddrinfo reads 127.1, 2130706433 and 0x7f.0.0.1 as IPv4 addresses without asking DNS.
    if host and all(c in "0123456789abcdefxABCDEFX." for c in host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def check_url_literal(url: str, policy: TargetPolicy) -> str | None:
    """For config validation: why an IP-literal URL is refused. Names are checked when sending."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None  # not a URL: the URL validator says so
    ip = _literal_ip(host) if host else None
    if ip is None:
        return None
    reason = policy.refusal(ip)
    return reason and f"{ip} is {reason}"


@dataclass
class SendResult:
    status_code: int | None
    body: bytes
    duration_ms: int
    error: str = ""
    retry_after: float | None = None
    # The target is never contacted (a refused address, not an http(s) URL): retrying cannot help.
    refused: bool = False

    @property
    def ok(self) -> bool:
        """The receiver accepted the event; `error` may still note a body cut at the deadline."""
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def gone(self) -> bool:
        return self.status_code == 410


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` value (delay-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # an HTTP date is GMT even when written without a zone
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


# --- the connection: pinned to checked addresses, bounded by one deadline ---------------------
def _remaining(deadline: float, timeout: float | None,
               error: type[httpcore.TimeoutException]) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise error("deadline reached")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every operation ends by the deadline."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: float) -> None:
        self._inner = inner
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(
            max_bytes, _remaining(self._deadline, timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _remaining(self._deadline, timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        left = _remaining(self._deadline, timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, left),
                               self._deadline)

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class _PinnedBackend(httpcore.NetworkBackend):
    """Connects to the checked addresses, in order, whatever host the URL names."""

    def __init__(self, addresses: list[IPAddress], deadline: float) -> None:
        self._addresses = addresses
        self._deadline = deadline
        self._sync = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
                    ) -> httpcore.NetworkStream:
        failure: Exception = httpcore.ConnectError(f"no address to connect to for {host}")
        for address in self._addresses:
            left = _remaining(self._deadline, timeout, httpcore.ConnectTimeout)
            try:
                stream = self._sync.connect_tcp(str(address), port, left, local_address,
                                                socket_options)
            except httpcore.ConnectError as exc:  # refused or unreachable: try the next one
                failure = exc
                continue
            return _DeadlineStream(stream, self._deadline)
        raise failure

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class _ResponseStream(httpx.SyncByteStream):
    def __init__(self, stream: Iterable[bytes]) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        yield from self._stream

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


class _PinnedTransport(httpx.BaseTransport):
    """httpx's HTTPTransport, minus proxies and options, over the pinned backend."""

    def __init__(self, addresses: list[IPAddress], deadline: float,
                 ssl_context: ssl.SSLContext | None) -> None:
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context, max_connections=1, retries=0,
            network_backend=_PinnedBackend(addresses, deadline))

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        response = self._pool.handle_request(httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=request.url.raw_scheme, host=request.url.raw_host,
                             port=request.url.port, target=request.url.raw_path),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        ))
        assert isinstance(response.stream, Iterable)
        return httpx.Response(status_code=response.status, headers=response.headers,
                              stream=_ResponseStream(response.stream),
                              extensions=response.extensions)

    def close(self) -> None:
        self._pool.close()


@functools.lru_cache(maxsize=4)
def _ssl_context(cafile: str | None, capath: str | None) -> ssl.SSLContext:
    # Loading the CA bundle takes milliseconds, so contexts are shared; the arguments key the
    # cache on SSL_CERT_FILE / SSL_CERT_DIR, which httpx reads.
    return httpx.create_ssl_context()


def _resolve(host: str, port: int, deadline: float) -> list[IPAddress]:
    """The host's addresses, in resolver order; the system resolver has no timeout of its own."""
    literal = _literal_ip(host)
    if literal is not None:
        return [literal]
    found: list[IPAddress] = []
    failure: list[OSError] = []

    def lookup() -> None:
        try:
            for *_, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
                ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
                if ip not in found:
                    found.append(ip)
        except OSError as exc:
            failure.append(exc)

    thread = threading.Thread(target=lookup, name="webhook-dns", daemon=True)
    thread.start()
    thread.join(max(0.0, deadline - time.monotonic()))
    if thread.is_alive():
        raise TimeoutError(f"resolving {host} timed out")
    if failure:
        raise OSError(f"cannot resolve {host}: {failure[0]}")
    if not found:
        raise OSError(f"cannot resolve {host}: no address")
    return found


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def send(url: str, body: bytes, headers: dict[str, str], *, timeout: float,
         max_bytes: int = 20_000, policy: TargetPolicy | None = None) -> SendResult:
    """POST `body` to `url` once; every failure, including a refused target, is in the result.

    `timeout` bounds everything (resolving, connecting, sending, the answer and reading its body)
    together. Without a policy the one from settings applies: the metadata addresses are refused
    even then.
    """
    started = time.monotonic()
    deadline = started + timeout

    def result(status_code: int | None = None, body: bytes = b"", **extra: typing.Any,
               ) -> SendResult:
        duration_ms = int((time.monotonic() - started) * 1000)
        return SendResult(status_code=status_code, body=body, duration_ms=duration_ms, **extra)

    try:
        if policy is None:
            policy = TargetPolicy.from_settings()
        target = httpx.URL(url)
        if target.scheme not in ("http", "https") or not target.host:
            # Not echoed: it may hold credentials.
            return result(error="not an http(s) URL", refused=True)
        host = target.raw_host.decode("ascii")
        port = target.port or (443 if target.scheme == "https" else 80)
        addresses = _resolve(host, port, deadline)
        reasons = [(address, policy.refusal(address)) for address in addresses]
        allowed = [address for address, reason in reasons if reason is None]
        if not allowed:
            address, reason = reasons[0]
            return result(error=f"refused: {address} is {reason}", refused=True)
        context = (_ssl_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
                   if target.scheme == "https" else None)
    except Exception as exc:
        return result(error=_describe(exc))

    status_code: int | None = None
    retry_after: float | None = None
    received = bytearray()
    try:
        # trust_env=False: a proxy from the environment would connect instead of the checked
        # address. identity: the kept bytes are the raw ones, and a small compressed reply
        # cannot inflate past the cap.
        with httpx.Client(transport=_PinnedTransport(allowed, deadline, context),
                          follow_redirects=False, trust_env=False, timeout=timeout,
                          headers={"Accept-Encoding": "identity"}) as client, \
                client.stream("POST", target, content=body, headers=headers) as response:
            status_code = response.status_code
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if max_bytes > 0:
                for chunk in response.iter_raw():
                    received += chunk[:max_bytes - len(received)]
                    if len(received) >= max_bytes:
                        break
    except Exception as exc:
        timed_out = isinstance(exc, httpx.TimeoutException | httpcore.TimeoutException)
        if status_code is not None and timed_out:
            error = CUT_AT_TIMEOUT
        elif timed_out:
            error = f"timed out after {timeout:g}s ({_describe(exc)})"
        else:
            error = _describe(exc)
        return result(status_code, bytes(received), error=error, retry_after=retry_after)
    return result(status_code, bytes(received), retry_after=retry_after)
