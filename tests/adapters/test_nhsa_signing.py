"""x-tif signing headers (docs/gateway.md "Transport"): signature = lowercase hex SHA-256 of
timestamp+secret+nonce+timestamp."""
import hashlib

import responses

from adapters.nhsa.catalogue import catalogue_query_input
from adapters.nhsa.client import GatewayClient, GatewaySettings
from adapters.nhsa.envelope import MsgIdGenerator
from adapters.nhsa.signing import sign_headers

URL = "http://gw.test"
ENDPOINT = URL + "/fsi/api/rsfComIfsService/callService"
CATALOGUE_PAGE = catalogue_query_input(updt_time="2025-01-01", page_num=1, page_size=100)


def test_signature_matches_an_independent_sha256():
    expected = hashlib.sha256(b"1700000000s3cr3tabc1231700000000").hexdigest()
    headers = sign_headers("paas-1", "s3cr3t", timestamp="1700000000", nonce="abc123")
    assert headers == {"x-tif-paasid": "paas-1", "x-tif-timestamp": "1700000000", "x-tif-nonce": "abc123",
                       "x-tif-signature": expected}
    assert expected == expected.lower() and len(expected) == 64


def _client(**kw):
    settings = GatewaySettings(url=URL, fixmedins_code="P36010200001", mdtrtarea_admvs="360102", **kw)
    return GatewayClient(settings, MsgIdGenerator("P36010200001"))


@responses.activate
def test_send_carries_signing_headers_when_paasid_and_secret_are_set():
    responses.post(ENDPOINT, json={"infcode": 0, "output": {}})
    _client(paasid="paas-1", secret="s3cr3t").call("1312", CATALOGUE_PAGE)
    sent = responses.calls[0].request.headers
    ts, nonce = sent["x-tif-timestamp"], sent["x-tif-nonce"]
    assert ts.isdigit() and nonce
    assert sent["x-tif-signature"] == hashlib.sha256(f"{ts}s3cr3t{nonce}{ts}".encode()).hexdigest()
    assert sent["Content-Type"] == "application/json;charset=utf-8"


@responses.activate
def test_no_signing_headers_without_a_secret():
    responses.post(ENDPOINT, json={"infcode": 0, "output": {}})
    _client(paasid="paas-1").call("1312", CATALOGUE_PAGE)
    assert not any(h.lower().startswith("x-tif") for h in responses.calls[0].request.headers)


def test_repr_of_settings_and_client_never_shows_the_secret():
    client = _client(paasid="paas-1", secret="TOPSECRET-42")
    assert "TOPSECRET-42" not in repr(client.settings)
    assert "TOPSECRET-42" not in repr(client)
