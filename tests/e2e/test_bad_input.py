"""Bad input gets its code and a 4xx JSON answer — never a traceback, never a half-written sale."""
import pytest

from tests.e2e.conftest import OSIMERTINIB, new_sale


def sales_count(svc) -> int:
    return svc.ledger.query_one("SELECT count(*) FROM sales")[0]


@pytest.mark.parametrize("body, field", [
    ({"lines": [{"med_list_codg": OSIMERTINIB, "qty": "1", "price": "4837.00"}]}, "patient_ref"),
    ({"patient_ref": "X", "lines": []}, "lines"),
    ({"patient_ref": "X", "lines": [{"med_list_codg": OSIMERTINIB, "qty": "0", "price": "1.00"}]}, "lines[0].qty"),
    ({"patient_ref": "X", "lines": [{"med_list_codg": OSIMERTINIB, "qty": "-1", "price": "1.00"}]}, "lines[0].qty"),
    ({"patient_ref": "X", "lines": [{"med_list_codg": OSIMERTINIB, "qty": "1", "price": "1.005"}]},
     "lines[0].price"),
    ({"patient_ref": "X", "lines": [{"med_list_codg": OSIMERTINIB, "qty": True, "price": "1.00"}]}, "lines[0].qty"),
    ({"patient_ref": "X", "lines": [{"med_list_codg": OSIMERTINIB, "qty": "1", "price": "abc"}]},
     "lines[0].price"),
    ({"patient_ref": "X", "lines": [{"med_list_codg": OSIMERTINIB, "qty": "1", "price": "1.00"}], "extra": 1},
     "extra"),
])
def test_invalid_sale_bodies_name_the_field_and_store_nothing(rx, body, field):
    svc, http = rx
    r = http.post("/v1/sales", body)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] == "INVALID_INPUT" and err["details"]["field"] == field and err["message_zh"]
    assert sales_count(svc) == 0


@pytest.mark.parametrize("raw", [b"{", b"[1,2]", b"\xff\xfe", b"", b'{"a": NaN}', b"[" * 100 + b"]" * 100])
def test_malformed_json_is_invalid_input(rx, raw):
    _, http = rx
    r = http.post("/v1/sales", data=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "INVALID_INPUT"


def test_unknown_patient_ref_and_unknown_drug_store_nothing(rx, zhang):
    svc, http = rx
    r = http.post("/v1/sales", {"patient_ref": "Pnope", "lines": [{"med_list_codg": OSIMERTINIB, "qty": "1",
                                                                     "price": "1.00"}]})
    assert r.status_code == 404 and r.json()["error"]["code"] == "PATIENT_NOT_FOUND"
    r = http.post("/v1/sales", {"patient_ref": zhang, "lines": [{"med_list_codg": "NOPE01", "qty": "1",
                                                                   "price": "1.00"}]})
    assert r.status_code == 422 and r.json()["error"]["code"] == "DRUG_NOT_FOUND"
    assert sales_count(svc) == 0


def test_unknown_sale_and_unknown_route_are_json_404(rx):
    _, http = rx
    for path in ("/v1/sales/S20260101ABCDEF012345", "/v1/sales/../../etc/passwd", "/v1/nope"):
        r = http.get(path)
        assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"
    r = http.session.put(http.base + "/v1/sales")
    assert r.status_code == 405 and r.json()["error"]["code"] == "METHOD_NOT_ALLOWED"


def test_oversized_body_is_413(rx):
    _, http = rx
    r = http.post("/v1/scans", data=b'{"raw": "' + b"8" * 400_000 + b'"}', headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_settle_of_a_refunded_sale_is_invalid_state(rx, zhang):
    _, http = rx
    sale = new_sale(http, zhang)
    http.post(f"/v1/sales/{sale['id']}/settle")
    http.post(f"/v1/sales/{sale['id']}/refund")
    r = http.post(f"/v1/sales/{sale['id']}/settle")
    assert r.status_code == 409 and r.json()["error"]["code"] == "INVALID_STATE"


def test_insurer_refusal_keeps_its_text_and_leaves_the_sale_settleable(rx, sandbox_http, zhang):
    _, http = rx
    sale = new_sale(http, zhang)
    sandbox_http.post("/sandbox/faults", {"infno": "2102", "mode": "error", "times": 1, "err_msg": "医保中心维护中"})
    r = http.post(f"/v1/sales/{sale['id']}/settle")
    assert r.status_code == 502
    err = r.json()["error"]
    assert err["code"] == "UPSTREAM_REFUSED" and "医保中心维护中" in err["message_zh"]
    assert err["details"]["err_msg"] == "医保中心维护中"
    assert http.get(f"/v1/sales/{sale['id']}").json()["state"] == "draft"
    assert http.post(f"/v1/sales/{sale['id']}/settle").json()["state"] == "settled"


def test_insurer_timeout_on_2102_is_in_doubt_never_resent_then_reversed(rx, sandbox_http, zhang):
    _, http = rx
    sale = new_sale(http, zhang)
    sandbox_http.post("/sandbox/faults", {"infno": "2102", "mode": "drop_response", "times": 1})
    r = http.post(f"/v1/sales/{sale['id']}/settle")
    assert r.status_code == 409 and r.json()["error"]["code"] == "SETTLEMENT_IN_DOUBT"
    assert "请勿重复结算" in r.json()["error"]["message_zh"]
    again = http.post(f"/v1/sales/{sale['id']}/settle")
    assert again.json()["error"]["code"] in ("SETTLEMENT_IN_DOUBT", "INVALID_STATE")
    resolved = http.post(f"/v1/sales/{sale['id']}/resolve").json()
    assert resolved["state"] == "reversed"
    books = sandbox_http.get("/sandbox/ledger").json()
    mine = [s for s in books["settlements"] if s["msgid"] == resolved["journal"][0]["msgid"]]
    assert [s["state"] for s in mine] == ["reversed"]
    assert sum(1 for j in resolved["journal"] if j["infno"] == "2102") == 1


def test_upstream_down_is_unavailable_and_nothing_moves(tmp_path):
    from tests.conftest import Http, ServerThread, make_service
    from plugin.app import create_app
    svc = make_service(tmp_path, "http://127.0.0.1:9")
    server = ServerThread(create_app(svc))
    try:
        r = Http(server.url).post("/v1/patients/identify", {"cert_type": "id_card", "cert_no": "360121196805122010"})
        assert r.status_code == 503 and r.json()["error"]["code"] == "UPSTREAM_UNAVAILABLE"
    finally:
        server.stop()
        svc.close()


def test_idempotency_key_replays_the_first_answer_and_refuses_another_body(rx, sandbox_http, zhang):
    _, http = rx
    sale = new_sale(http, zhang)
    key = {"Idempotency-Key": "pos-01-settle-7"}
    first = http.post(f"/v1/sales/{sale['id']}/settle", {}, headers=key)
    second = http.post(f"/v1/sales/{sale['id']}/settle", {}, headers=key)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json() and second.headers.get("Idempotent-Replayed") == "true"
    settled = [s for s in sandbox_http.get("/sandbox/ledger").json()["settlements"]
               if s["setl_id"] == first.json()["setl_id"]]
    assert len(settled) == 1
    other = http.post(f"/v1/sales/{sale['id']}/settle", {"confirm_selfpay": True}, headers=key)
    assert other.status_code == 409 and other.json()["error"]["code"] == "IDEMPOTENCY_CONFLICT"
    bad = http.post(f"/v1/sales/{sale['id']}/settle", {}, headers={"Idempotency-Key": "a\tb"})
    assert bad.status_code == 400
