"""Who may drive the API (docs/reliability.md "Who may call"): JSON bodies only, no cross-origin writes, only
rxlane's own host names, no framing, Idempotency-Key answers kept per caller and for a limited time, refusals that
never echo personal data. Real HTTP against a real service; the same attacks from a real browser are in
tests/ui/test_ui_attacks.py."""
from __future__ import annotations

import json
import sqlite3
import threading
import time

import pytest
import requests

from plugin import tokens
from plugin.config import ServerSettings, binds_loopback
from tests.e2e.conftest import ZHANG, identify, new_sale


def _settled(http) -> str:
    sale = new_sale(http, identify(http)["patient_ref"])
    r = http.post(f"/v1/sales/{sale['id']}/settle")
    assert r.status_code == 200, r.text
    return sale["id"]


def _state(http, sale_id: str) -> str:
    return http.get(f"/v1/sales/{sale_id}").json()["state"]


# -- bodies --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded",
                                   "multipart/form-data; boundary=x"])
def test_a_write_whose_body_is_not_declared_json_is_refused_and_changes_nothing(rx, ctype):
    _, http = rx
    sale_id = _settled(http)
    r = requests.post(f"{http.base}/v1/sales/{sale_id}/refund", data='{"reason": "患者退药"}'.encode(),
                      headers={"Content-Type": ctype}, timeout=10)
    assert r.status_code == 415 and r.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE", r.text
    assert r.json()["error"]["message_zh"]
    assert _state(http, sale_id) == "settled"


def test_json_with_a_charset_and_an_empty_body_without_a_type_are_still_welcome(rx):
    _, http = rx
    sale_id = _settled(http)
    r = requests.post(f"{http.base}/v1/sales/{sale_id}/refund", data='{"reason": "退药"}'.encode(),
                      headers={"Content-Type": "application/json; charset=utf-8"}, timeout=10)
    assert r.status_code == 200, r.text
    other = new_sale(http, identify(http)["patient_ref"])
    assert requests.post(f"{http.base}/v1/sales/{other['id']}/presettle", timeout=10).status_code == 200


# -- origins -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("headers", [{"Origin": "http://evil.example"}, {"Origin": "null"},
                                     {"Origin": "http://127.0.0.1:1"},     # another local port: same site, not us
                                     {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"}])
def test_a_write_from_another_web_page_is_refused_and_changes_nothing(rx, headers):
    _, http = rx
    sale_id = _settled(http)
    r = http.post(f"/v1/sales/{sale_id}/refund", {"reason": "x"}, headers=headers)
    assert r.status_code == 403 and r.json()["error"]["code"] == "CROSS_ORIGIN_REFUSED", r.text
    assert _state(http, sale_id) == "settled"


def test_the_counter_pages_own_origin_the_pos_and_a_configured_origin_may_write(service_factory):
    _, http = service_factory(server={"allowed_origins": ["http://pos.local:8080"]})
    ref = identify(http)["patient_ref"]
    for headers in ({"Origin": http.base, "Sec-Fetch-Site": "same-origin"}, {},
                    {"Origin": "http://pos.local:8080", "Sec-Fetch-Site": "cross-site"}):
        if headers.get("Sec-Fetch-Site") == "cross-site":
            headers = {"Origin": "http://pos.local:8080"}     # a listed origin without fetch metadata (a POS web app)
        r = http.post("/v1/sales", {"patient_ref": ref, "lines": [
            {"med_list_codg": "XL04ACS251B002010100702", "qty": "1", "price": "598.00"}]}, headers=headers)
        assert r.status_code == 201, (headers, r.text)


# -- hosts ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method,path", [("GET", "/v1/sales"), ("GET", "/v1/events"), ("GET", "/v1/health"),
                                         ("POST", "/v1/sales/{id}/refund"), ("GET", "/")])
def test_a_request_for_a_foreign_host_name_is_refused_as_dns_rebinding_would_send_it(rx, method, path):
    _, http = rx
    sale_id = _settled(http)
    r = requests.request(method, http.base + path.format(id=sale_id), headers={"Host": "evil.example"},
                         json={"reason": "x"} if method == "POST" else None, timeout=10, stream=True)
    assert r.status_code == 421 and r.json()["error"]["code"] == "HOST_NOT_ALLOWED", r.text
    assert sale_id not in r.text
    assert _state(http, sale_id) == "settled"


def test_loopback_names_and_configured_names_are_answered(service_factory):
    _, http = service_factory(server={"allowed_hosts": ["counter-3.pharmacy.lan"]})
    port = http.base.rsplit(":", 1)[1]
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"counter-3.pharmacy.lan:{port}"):
        assert requests.get(http.base + "/v1/health", headers={"Host": host}, timeout=10).status_code == 200, host
    assert requests.get(http.base + "/v1/health", headers={"Host": "localhost.evil.example"},
                        timeout=10).status_code == 421


def test_no_page_may_frame_rxlane(rx):
    _, http = rx
    for path in ("/", "/v1/health", "/v1/sales/nope"):
        r = http.get(path)
        assert r.headers["X-Frame-Options"] == "DENY", path
        assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"], path


# -- beyond loopback -----------------------------------------------------------------------------------------------
def test_loopback_is_judged_by_the_address_not_its_spelling():
    assert binds_loopback("127.0.0.1") and binds_loopback("::1") and binds_loopback("localhost")
    for host in ("127.evil.example", "0.0.0.0", "::", "192.168.1.20", "localhost.evil.example"):
        assert not binds_loopback(host), host
        assert ServerSettings(host=host).tokens_required, host


# -- idempotency -----------------------------------------------------------------------------------------------------
def test_an_idempotent_answer_is_never_replayed_to_another_token(rx):
    svc, http = rx
    _, pii = tokens.create(svc.ledger, "POS-PII", ["sales", "pii"])
    _, sales_only = tokens.create(svc.ledger, "POS-SALES", ["sales"])
    body = {"cert_type": "id_card", "cert_no": ZHANG["certno"]}
    key = {"Idempotency-Key": "identify-shared-key"}
    full = http.post("/v1/patients/identify", body, headers={**key, "Authorization": f"Bearer {pii}"})
    assert full.status_code == 200 and full.json()["person"]["certno"] == ZHANG["certno"]
    other = http.post("/v1/patients/identify", body, headers={**key, "Authorization": f"Bearer {sales_only}"})
    assert other.status_code == 200 and "Idempotent-Replayed" not in other.headers
    assert ZHANG["certno"] not in other.text and other.json()["person"]["psn_name"] == "张*"
    again = http.post("/v1/patients/identify", body, headers={**key, "Authorization": f"Bearer {sales_only}"})
    assert again.headers.get("Idempotent-Replayed") == "true" and ZHANG["certno"] not in again.text


def test_an_idempotency_key_expires_after_the_configured_time(service_factory):
    svc, http = service_factory(server={"idempotency_ttl_h": 1})
    ref = identify(http)["patient_ref"]
    key = {"Idempotency-Key": "pos1-sale-0001"}
    line = {"med_list_codg": "XL04ACS251B002010100702", "qty": "1", "price": "598.00"}
    first = http.post("/v1/sales", {"patient_ref": ref, "lines": [line]}, headers=key)
    assert first.status_code == 201
    conflict = http.post("/v1/sales", {"patient_ref": ref, "lines": [line, line]}, headers=key)
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "IDEMPOTENCY_CONFLICT"
    aged = sqlite3.connect(svc.ledger.path)                 # two hours pass
    aged.execute("UPDATE idempotency SET created_at = datetime('now', 'localtime', '-2 hours')")
    aged.commit()
    aged.close()
    fresh = http.post("/v1/sales", {"patient_ref": ref, "lines": [line, line]}, headers=key)
    assert fresh.status_code == 201 and fresh.json()["id"] != first.json()["id"]


def test_a_duplicate_still_waiting_for_the_first_is_told_to_ask_again_not_invalid_state(rx, sandbox_http,
                                                                                      monkeypatch):
    from plugin.api import idempotency
    monkeypatch.setattr(idempotency, "WAIT_FOR_FIRST_S", 0.3)
    _, http = rx
    sale = new_sale(http, identify(http)["patient_ref"])
    sandbox_http.post("/sandbox/faults", {"infno": "2102", "mode": "slow", "times": 1, "delay_ms": 2000})
    key = {"Idempotency-Key": f"settle-{sale['id']}"}
    first: list[requests.Response] = []
    t = threading.Thread(target=lambda: first.append(http.post(f"/v1/sales/{sale['id']}/settle", headers=key)))
    t.start()
    time.sleep(0.3)
    second = requests.post(f"{http.base}/v1/sales/{sale['id']}/settle", headers=key, timeout=10)
    t.join(20)
    assert second.status_code == 409 and second.json()["error"]["code"] == "REQUEST_IN_PROGRESS", second.text
    assert second.headers["Retry-After"] and second.json()["error"]["message_zh"]
    assert first[0].status_code == 200
    third = http.post(f"/v1/sales/{sale['id']}/settle", headers=key)
    assert third.status_code == 200 and third.headers.get("Idempotent-Replayed") == "true"


# -- refusals never echo personal data --------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/v1/sales/360121196805122010", "/v1/sales/rxl_Zm9yZ2VkLXRva2VuLWZvcm0tYS1wb3M",
                                  "/v1/sales/ECARD36010000000000000101XYZ", "/v1/sales/360121196805122010/slip.txt",
                                  "/v1/sales/A12345678/settle"])
def test_a_404_never_echoes_an_id_number_a_card_number_or_a_token(rx, path):
    _, http = rx
    r = http.post(path, {}) if path.endswith("/settle") else http.get(path)
    assert r.status_code == 404, r.text
    secret = path.split("/")[3]
    assert secret not in r.text and secret not in json.dumps(dict(r.headers))
