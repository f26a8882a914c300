"""Error mapping of the gateway client: whether money may have moved is decided in one place (STYLE: httpx
map_exceptions). Refused and unreachable mean nothing moved; timeout, a lost connection and a garbled answer mean
the outcome is unknown and the sale goes in doubt (docs/architecture.md)."""
import socket
import struct
import threading

import pytest
import requests
import responses
from urllib3.exceptions import MaxRetryError, NameResolutionError

from adapters.nhsa.client import GatewayClient, GatewaySettings
from adapters.nhsa.envelope import MsgIdGenerator
from adapters.nhsa.errors import (GatewayConnectionLost, GatewayError, GatewayOutcomeUnknown, GatewayProtocolError,
                                  GatewayRefused, GatewayTimeout, GatewayUnreachable)
from adapters.nhsa.person import person_info_input
from tests.adapters.conftest import settle_body

URL = "http://gw.test"
ENDPOINT = URL + "/fsi/api/rsfComIfsService/callService"
# A settlement (2102) of a patient whose psn_no is recognisable, so a leak of the request body is easy to see
SECRET_PATIENT = {"psn_no": "SECRET-PSN-123", "certno": "360121196805122010"}


def client(url=URL, timeout_s=15.0, **kw):
    settings = GatewaySettings(url=url, fixmedins_code="P36010200001", mdtrtarea_admvs="360102",
                               timeout_s=timeout_s, **kw)
    return GatewayClient(settings, MsgIdGenerator("P36010200001"))


def send(c=None, infno="2102", body=None):
    c = c or client()
    return c.send(c.prepare(infno, body or settle_body(person=SECRET_PATIENT)))


def test_exception_tree_separates_refused_unreachable_and_unknown():
    for unknown in (GatewayTimeout, GatewayConnectionLost, GatewayProtocolError):
        assert issubclass(unknown, GatewayOutcomeUnknown) and issubclass(unknown, GatewayError)
    for nothing_moved in (GatewayRefused, GatewayUnreachable):
        assert not issubclass(nothing_moved, GatewayOutcomeUnknown) and issubclass(nothing_moved, GatewayError)
    for cls in (GatewayTimeout, GatewayConnectionLost, GatewayProtocolError, GatewayUnreachable):
        assert cls().message and cls().message_zh


@responses.activate
def test_nonzero_infcode_is_refused_with_the_insurers_code_and_message():
    responses.post(ENDPOINT, json={"infcode": -1, "err_msg": "未查询到人员信息", "output": None})
    with pytest.raises(GatewayRefused) as err:
        send(infno="1101", body=person_info_input("02", "360121196805122010"))
    assert err.value.infcode == -1 and err.value.err_msg == "未查询到人员信息"
    assert err.value.answer.raw["err_msg"] == "未查询到人员信息"
    assert "未查询到人员信息" in err.value.message_zh
    assert not err.value.outcome_unknown


@responses.activate
def test_string_infcode_zero_is_success():
    responses.post(ENDPOINT, json={"infcode": "0", "output": {"a": 1}, "inf_refmsgid": "R", "respond_time": "T"})
    answer = send()
    assert (answer.infcode, answer.output, answer.inf_refmsgid, answer.respond_time) == (0, {"a": 1}, "R", "T")


@pytest.mark.parametrize("status,body", [
    (200, b"<html>gateway</html>"),
    (200, b'{"infcode": 0, "output": {"setlinfo": {"setl_id": "S1", '),   # truncated
    (502, b"<html>502 Bad Gateway</html>"),
    (200, b'{"output": {}}'),                                                  # no infcode
    (200, b'{"infcode": "abc"}'),
    (200, b'[1, 2]'),
    (200, b'{"infcode": 0, "output": [1]}'),                                  # wrong shape
    (200, b"\xff\xfe\x00garbage"),
])
@responses.activate
def test_unreadable_answers_are_protocol_errors_with_outcome_unknown(status, body):
    responses.post(ENDPOINT, body=body, status=status)
    with pytest.raises(GatewayProtocolError) as err:
        send()
    assert err.value.outcome_unknown and err.value.msgid and err.value.infno == "2102"


@responses.activate
def test_read_timeout_is_gateway_timeout():
    responses.post(ENDPOINT, body=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(GatewayTimeout):
        send()


@responses.activate
def test_connect_timeout_is_unreachable_because_nothing_was_sent():
    responses.post(ENDPOINT, body=requests.exceptions.ConnectTimeout("connect timed out"))
    with pytest.raises(GatewayUnreachable):
        send()


@responses.activate
def test_dns_failure_is_unreachable():
    cause = MaxRetryError(None, ENDPOINT, NameResolutionError("gw.test", None, socket.gaierror("no such host")))
    responses.post(ENDPOINT, body=requests.exceptions.ConnectionError(cause))
    with pytest.raises(GatewayUnreachable) as err:
        send()
    assert not err.value.outcome_unknown


def test_connection_refused_is_unreachable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(GatewayUnreachable):
        send(client(f"http://127.0.0.1:{port}"))


class OneShotServer:
    """A raw socket server that reads one request and then misbehaves: resets, closes, or never answers."""

    def __init__(self, behaviour):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.behaviour = behaviour
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        conn, _ = self.sock.accept()
        conn.settimeout(5)
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(65536)
        if self.behaviour == "reset":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
        elif self.behaviour == "close":
            conn.close()
        elif self.behaviour == "silent":
            self.done.wait(5)
            conn.close()
        self.sock.close()


@pytest.mark.parametrize("behaviour", ["reset", "close"])
def test_connection_broken_after_sending_is_connection_lost(behaviour):
    server = OneShotServer(behaviour)
    with pytest.raises(GatewayConnectionLost) as err:
        send(client(server.url))
    assert err.value.outcome_unknown


def test_server_that_never_answers_is_a_timeout():
    server = OneShotServer("silent")
    try:
        with pytest.raises(GatewayTimeout):
            send(client(server.url, timeout_s=0.3))
    finally:
        server.done.set()


@responses.activate
def test_error_messages_leak_neither_body_nor_secret():
    responses.post(ENDPOINT, body=b"SECRET-ANSWER-BODY not json", status=500)
    c = client(paasid="p", secret="TOPSECRET")
    with pytest.raises(GatewayProtocolError) as err:
        send(c)
    text = f"{err.value} {err.value.message} {err.value.message_zh} {err.value!r}"
    assert "SECRET" not in text and "TOPSECRET" not in text
    assert err.value.__cause__ is None and err.value.__suppress_context__
