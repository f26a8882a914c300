"""Packs and credentials scanned altered, end to end over the POS API (issue 19): one box is never paid for twice
because Caps Lock changed its serial's case; separator stand-ins reach the pack ledger; manufacturers' own codes
are a kind of their own where the region allows them; an altered credential gets no scan_ref and never reaches
the insurer as someone else.
"""
from __future__ import annotations

from tests.e2e.conftest import OSIMERTINIB, PERSONS, RX_ZHANG_OSI, ZHANG, identify, new_sale

WANG = PERSONS["王建国"]
RX_WANG_OSI = "HX36011100301000000006"
GS1_PACK = "]d2010690123456701417281231" "10LotAb7" "\x1d" "21SnQ5"
GS1_PACK_CAPS = "010690123456701417281231" "10lOTaB7" "\x1d" "21sNq5"   # the same box, Caps Lock on


def settle(http, sale_id):
    return http.post(f"/v1/sales/{sale_id}/settle")


def test_one_box_scanned_with_and_without_caps_lock_settles_once(rx, sandbox_http):
    _, http = rx
    zhang, wang = identify(http)["patient_ref"], identify(http, WANG)["patient_ref"]
    first = new_sale(http, zhang, codes=[GS1_PACK])
    assert settle(http, first["id"]).status_code == 200
    second = new_sale(http, wang, rx=RX_WANG_OSI, codes=[])
    r = http.post(f"/v1/sales/{second['id']}/trace-codes", {"codes": [GS1_PACK_CAPS]})
    assert r.status_code == 409
    err = r.json()["error"]
    assert err["code"] == "TRACE_CODE_CASE_VARIANT"
    assert err["details"]["sale_id"] == first["id"] and err["details"]["held_code"] == "010690123456701421SnQ5"
    assert first["id"] in err["message_zh"] and "大小写" in err["message_zh"]
    assert settle(http, second["id"]).json()["error"]["code"] == "TRACE_CODE_COUNT_MISMATCH"
    assert [s["state"] for s in sandbox_http.get("/sandbox/ledger").json()["settlements"]] == ["settled"]
    # creating the sale with the code in its body is refused the same way
    r = http.post("/v1/sales", {"patient_ref": wang, "hi_rxno": RX_WANG_OSI, "lines": [
        {"med_list_codg": OSIMERTINIB, "qty": "1", "price": "4837.00", "trace_codes": [GS1_PACK_CAPS]}]})
    assert r.json()["error"]["code"] == "TRACE_CODE_CASE_VARIANT"


def test_a_case_variant_confirmed_as_another_box_naming_the_earlier_sale_is_added(rx):
    _, http = rx
    zhang, wang = identify(http)["patient_ref"], identify(http, WANG)["patient_ref"]
    first = new_sale(http, zhang, codes=[GS1_PACK])
    second = new_sale(http, wang, rx=RX_WANG_OSI, codes=[])
    wrong = http.post(f"/v1/sales/{second['id']}/trace-codes",
                      {"codes": [GS1_PACK_CAPS], "distinct_from": ["S20990101AAAAAAAAAAAA"]})
    assert wrong.json()["error"]["code"] == "TRACE_CODE_CASE_VARIANT"     # it must name the sale that holds it
    ok = http.post(f"/v1/sales/{second['id']}/trace-codes",
                   {"codes": [GS1_PACK_CAPS], "distinct_from": [first["id"]]})
    assert ok.status_code == 200, ok.text
    assert ok.json()["lines"][0]["trace_codes"] == ["010690123456701421sNq5"]


def test_the_same_box_twice_on_one_sale_is_a_duplicate_whatever_the_case(rx):
    _, http = rx
    sale = new_sale(http, identify(http)["patient_ref"], codes=[GS1_PACK])
    r = http.post(f"/v1/sales/{sale['id']}/trace-codes", {"codes": [GS1_PACK_CAPS]})
    assert r.json()["error"]["code"] == "TRACE_CODE_DUPLICATE"


def test_a_pack_on_an_open_draft_says_so_and_can_be_released_from_it(rx):
    _, http = rx
    zhang, wang = identify(http)["patient_ref"], identify(http, WANG)["patient_ref"]
    held = new_sale(http, zhang, codes=["86907010000000000017"])
    mine = new_sale(http, wang, rx=RX_WANG_OSI, codes=[])
    r = http.post(f"/v1/sales/{mine['id']}/trace-codes", {"codes": ["86907010000000000017"]})
    err = r.json()["error"]
    assert err["code"] == "TRACE_CODE_ALREADY_SOLD" and err["details"]["releasable"] is True
    assert err["details"]["state"] == "draft" and "未结算的销售单" in err["message_zh"] and "释放" in err["message_zh"]
    released = http.session.delete(f"{http.base}/v1/sales/{held['id']}/trace-codes",
                                   json={"codes": [err["details"]["code"]]})
    assert released.status_code == 200
    assert http.post(f"/v1/sales/{mine['id']}/trace-codes", {"codes": ["86907010000000000017"]}).status_code == 200


def test_a_pack_on_a_settled_sale_is_sold_and_not_releasable(rx):
    _, http = rx
    zhang, wang = identify(http)["patient_ref"], identify(http, WANG)["patient_ref"]
    sold = new_sale(http, zhang, codes=["86907010000000000017"])
    settle(http, sold["id"])
    mine = new_sale(http, wang, rx=RX_WANG_OSI, codes=[])
    err = http.post(f"/v1/sales/{mine['id']}/trace-codes", {"codes": ["86907010000000000017"]}).json()["error"]
    assert err["details"]["releasable"] is False and "同一盒药不能重复销售" in err["message_zh"]
    assert "未结算" not in err["message_zh"]


def test_separator_stand_ins_reach_the_pack_ledger(rx):
    _, http = rx
    sale = new_sale(http, identify(http)["patient_ref"], codes=[])
    r = http.post(f"/v1/sales/{sale['id']}/trace-codes", {"codes": ["01069012345670141728123110LOT123|21SER456"]})
    assert r.status_code == 200, r.text
    assert r.json()["added"] == [{"code": "010690123456701421SER456", "line_no": 1, "kind": "gs1", "warnings": []}]
    scan = http.post("/v1/scans", {"raw": "01069012345670141728123110LOT123\u241d21SER456"}).json()
    assert (scan["kind"], scan["serial"]) == ("gs1", "SER456")


def test_a_device_may_set_its_own_stand_in(service_factory, tmp_path):
    svc, _http = service_factory(devices=[{"name": "wedge-1", "kind": "scanner", "url": "loop://",
                                           "gs_standins": ["~"]}])
    tilde = svc.devices.scan_answer("wedge-1", "01069012345670141728123110LOT123~21SER456")
    assert tilde["kind"] == "gs1" and tilde["serial"] == "SER456"
    pipe = svc.devices.scan_answer("wedge-1", "01069012345670141728123110LOT123|21SER456")
    assert pipe["error"]["code"] == "TRACE_CODE_INVALID"


def test_manufacturers_own_codes_where_the_region_allows_them(service_factory, sandbox_http):
    svc, http = service_factory(scanning={"other_codes": True})
    zhang, wang = identify(http)["patient_ref"], identify(http, WANG)["patient_ref"]
    scan = http.post("/v1/scans", {"raw": "10012345678901234567"}).json()
    assert scan["kind"] == "other_code" and [h["code"] for h in scan["hints"]] == ["other_code"]
    sale = new_sale(http, zhang, codes=[])
    r = http.post(f"/v1/sales/{sale['id']}/trace-codes", {"codes": ["10012345678901234567"]})
    added = r.json()["added"][0]
    assert (added["kind"], added["line_no"]) == ("other_code", 1)
    assert [w["code"] for w in added["warnings"]] == ["other_code"]          # its drug could not be checked
    other = new_sale(http, wang, rx=RX_WANG_OSI, codes=[])
    err = http.post(f"/v1/sales/{other['id']}/trace-codes", {"codes": ["10012345678901234567"]}).json()["error"]
    assert err["code"] == "TRACE_CODE_ALREADY_SOLD" and err["details"]["sale_id"] == sale["id"]
    assert settle(http, sale["id"]).status_code == 200
    svc.outbox.drain()
    uploaded = [c for u in sandbox_http.get("/sandbox/ledger").json()["uploads"] for c in u["codes"]]
    assert "10012345678901234567" not in uploaded              # [scanning] upload_other_codes = false


def test_manufacturers_own_codes_are_uploaded_when_the_gateway_takes_them(service_factory, sandbox_http):
    svc, http = service_factory(scanning={"other_codes": True, "upload_other_codes": True})
    sale = new_sale(http, identify(http)["patient_ref"], codes=["10012345678901234567"])
    assert settle(http, sale["id"]).status_code == 200
    svc.outbox.drain()
    uploaded = [c for u in sandbox_http.get("/sandbox/ledger").json()["uploads"] for c in u["codes"]]
    assert "10012345678901234567" in uploaded


def test_without_the_region_setting_a_manufacturers_code_is_refused(rx):
    _, http = rx
    sale = new_sale(http, identify(http)["patient_ref"], codes=[])
    err = http.post(f"/v1/sales/{sale['id']}/trace-codes", {"codes": ["10012345678901234567"]}).json()["error"]
    assert err["code"] == "TRACE_CODE_INVALID" and err["details"]["fault"] == "prefix"


# --- credentials ----------------------------------------------------------------------------------------------------

def test_altered_credentials_get_hints_and_no_scan_ref(rx):
    _, http = rx
    for raw, code in [("360121196805122011", "id_number_invalid"), (ZHANG["card_no"], "card_sn_needed"),
                      ("HTTPS://CARD.EXAMPLE.CN/NHSA?QRCODE=" + ZHANG["ecard_qr"], "caps_lock"),
                      ("张伟", "input_method")]:
        answer = http.post("/v1/scans", {"raw": raw}).json()
        assert [h["code"] for h in answer["hints"]] == [code], raw
        assert "scan_ref" not in answer and all(h["message_zh"] for h in answer["hints"])
    for raw in (ZHANG["certno"], ZHANG["ecard_qr"]):        # an ID number; the e-voucher QR (28 digits)
        good = http.post("/v1/scans", {"raw": raw}).json()
        assert good["scan_ref"] and "hints" not in good, good


def test_a_card_number_without_its_card_code_is_an_input_error_not_patient_not_found(rx):
    _, http = rx
    r = http.post("/v1/patients/identify", {"cert_type": "ss_card", "cert_no": ZHANG["card_no"]})
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == "INVALID_INPUT" and err["details"]["field"] == "card_sn"
    assert "社保卡需读卡器读取卡识别码" in err["message_zh"]
    assert identify(http, ZHANG, how="ss_card")["patient_ref"]


def test_the_demo_prescription_number_is_a_prescription_scan(rx):
    _, http = rx
    assert http.post("/v1/scans", {"raw": RX_ZHANG_OSI.lower()}).json() == {
        "kind": "prescription", "raw_length": len(RX_ZHANG_OSI), "hi_rxno": RX_ZHANG_OSI}
