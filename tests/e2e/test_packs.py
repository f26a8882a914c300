"""Drug traceability codes end to end (医保函〔2021〕182号 §6, 赣医保发〔2022〕2号 §三(五): traceable flow, no fraud):
one sale per pack, a refund releases it, 拆零 packs used up by parts, uploads retried and kept across restarts."""
from datetime import date, timedelta

from tests.e2e.conftest import (OSIMERTINIB, PERSONS, RX_ZHANG_OSI, identify, list_prescriptions, new_sale, pack,
                                prefix_of)

OSI = prefix_of(OSIMERTINIB)
AMIVANTAMAB_SPLIT = "XL01EBA363A001010100703"   # 阿美替尼, split_units 20 (拆零)


def gs1(gtin: str, expiry: date, serial: str, lot: str = "L2401") -> str:
    return f"]d201{gtin}17{expiry:%y%m%d}10{lot}\x1d21{serial}"


def test_a_pack_cannot_be_sold_twice_across_two_sales_and_the_refusal_names_the_first(rx, zhang):
    _, http = rx
    code = pack(OSI)
    first = new_sale(http, zhang, codes=[code])
    r = http.post("/v1/sales", {"patient_ref": zhang, "hi_rxno": RX_ZHANG_OSI, "lines": [
        {"med_list_codg": OSIMERTINIB, "qty": "1", "price": "4837.00", "trace_codes": [code]}]})
    assert r.status_code == 409
    err = r.json()["error"]
    assert err["code"] == "TRACE_CODE_ALREADY_SOLD" and err["details"]["sale_id"] == first["id"]
    assert first["id"] in err["message_zh"]


def test_refund_releases_the_pack_for_a_new_sale(rx, zhang):
    svc, http = rx
    code = pack(OSI)
    sale = new_sale(http, zhang, codes=[code])
    assert http.post(f"/v1/sales/{sale['id']}/settle").json()["state"] == "settled"
    svc.outbox.drain()
    assert http.post(f"/v1/sales/{sale['id']}/refund").json()["state"] == "refunded"
    svc.outbox.drain()
    again = new_sale(http, zhang, codes=[code])
    assert again["lines"][0]["trace_codes"] == [code]


def test_wrong_drug_duplicate_in_request_and_expired_gs1_are_refused_and_nothing_is_stored(rx, zhang):
    svc, http = rx
    sale = new_sale(http, zhang, codes=[])
    other_drug = pack(prefix_of("XL04ACS251B002010100702"))
    r = http.post(f"/v1/sales/{sale['id']}/trace-codes", {"codes": [other_drug]})
    assert r.json()["error"]["code"] == "TRACE_CODE_PRODUCT_MISMATCH"
    dup = pack(OSI)
    r = http.post(f"/v1/sales/{sale['id']}/trace-codes", {"codes": [dup, dup]})
    assert r.json()["error"]["code"] == "TRACE_CODE_DUPLICATE"
    expired = gs1("06901234567014", date.today() - timedelta(days=1), "SN0001")
    r = http.post(f"/v1/sales/{sale['id']}/trace-codes", {"codes": [expired]})
    assert r.json()["error"]["code"] == "TRACE_CODE_EXPIRED"
    r = http.post(f"/v1/sales/{sale['id']}/trace-codes", {"codes": ["8690701000000000001"]})
    assert r.status_code == 400 and r.json()["error"]["code"] == "TRACE_CODE_INVALID"
    assert svc.ledger.query_one("SELECT count(*) FROM trace_codes")[0] == 0


def test_a_gs1_pack_with_a_valid_expiry_lands_on_its_line_and_settles(rx, zhang):
    _, http = rx
    sale = new_sale(http, zhang, codes=[])
    code = gs1("06901234567014", date.today() + timedelta(days=400), "SN7788")
    added = http.post(f"/v1/sales/{sale['id']}/trace-codes", {"codes": [code]}).json()
    assert added["lines"][0]["trace_codes"] == ["0106901234567014" + "21SN7788"]
    assert http.post(f"/v1/sales/{sale['id']}/settle").json()["state"] == "settled"


def test_count_mismatch_blocks_settle_until_every_pack_is_scanned(rx, sandbox_http, zhang):
    _, http = rx
    sale = new_sale(http, zhang, codes=[])
    r = http.post(f"/v1/sales/{sale['id']}/settle")
    assert r.status_code == 422 and r.json()["error"]["code"] == "TRACE_CODE_COUNT_MISMATCH"
    assert not sandbox_http.get("/sandbox/ledger").json()["settlements"]
    http.post(f"/v1/sales/{sale['id']}/trace-codes", {"codes": [pack(OSI)]})
    assert http.post(f"/v1/sales/{sale['id']}/settle").json()["state"] == "settled"


def test_split_pack_is_shared_by_split_sales_until_used_up(rx, sandbox_http):
    _, http = rx
    li = identify(http, PERSONS["李秀英"])  # filing for 阿美替尼
    sandbox_http.post("/sandbox/prescriptions", {
        "hi_rxno": "HXSPLIT0000000000001", "psn_no": "36010000000000000102", "institution_code": "H36011100301",
        "physician_code": "D360111003001", "issued_at": date.today().isoformat() + " 08:00:00", "valid_days": 3,
        "lines": [{"med_list_codg": AMIVANTAMAB_SPLIT, "qty": "0.5"}]})
    code = pack(prefix_of(AMIVANTAMAB_SPLIT))
    list_prescriptions(http, li["patient_ref"])

    def half():
        return http.post("/v1/sales", {"patient_ref": li["patient_ref"], "hi_rxno": "HXSPLIT0000000000001",
                                       "lines": [{"med_list_codg": AMIVANTAMAB_SPLIT, "qty": "0.5",
                                                  "price": "948.00", "trace_codes": [code]}]})
    assert half().status_code == 201
    assert half().status_code == 201
    third = half()
    assert third.status_code == 409 and third.json()["error"]["code"] == "TRACE_CODE_USED_UP"


def test_upload_retried_after_the_insurer_fails_3505_twice(rx, sandbox_http, zhang):
    svc, http = rx
    code = pack(OSI)
    sale = new_sale(http, zhang, codes=[code])
    sandbox_http.post("/sandbox/faults", {"infno": "3505", "mode": "timeout", "times": 2, "delay_ms": 4000})
    http.post(f"/v1/sales/{sale['id']}/settle")
    for _ in range(2):
        svc.outbox.drain()
        svc.outbox.retry()
    svc.outbox.drain()
    uploads = [u for u in sandbox_http.get("/sandbox/ledger").json()["uploads"] if u["infno"] == "3505"]
    assert [u["codes"] for u in uploads] == [[code]]
    assert svc.outbox.depth()["pending"] == 0


def test_pending_outbox_survives_a_restart_and_drains_after(service_factory, sandbox_http, tmp_path):
    data = tmp_path / "store"
    svc, http = service_factory(data)
    ref = identify(http)["patient_ref"]
    code = pack(OSI)
    sale = new_sale(http, ref, codes=[code])
    svc.recovery.stop()          # no background drain: the upload stays pending when we "restart"
    http.post(f"/v1/sales/{sale['id']}/settle")
    assert svc.outbox.depth()["pending"] >= 1
    svc2, _ = service_factory(data)
    svc2.outbox.drain()
    assert svc2.outbox.depth()["pending"] == 0
    uploads = sandbox_http.get("/sandbox/ledger").json()["uploads"]
    assert any(u["infno"] == "3505" and u["codes"] == [code] for u in uploads)
    rx_status = {p["hi_rxno"]: p["status"] for p in sandbox_http.get("/sandbox/ledger").json()["prescriptions"]}
    assert rx_status[RX_ZHANG_OSI] == "dispensed"
