"""Where sources may live: the address check, its use at connect time (DNS rebinding), and
connections pinned to the checked address with the Host header and TLS name unchanged."""

from __future__ import annotations

import datetime as dt
import json
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from chalicelib.sources.addresses import AddressRefused, GuardedTransport, check_source_url, refusal_reason
from tests.conftest import ROOT

PUBLIC_V4 = "93.184.216.34"
METADATA = "169.254.169.254"

REFUSED_ALWAYS = {
    METADATA: "link-local",
    "169.254.170.2": "link-local",
    "fe80::1": "link-local",
    "fe80::1%1": "link-local",
    "0.0.0.0": "unspecified",
    "0.1.2.3": "unspecified",
    "::": "unspecified",
    "224.0.0.1": "multicast",
    "ff02::1": "multicast",
    "240.0.0.1": "reserved",
    "255.255.255.255": "reserved",
    "::ffff:169.254.169.254": "link-local",
    "64:ff9b::a9fe:a9fe": "link-local",       # NAT64 of the metadata address
    "2002:a9fe:a9fe::1": "link-local",        # 6to4 of the metadata address
    "::ffff:0.0.0.0": "unspecified",
}
REFUSED_UNLESS_ALLOWED = {
    "127.0.0.1": "loopback",
    "127.255.0.9": "loopback",
    "::1": "loopback",
    "::ffff:127.0.0.1": "loopback",
    "::ffff:7f00:1": "loopback",
    "64:ff9b::7f00:1": "loopback",
    "2002:7f00:1::": "loopback",
    "2001:0:4136:e378:8000:63bf:80ff:fffe": "loopback",  # Teredo, client 127.0.0.1 (stored inverted)
    "10.0.0.1": "private",
    "172.16.5.4": "private",
    "192.168.1.1": "private",
    "100.64.0.1": "private",
    "fd00::1": "private",
    "::ffff:10.0.0.1": "private",
    "198.18.0.1": "private",
}
PUBLIC = [PUBLIC_V4, "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"]


@pytest.mark.parametrize(("address", "reason"), sorted(REFUSED_ALWAYS.items()))
def test_unspecified_multicast_link_local_and_reserved_are_always_refused(address, reason):
    assert refusal_reason(address, allow_private=False) == reason
    assert refusal_reason(address, allow_private=True) == reason


@pytest.mark.parametrize(("address", "reason"), sorted(REFUSED_UNLESS_ALLOWED.items()))
def test_loopback_and_private_are_refused_unless_allowed(address, reason):
    assert refusal_reason(address, allow_private=False) == reason
    assert refusal_reason(address, allow_private=True) is None


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address):
    assert refusal_reason(address, allow_private=False) is None


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/",
    "http://127.0.0.1:9001/2018-06-01/runtime/invocation/next",
    "http://0x7f.1:9001/", "http://2130706433/", "http://127.1/", "http://017700000001/",
    "http://0x7f000001/", "http://0/", "http://0.0.0.0:9001/",
    "http://[::ffff:127.0.0.1]:9001/", "http://[::ffff:7f00:1]/", "http://[::1]/", "http://[0:0:0:0:0:0:0:1]/",
    "http://[64:ff9b::a9fe:a9fe]/", "http://10.0.0.1", "http://[fd12::1]:8080/", "https://192.168.0.1/",
    "http://0xa9.254.169.254/", "http://2852039166/",  # the metadata address, spelled as a hex part and an integer
])
def test_odd_spellings_of_private_addresses_are_refused_after_resolution(url):
    with pytest.raises(AddressRefused, match="resolves to"):
        check_source_url(url, allow_private=False)


def test_public_literal_addresses_pass():
    check_source_url(f"https://{PUBLIC_V4}/", allow_private=False)
    check_source_url("https://[2606:4700:4700::1111]:8443/api", allow_private=False)


def test_a_name_is_judged_by_every_address_it_resolves_to():
    resolver = _Resolver({"mixed.test": [PUBLIC_V4, "10.1.2.3"], "public.test": [PUBLIC_V4, "2606:4700::1"]})
    check_source_url("https://public.test/", allow_private=False, resolver=resolver)
    with pytest.raises(AddressRefused, match="private"):
        check_source_url("https://mixed.test/", allow_private=False, resolver=resolver)
    assert resolver.calls == [("public.test", 443), ("mixed.test", 443)]


@pytest.mark.parametrize("url", ["ftp://public.test/", "file:///etc/passwd", "gopher://public.test:70/"])
def test_only_http_and_https_are_accepted(url):
    with pytest.raises(AddressRefused, match="http"):
        check_source_url(url, allow_private=False, resolver=_Resolver({"public.test": [PUBLIC_V4]}))


def test_a_host_that_does_not_resolve_is_refused():
    with pytest.raises(AddressRefused, match="does not resolve"):
        check_source_url("https://nowhere.test/", allow_private=False, resolver=_Resolver({}))


def test_dns_rebinding_to_the_metadata_address_is_caught_at_connect_time():
    resolver = _Resolver({"rebind.test": [[PUBLIC_V4], [METADATA]]})
    check_source_url("http://rebind.test/", allow_private=False, resolver=resolver)  # when the integration is saved
    with httpx.Client(transport=GuardedTransport(allow_private=False, resolver=resolver)) as http:
        with pytest.raises(AddressRefused, match="link-local"):
            http.get("http://rebind.test/latest/meta-data/")
    assert resolver.calls == [("rebind.test", 80), ("rebind.test", 80)]


def test_rebinding_to_loopback_never_reaches_the_listening_server(echo_server):
    resolver = _Resolver({"rebind.test": [[PUBLIC_V4], ["127.0.0.1"]]})
    check_source_url(f"http://rebind.test:{echo_server.port}/", allow_private=False, resolver=resolver)
    with httpx.Client(transport=GuardedTransport(allow_private=False, resolver=resolver)) as http:
        with pytest.raises(AddressRefused, match="loopback"):
            http.get(f"http://rebind.test:{echo_server.port}/")
    assert echo_server.hosts == []


def test_each_connection_is_checked_again(echo_server):
    """The first request finds loopback allowed by nothing but the resolver's first answer; a
    new connection (here: a new client) resolves and checks again."""
    resolver = _Resolver({"flip.test": [["127.0.0.1"], [METADATA]]})
    url = f"http://flip.test:{echo_server.port}/"
    with httpx.Client(transport=GuardedTransport(allow_private=True, resolver=resolver)) as http:
        assert http.get(url).status_code == 200
    with httpx.Client(transport=GuardedTransport(allow_private=True, resolver=resolver)) as http:
        with pytest.raises(AddressRefused):
            http.get(url)
    assert len(echo_server.hosts) == 1


def test_the_connection_goes_to_the_checked_address_with_the_name_as_host(echo_server):
    resolver = _Resolver({"source.test": ["127.0.0.1"]})
    with httpx.Client(transport=GuardedTransport(allow_private=True, resolver=resolver)) as http:
        response = http.get(f"http://source.test:{echo_server.port}/api/public/traces")
    assert response.status_code == 200
    assert echo_server.hosts == [f"source.test:{echo_server.port}"]


def test_tls_verifies_the_name_while_connecting_to_the_checked_address(tmp_path):
    cert, key = _self_signed("source.test", tmp_path)
    server = _TlsServer(cert, key).start()
    try:
        resolver = _Resolver({"source.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
        with httpx.Client(transport=GuardedTransport(allow_private=True, resolver=resolver,
                                                              verify=ssl.create_default_context(cafile=cert))) as http:
            assert http.get(f"https://source.test:{server.port}/").status_code == 200
            with pytest.raises(httpx.ConnectError, match="certificate|hostname"):
                http.get(f"https://other.test:{server.port}/")
        assert server.sni == ["source.test", "other.test"]
    finally:
        server.stop()


def test_the_source_client_refuses_loopback_by_default(echo_server, private_sources_refused):
    from chalicelib.clients import source_http_client

    with source_http_client() as http:
        with pytest.raises(AddressRefused, match="loopback"):
            http.get(f"http://127.0.0.1:{echo_server.port}/")
    assert echo_server.hosts == []


def test_the_source_client_reaches_loopback_when_allowed_and_follows_no_redirect(echo_server,
                                                                                 private_sources_allowed):
    from chalicelib.clients import source_http_client

    with source_http_client() as http:
        response = http.get(f"http://127.0.0.1:{echo_server.port}/redirect")
    assert response.status_code == 302 and response.headers["Location"] == f"http://{METADATA}/"
    assert echo_server.hosts == [f"127.0.0.1:{echo_server.port}"]


def test_no_deployed_stage_allows_private_sources():
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    deployed = [config.get("environment_variables", {})] + [
        stage.get("environment_variables", {}) for name, stage in config["stages"].items() if name != "local"]
    assert deployed and all("IOFOLD_ALLOW_PRIVATE_SOURCES" not in env for env in deployed)
    assert "IOFOLD_ALLOW_PRIVATE_SOURCES" not in (ROOT / "infra" / "template.py").read_text()


# --- helpers ----------------------------------------------------------------------------------

class _Resolver:
    """Answers from a table; a host mapped to a list of lists answers with the next one each call."""

    def __init__(self, table: dict[str, list]):
        self.table = {host: list(answers) for host, answers in table.items()}
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        answers = self.table[host]
        if answers and isinstance(answers[0], list):
            return answers.pop(0) if len(answers) > 1 else answers[0]
        return answers


class _EchoHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.server.hosts.append(self.headers.get("Host"))
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", f"http://{METADATA}/")
        else:
            self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        """Quiet."""


@pytest.fixture
def echo_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoHandler)
    server.hosts = []
    server.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


class _TlsServer:
    """An HTTPS server on loopback that records the TLS server names clients ask for."""

    def __init__(self, cert: Path, key: Path):
        self.sni: list[str | None] = []
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        context.sni_callback = lambda sock, name, ctx: self.sni.append(name)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoHandler)
        self._server.hosts = []
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True, do_handshake_on_connect=False)
        self.port = self._server.server_address[1]

    def start(self) -> "_TlsServer":
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _self_signed(name: str, folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file
