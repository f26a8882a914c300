"""TLS to the gateway is verified (docs/security.md); a provincial private CA is trusted through `ca_bundle` only.

A real HTTPS sandbox on loopback with a certificate made for the test by openssl."""
import shutil
import ssl
import subprocess
import threading

import pytest
from werkzeug.serving import make_server

from adapters.nhsa.client import GatewayClient, GatewaySettings, MsgIdGenerator
from adapters.nhsa.errors import GatewayUnreachable
from adapters.sandbox.books import Books
from adapters.sandbox.server import create_sandbox_app, resolve_policy

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")


@pytest.fixture
def https_sandbox(tmp_path):
    cert, key = tmp_path / "ca.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = make_server("127.0.0.1", 0, create_sandbox_app(Books(resolve_policy("jiangxi"))), threaded=True,
                         ssl_context=context)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_port}", cert
    server.shutdown()
    server.server_close()


def client(url: str, **tls) -> GatewayClient:
    return GatewayClient(GatewaySettings(url=url, fixmedins_code="P36010200001", fixmedins_name="示例大药房",
                                         mdtrtarea_admvs="360102", timeout_s=5, **tls),
                         MsgIdGenerator("P36010200001"))


def test_an_untrusted_certificate_is_refused_before_anything_is_sent(https_sandbox):
    url, _ = https_sandbox
    with pytest.raises(GatewayUnreachable):
        client(url).sign_in()


def test_a_private_ca_is_trusted_through_the_ca_bundle_setting(https_sandbox):
    url, cert = https_sandbox
    assert client(url, ca_bundle=str(cert)).sign_in()
