"""Hostile URLs and headers: path traversal into the counter's static files, odd sale ids on the slip routes,
injection through `Idempotency-Key` and `X-Request-Id` (docs/pos-integration.md "every response carries
X-Request-Id", §8).

Raw sockets send what `requests` would refuse or normalise (`..`, NUL bytes, CR/LF in a header), so the service
sees exactly the bytes an attacker would send.
"""
from __future__ import annotations

import json
import socket

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.security.conftest import ROOT, SAFE_REQUEST_ID, assert_error_shape, assert_sane

SECRET_MARKERS = (b"def load_settings", b"tomllib", b"root:x:0:0", b"[store]", b"fixmedins_code =",
                  b"def create_app", b"import ")


def raw_http(port: int, request_line: bytes, headers: bytes = b"", body: bytes = b"") -> tuple[int, dict, bytes]:
    """Send one request byte for byte; answer (status, headers lower-cased, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        head = request_line + b"\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + headers
        if body:
            head += b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n"
        s.sendall(head + b"\r\n" + body)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    head, _, payload = out.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    hdrs: dict[str, str] = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        hdrs[k.strip().lower().decode("latin-1")] = v.strip().decode("latin-1")
    return status, hdrs, payload


def _port(live) -> int:
    return int(live.base.rsplit(":", 1)[1])


TRAVERSALS = [
    b"/counter/static/../../plugin/config.py",
    b"/counter/static/../web/counter.py",
    b"/counter/static/%2e%2e/%2e%2e/plugin/config.py",
    b"/counter/static/%2e%2e%2f%2e%2e%2fplugin%2fconfig.py",
    b"/counter/static/..%2f..%2fconfig%2fdefaults.toml",
    b"/counter/static/%252e%252e%252f%252e%252e%252fplugin%252fconfig.py",
    b"/counter/static/..%5c..%5cplugin%5cconfig.py",
    b"/counter/static/..\\..\\plugin\\config.py",
    b"/counter/static/%c0%ae%c0%ae/%c0%ae%c0%ae/plugin/config.py",
    b"/counter/static/%2fetc%2fpasswd",
    b"/counter/static/" + str(ROOT / "plugin" / "config.py").encode(),
    b"/counter/static/counter.js%00.py",
    b"/counter/static/counter.js%00",
    b"/counter/static/%00",
    b"/counter/static/.",
    b"/counter/static/..",
    b"/counter/static/",
    b"/counter/static/../templates/counter.html",
    b"/counter/../plugin/config.py",
    b"/../../../../etc/passwd",
    b"/%2e%2e/%2e%2e/etc/passwd",
]


@pytest.mark.parametrize("path", TRAVERSALS, ids=lambda p: p.decode("latin-1")[:60])
def test_static_route_traversal_is_json_404_never_a_file(live, path):
    status, hdrs, body = raw_http(_port(live), b"GET " + path + b" HTTP/1.1")
    for marker in SECRET_MARKERS:
        assert marker not in body, f"{path!r} served file content ({marker!r})"
    assert status in (400, 404), (path, status, body[:200])
    assert hdrs.get("content-type", "").startswith("application/json"), (path, hdrs, body[:200])
    assert json.loads(body)["error"]["code"] in ("NOT_FOUND", "INVALID_INPUT")


@pytest.mark.parametrize("path", [b"/counter/static//etc/passwd", b"//etc/passwd", b"/v1//health",
                                  b"/counter/static///" + str(ROOT / "plugin" / "config.py").lstrip("/").encode()])
def test_doubled_slashes_are_json_answers_not_html_redirects(live, path):
    """werkzeug's merge_slashes answers `//` with a 308 and an HTML page; the API promises JSON everywhere."""
    status, hdrs, body = raw_http(_port(live), b"GET " + path + b" HTTP/1.1")
    for marker in SECRET_MARKERS:
        assert marker not in body
    assert hdrs.get("content-type", "").startswith("application/json"), (path, status, hdrs, body[:200])


def test_the_real_static_files_are_still_served(live):
    status, hdrs, body = raw_http(_port(live), b"GET /counter/static/counter.js HTTP/1.1")
    assert status == 200 and b"rxlane" in body


SLIP_IDS = ["..", "..%2f..%2fplugin%2fconfig.py", "%2e%2e", "S" + "9" * 4000, "S20260101ABCDEF012345%00",
            "S20260101ABCDEF012345%0d%0aSet-Cookie:%20x=1", "%ff%fe", "%u2028", "S20260101abcdef012345",
            "'%20OR%201=1--", "S20260101ABCDEF012345;DROP%20TABLE%20sales", "%F0%9F%92%8A", "NaN", "-1", "0x10"]


@pytest.mark.parametrize("sale_id", SLIP_IDS, ids=lambda s: s[:40])
@pytest.mark.parametrize("route", ["GET /v1/sales/{}/slip.txt", "GET /v1/sales/{}/slip.png", "GET /v1/sales/{}",
                                   "POST /v1/sales/{}/print", "POST /v1/sales/{}/settle",
                                   "DELETE /v1/sales/{}/trace-codes"])
def test_slip_and_sale_routes_answer_odd_ids_with_a_json_404(live, route, sale_id):
    method, path = route.split(" ")
    status, hdrs, body = raw_http(_port(live), f"{method} {path.format(sale_id)} HTTP/1.1".encode())
    assert status in (400, 404, 405), (route, sale_id, status, body[:200])
    assert hdrs["content-type"].startswith("application/json")
    assert b"Traceback" not in body and b"Set-Cookie" not in b"".join(k.encode() for k in hdrs)
    assert json.loads(body)["error"]["code"] in ("NOT_FOUND", "INVALID_INPUT", "METHOD_NOT_ALLOWED")
    assert len(body) < 2000, "an error must not echo a 4 KB id back"


# -- Idempotency-Key ---------------------------------------------------------------------------------------------
BAD_KEYS = [b"a\tb", b"key with spaces", b"x" * 129, b"x" * 9000, "幂等键".encode(), "k\u2028ey".encode(),
            b"\xff\xfe", b"k;ey", b"k\x00ey", b"<script>", b"k\x1bey"]


@pytest.mark.parametrize("key", BAD_KEYS, ids=lambda k: repr(k[:20]))
def test_hostile_idempotency_keys_are_refused_naming_the_header_and_nothing_is_stored(live, key):
    before = live.svc.ledger.query_one("SELECT count(*) FROM idempotency")[0]
    status, hdrs, body = raw_http(_port(live), b"POST /v1/scans HTTP/1.1", b"Idempotency-Key: " + key + b"\r\n",
                                  b'{"raw": "12345678901234567890"}')
    assert status in (400, 431), (key, status, body[:200])
    if status == 400:
        err = json.loads(body)["error"]
        assert err["code"] == "INVALID_INPUT" and err["details"]["field"] == "Idempotency-Key"
        assert key.decode("latin-1") not in body.decode("utf-8", "replace") or len(key) < 3
    assert live.svc.ledger.query_one("SELECT count(*) FROM idempotency")[0] == before


def test_crlf_in_idempotency_key_cannot_smuggle_a_header_or_a_second_request(live):
    """A CR/LF splits the header line: the smuggled 'header' must not reach the answer, nor a second request."""
    status, hdrs, body = raw_http(
        _port(live), b"POST /v1/scans HTTP/1.1",
        b"Idempotency-Key: abc\r\nX-Injected: 1\r\n\r\nGET /v1/health HTTP/1.1\r\nX-Smuggled: 1\r\n",
        b'{"raw": "12345678901234567890"}')
    assert "x-injected" not in hdrs and b"X-Smuggled" not in body
    assert b"\r\nHTTP/1.1" not in body


def test_a_huge_idempotency_key_is_refused_not_stored(live):
    r = live.http.post("/v1/scans", {"raw": "12345678901234567890"}, headers={"Idempotency-Key": "k" * 60_000})
    assert r.status_code in (400, 431)
    if r.status_code == 400:
        assert_error_shape(r)


# -- X-Request-Id ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("rid", [b"abc\rdef", b"abc def", b"<script>alert(1)</script>", b"x" * 65, "编号".encode(),
                                 b"\xff\xfe", b"a\x00b", b"", b"a,b", b"a;Set-Cookie=1", b"../../etc",
                                 b"%0d%0aSet-Cookie:%20x=1"])
def test_an_unsafe_request_id_is_replaced_never_reflected(live, rid):
    status, hdrs, body = raw_http(_port(live), b"GET /v1/health HTTP/1.1", b"X-Request-Id: " + rid + b"\r\n")
    echoed = hdrs.get("x-request-id", "")
    assert SAFE_REQUEST_ID.match(echoed), echoed
    if rid:
        assert echoed != rid.decode("latin-1")
    assert "set-cookie" not in hdrs


def test_a_safe_request_id_is_echoed_so_the_pos_can_correlate(live):
    r = live.http.get("/v1/health", headers={"X-Request-Id": "pos-7.req_42"})
    assert r.headers["X-Request-Id"] == "pos-7.req_42"


def test_a_folded_header_line_cannot_inject_into_the_echoed_request_id(live):
    status, hdrs, _ = raw_http(_port(live), b"GET /v1/health HTTP/1.1",
                               b"X-Request-Id: abc\r\n Set-Cookie: x=1\r\n")
    assert SAFE_REQUEST_ID.match(hdrs.get("x-request-id", "")) and "set-cookie" not in hdrs


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(rid=st.binary(min_size=1, max_size=200).filter(lambda b: b"\r" not in b and b"\n" not in b))
def test_any_request_id_bytes_get_a_safe_echo(live, hostile_tally, rid):
    status, hdrs, body = raw_http(_port(live), b"GET /v1/health HTTP/1.1", b"X-Request-Id: " + rid + b"\r\n")
    hostile_tally.add("request_id")
    assert status in (200, 400), (rid, status, body[:200])
    assert SAFE_REQUEST_ID.match(hdrs.get("x-request-id", "")), hdrs


# -- server-sent events: not fuzzable by schema (endless), but hostile query/headers must not break it ----------
def test_events_stream_survives_hostile_query_and_headers(live):
    import requests
    with requests.get(live.base + "/v1/events?last=%00%ff&x=" + "y" * 3000, stream=True, timeout=10,
                      headers={"Last-Event-ID": "é" * 300, "X-Request-Id": "a b"}) as r:
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/event-stream")
        assert SAFE_REQUEST_ID.match(r.headers["X-Request-Id"])
        first = next(r.iter_lines(decode_unicode=True))
        assert first.startswith((":", "event:", "data:", "id:", "retry:")), first


def test_wrong_content_types_are_json_400(live):
    for ctype, body in [("text/plain", b"raw=1"), ("application/x-www-form-urlencoded", b"raw=1"),
                        ("multipart/form-data; boundary=x", b"--x\r\n\r\n--x--"), ("application/json", b"\x00" * 10),
                        ("application/json; charset=latin-1", '{"raw": "é"}'.encode("latin-1"))]:
        r = live.http.post("/v1/scans", data=body, headers={"Content-Type": ctype})
        assert_sane(r)
        assert r.status_code in (200, 400, 415), (ctype, r.status_code, r.text)
