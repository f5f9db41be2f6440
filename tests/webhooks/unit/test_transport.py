"""The webhook transport against a real receiver: results, limits, and refused targets."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
from collections.abc import Callable, Iterator
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from tests.support.receiver import Receiver, Reply
from webhooks_app.transport import (
    CUT_AT_TIMEOUT,
    SendResult,
    TargetPolicy,
    check_url_literal,
    parse_retry_after,
    send,
)

BODY = b'{"event":"message","session":"default"}'
HEADERS = {"Content-Type": "application/json", "X-Webhook-Request-Id": "evt_1"}
OPEN = TargetPolicy()
BLOCK_PRIVATE = TargetPolicy(block_private=True)
LOOPBACK_ALLOWED = TargetPolicy(block_private=True,
                                allowed=(ipaddress.ip_network("127.0.0.0/8"),))


def post(url: str, *, timeout: float = 5.0, max_bytes: int = 20_000,
         policy: TargetPolicy | None = OPEN) -> SendResult:
    return send(url, BODY, HEADERS, timeout=timeout, max_bytes=max_bytes, policy=policy)


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every address a socket was opened to (a spy: the connection still happens). It watches
    the socket itself, below any HTTP library: the event loop's `sock_connect` calls it."""
    opened: list[tuple[str, int]] = []
    real: Callable[..., Any] = socket.socket.connect

    def spy(sock: socket.socket, address: Any) -> Any:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            opened.append((address[0], address[1]))
        return real(sock, address)

    monkeypatch.setattr(socket.socket, "connect", spy)
    return opened


# --- answers ----------------------------------------------------------------------------------
def test_it_posts_the_exact_body_and_headers_and_keeps_a_2xx_answer(receiver: Receiver) -> None:
    receiver.reply_with(Reply(201, body=b'{"received":true}'))

    result = post(receiver.url())

    assert (result.status_code, result.body, result.error) == (201, b'{"received":true}', "")
    assert result.ok and not result.gone and not result.refused
    [request] = receiver.wait_for(1)
    assert (request.method, request.path, request.body) == ("POST", "/hook", BODY)
    assert request.headers["x-webhook-request-id"] == "evt_1"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["host"] == f"127.0.0.1:{receiver.port}"


def test_it_keeps_a_non_2xx_answer_without_calling_it_an_error(receiver: Receiver) -> None:
    receiver.reply_with(Reply(500, body=b"boom"))

    result = post(receiver.url())

    assert (result.status_code, result.body, result.error) == (500, b"boom", "")
    assert not result.ok and not result.gone


def test_it_does_not_follow_a_redirect(receiver: Receiver) -> None:
    receiver.reply_with(Reply(302, headers={"Location": receiver.url("/elsewhere")}))

    result = post(receiver.url())

    assert result.status_code == 302 and not result.ok
    assert [r.path for r in receiver.requests] == ["/hook"]


def test_a_410_means_gone(receiver: Receiver) -> None:
    receiver.reply_with(Reply(410))

    result = post(receiver.url())

    assert result.gone and not result.ok


def test_it_reads_retry_after_in_seconds(receiver: Receiver) -> None:
    receiver.reply_with(Reply(503, headers={"Retry-After": "120"}))

    assert post(receiver.url()).retry_after == 120.0


def test_it_reads_retry_after_as_an_http_date(receiver: Receiver) -> None:
    in_an_hour = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    receiver.reply_with(Reply(429, headers={"Retry-After": format_datetime(in_an_hour, True)}))

    retry_after = post(receiver.url()).retry_after

    assert retry_after is not None and 3000 < retry_after <= 3600


@pytest.mark.parametrize(("value", "expected"), [
    ("0", 0.0),
    (" 30 ", 30.0),
    ("Wed, 21 Oct 2015 07:28:00 GMT", 60.0),
    ("Wed, 21 Oct 2015 07:00:00 GMT", 0.0),  # already past
    ("-5", None),
    ("soon", None),
    ("", None),
    (None, None),
])
def test_retry_after_values(value: str | None, expected: float | None) -> None:
    now = dt.datetime(2015, 10, 21, 7, 27, tzinfo=dt.UTC)

    assert parse_retry_after(value, now=now) == expected


# --- limits -----------------------------------------------------------------------------------
@pytest.mark.timeout(15)
def test_a_receiver_answering_after_the_timeout_gives_an_error(receiver: Receiver) -> None:
    receiver.reply_with(Reply(200, delay=10))

    result = post(receiver.url(), timeout=0.3)

    assert result.status_code is None and result.error and not result.ok


@pytest.mark.timeout(15)
def test_an_endless_body_is_cut_at_max_bytes(receiver: Receiver) -> None:
    receiver.reply_with(Reply(200, endless=True))

    result = post(receiver.url(), max_bytes=1000)

    assert (result.status_code, len(result.body), result.error) == (200, 1000, "")
    assert result.ok


@pytest.mark.timeout(15)
def test_a_trickled_body_is_cut_at_the_deadline_and_keeps_the_status(receiver: Receiver) -> None:
    receiver.reply_with(Reply(200, body=b"x" * 100, trickle=0.02, endless=True))

    result = post(receiver.url(), timeout=0.5, max_bytes=20_000)

    assert result.status_code == 200 and result.error == CUT_AT_TIMEOUT
    assert len(result.body) < 20_000 and set(result.body) <= {ord("x")}


def test_a_closed_port_gives_an_error_not_an_exception() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    result = post(f"http://127.0.0.1:{port}/hook")

    assert result.status_code is None and result.error and not result.refused


@pytest.mark.parametrize("url", ["ftp://example.com/hook", "not a url", "http://"])
def test_a_url_it_cannot_post_to_gives_an_error(url: str) -> None:
    result = post(url)

    assert result.status_code is None and result.error


# --- refused targets --------------------------------------------------------------------------
def test_the_metadata_address_is_never_contacted(
        receiver: Receiver, connections: list[tuple[str, int]]) -> None:
    assert post(receiver.url()).ok  # the spy sees real connections
    assert connections == [("127.0.0.1", receiver.port)]

    result = post("http://169.254.169.254/latest/meta-data/", policy=OPEN)

    assert result.refused and result.status_code is None
    assert result.error == "refused: 169.254.169.254 is a cloud metadata address"
    assert connections == [("127.0.0.1", receiver.port)]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]"])
def test_blocking_private_networks_refuses_loopback_by_address_or_by_name(
        receiver: Receiver, connections: list[tuple[str, int]], host: str) -> None:
    result = post(f"http://{host}:{receiver.port}/hook", policy=BLOCK_PRIVATE)

    assert result.refused and result.status_code is None
    assert result.error.startswith("refused: ") and "loopback" in result.error
    assert connections == [] and receiver.count == 0


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_an_allowed_network_opens_loopback_again(receiver: Receiver, host: str) -> None:
    result = post(receiver.url(host=host), policy=LOOPBACK_ALLOWED)

    assert result.ok, result.error
    assert receiver.wait_for(1)[0].headers["host"] == f"{host}:{receiver.port}"


def test_without_a_policy_the_settings_apply(receiver: Receiver, settings: Any) -> None:
    settings.WEBHOOK_BLOCK_PRIVATE_NETWORKS = True
    settings.WEBHOOK_ALLOWED_NETWORKS = []

    result = post(receiver.url(), policy=None)

    assert result.refused and receiver.count == 0


def test_the_policy_is_read_from_settings(settings: Any) -> None:
    settings.WEBHOOK_BLOCK_PRIVATE_NETWORKS = True
    settings.WEBHOOK_ALLOWED_NETWORKS = ["10.1.0.0/16", "fd12::/16"]

    assert TargetPolicy.from_settings() == TargetPolicy(
        block_private=True,
        allowed=(ipaddress.ip_network("10.1.0.0/16"), ipaddress.ip_network("fd12::/16")),
    )


@pytest.mark.parametrize(("address", "reason"), [
    ("169.254.169.254", "a cloud metadata address"),
    ("169.254.1.1", "a link-local address"),
    ("fd00:ec2::254", "a cloud metadata address"),
    ("100.100.100.200", "a cloud metadata address"),
    ("fe80::1", "a link-local address"),
    ("0.0.0.0", "an unspecified address"),
    ("::", "an unspecified address"),
    ("224.0.0.251", "a multicast address"),
    ("ff02::1", "a multicast address"),
    ("255.255.255.255", "a reserved address"),
    ("::ffff:169.254.169.254", "a cloud metadata address (IPv4-mapped 169.254.169.254)"),
    ("::ffff:0.0.0.0", "an unspecified address (IPv4-mapped 0.0.0.0)"),
    ("64:ff9b::a9fe:a9fe", "a cloud metadata address (embedded 169.254.169.254)"),
    ("2002:a9fe:a9fe::1", "a cloud metadata address (embedded 169.254.169.254)"),
    ("::a9fe:a9fe", "a reserved address (IPv4-compatible)"),
])
def test_some_addresses_are_always_refused(address: str, reason: str) -> None:
    everything = TargetPolicy(allowed=(ipaddress.ip_network("0.0.0.0/0"),
                                       ipaddress.ip_network("::/0")))

    assert OPEN.refusal(address) == reason
    assert everything.refusal(address) == reason


@pytest.mark.parametrize(("address", "reason"), [
    ("127.0.0.1", "a loopback address"),
    ("127.255.0.9", "a loopback address"),
    ("::1", "a loopback address"),
    ("10.0.0.1", "a private address"),
    ("172.16.5.4", "a private address"),
    ("172.31.255.255", "a private address"),
    ("192.168.1.1", "a private address"),
    ("fd12:3456::1", "a private address"),
    ("100.64.0.1", "a shared (CGNAT) address"),
    ("::ffff:127.0.0.1", "a loopback address (IPv4-mapped 127.0.0.1)"),
    ("::ffff:10.1.2.3", "a private address (IPv4-mapped 10.1.2.3)"),
    ("::ffff:192.168.0.1", "a private address (IPv4-mapped 192.168.0.1)"),
    ("::ffff:100.64.0.1", "a shared (CGNAT) address (IPv4-mapped 100.64.0.1)"),
    ("64:ff9b::7f00:1", "a loopback address (embedded 127.0.0.1)"),
])
def test_private_addresses_are_refused_only_when_blocked(address: str, reason: str) -> None:
    assert OPEN.refusal(address) is None
    assert BLOCK_PRIVATE.refusal(address) == reason


@pytest.mark.parametrize("address", [
    "8.8.8.8", "172.32.0.1", "100.128.0.1", "2606:4700::1111", "::ffff:8.8.8.8",
    "64:ff9b::808:808",
])
def test_public_addresses_pass_even_when_private_ones_are_blocked(address: str) -> None:
    assert BLOCK_PRIVATE.refusal(address) is None


def test_an_allowed_network_opens_only_itself() -> None:
    policy = TargetPolicy(block_private=True, allowed=(ipaddress.ip_network("10.1.0.0/16"),))

    assert policy.refusal("10.1.2.3") is None
    assert policy.refusal("::ffff:10.1.2.3") is None
    assert policy.refusal("10.2.0.1") == "a private address"
    assert policy.refusal("127.0.0.1") == "a loopback address"


@pytest.mark.parametrize(("url", "policy", "expected"), [
    ("http://169.254.169.254/latest", OPEN, "169.254.169.254 is a cloud metadata address"),
    ("http://[fd00:ec2::254]/", OPEN, "fd00:ec2::254 is a cloud metadata address"),
    ("http://[fe80::1]:8080/x", OPEN, "fe80::1 is a link-local address"),
    ("http://0.0.0.0:3000/", OPEN, "0.0.0.0 is an unspecified address"),
    ("http://[::ffff:169.254.169.254]/", OPEN,
     "::ffff:a9fe:a9fe is a cloud metadata address (IPv4-mapped 169.254.169.254)"),
    ("http://127.0.0.1:3000/hook", OPEN, None),
    ("http://127.0.0.1:3000/hook", BLOCK_PRIVATE, "127.0.0.1 is a loopback address"),
    ("http://[::1]/hook", BLOCK_PRIVATE, "::1 is a loopback address"),
    ("http://127.1/hook", BLOCK_PRIVATE, "127.0.0.1 is a loopback address"),
    ("http://2130706433/hook", BLOCK_PRIVATE, "127.0.0.1 is a loopback address"),
    ("http://127.0.0.1/hook", LOOPBACK_ALLOWED, None),
    ("http://localhost/hook", BLOCK_PRIVATE, None),  # a name: checked when sending
    ("https://example.com/hook", BLOCK_PRIVATE, None),
    ("https://93.184.215.14/hook", BLOCK_PRIVATE, None),
])
def test_check_url_literal(url: str, policy: TargetPolicy, expected: str | None) -> None:
    assert check_url_literal(url, policy) == expected


# --- pooled connections and a DNS answer that changes ---------------------------------------
@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A switchable DNS answer: `dns[name] = address` is what the system resolver says."""
    answers: dict[str, str] = {}
    real: Callable[..., Any] = socket.getaddrinfo

    def lookup(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in answers:
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "",
                     (answers[host], int(port)))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    return answers


@pytest.mark.parametrize(("changed_to", "reason"), [
    ("169.254.169.254", "a cloud metadata address"),
    ("10.1.2.3", "a private address"),
])
def test_a_pooled_connection_never_reaches_an_address_the_new_dns_answer_refuses(
        dns: dict[str, str], connections: list[tuple[str, int]], changed_to: str,
        reason: str) -> None:
    with Receiver(keep_alive=True) as receiver:
        url = receiver.url(host="hooks.example.test")
        dns["hooks.example.test"] = "127.0.0.1"
        first = post(url, policy=LOOPBACK_ALLOWED)
        again = post(url, policy=LOOPBACK_ALLOWED)
        assert first.ok and again.ok, (first.error, again.error)
        one, two = receiver.wait_for(2)
        assert one.client_port == two.client_port  # the second went over the pooled connection

        dns["hooks.example.test"] = changed_to  # DNS rebinding: same name, another address
        refused = post(url, policy=LOOPBACK_ALLOWED)

        assert refused.refused and refused.status_code is None
        assert refused.error == f"refused: {changed_to} is {reason}"
        assert receiver.count == 2
        assert connections == [("127.0.0.1", receiver.port)]


def test_a_pool_is_not_reused_once_the_answer_no_longer_holds_its_address(
        dns: dict[str, str], connections: list[tuple[str, int]]) -> None:
    with Receiver(keep_alive=True) as receiver:
        url = receiver.url(host="hooks.example.test")
        dns["hooks.example.test"] = "127.0.0.1"
        assert post(url).ok

        dns["hooks.example.test"] = "127.0.0.2"  # allowed too, but not where the pool went
        moved = post(url)

        # Nobody listens on 127.0.0.2: the attempt went there, not over the pooled connection.
        assert moved.status_code is None and not moved.refused
        assert connections == [("127.0.0.1", receiver.port), ("127.0.0.2", receiver.port)]
        assert receiver.count == 1


def test_a_pooled_connection_carries_no_cookie_from_an_earlier_answer(
        dns: dict[str, str]) -> None:
    with Receiver(keep_alive=True) as receiver:
        url = receiver.url(host="hooks.example.test")  # a name: cookie jars skip addresses
        dns["hooks.example.test"] = "127.0.0.1"
        receiver.reply_with(Reply(200, headers={"Set-Cookie": "session=abc; Path=/"}))

        assert post(url).ok and post(url).ok

        first, second = receiver.wait_for(2)
        assert first.client_port == second.client_port
        assert "cookie" not in second.headers


# --- TLS: the name is what is verified, wherever the socket goes ------------------------------
@pytest.fixture
def tls_receiver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)

    def certificate(subject: str, key: Any, issuer: Any, issuer_key: Any, ca: bool) -> Any:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        builder = (
            x509.CertificateBuilder()
            .subject_name(name).issuer_name(issuer.subject if issuer else name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                issuer_key.public_key()), critical=False)
        )
        if ca:
            builder = builder.add_extension(x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        else:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False,
            ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                            critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(
        ec.SECP256R1())
    ca = certificate("webhook test CA", ca_key, None, ca_key, ca=True)
    leaf = certificate("localhost", leaf_key, ca, ca_key, ca=False)
    pem = serialization.Encoding.PEM
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(pem))
    (tmp_path / "leaf.pem").write_bytes(leaf.public_bytes(pem))
    (tmp_path / "leaf.key").write_bytes(leaf_key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "leaf.pem", tmp_path / "leaf.key")
    with Receiver(tls=context) as started:
        yield started


def test_https_sends_the_name_for_sni_and_verifies_the_certificate_against_it(
        tls_receiver: Receiver) -> None:
    result = post(tls_receiver.url(host="localhost"))

    assert result.ok, result.error
    assert tls_receiver.server_names == ["localhost"]
    assert tls_receiver.wait_for(1)[0].headers["host"] == f"localhost:{tls_receiver.port}"


def test_https_to_a_name_the_certificate_does_not_hold_fails(tls_receiver: Receiver) -> None:
    result = post(tls_receiver.url(host="127.0.0.1"))

    assert result.status_code is None and "CERTIFICATE_VERIFY_FAILED" in result.error
    assert tls_receiver.count == 0
