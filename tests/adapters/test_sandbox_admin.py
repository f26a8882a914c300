"""The sandbox admin API (docs/sandbox.md): seeding in the gateway's own record shapes (and the wave-1 bodies,
translated), policy, profile, variants, faults, ledger, message log; every invalid body is a 400 JSON error naming
the field, never a 500."""
import json
import random
from decimal import Decimal

import pytest
import requests

from adapters.nhsa import catalogue, person, prescriptions
from adapters.nhsa.errors import GatewayRefused

PERSON = {"baseinfo": {"psn_no": "36010000000000009001", "psn_cert_type": "01", "certno": "360100198007045011",
                       "psn_name": "测试", "naty": "01"},
          "insuinfo": [{"balc": "10.00", "insutype": "310", "psn_type": "1101", "psn_insu_stas": "1",
                        "insuplc_admdvs": "360102", "emp_name": "示例单位"}],
          "idetinfo": [], "ecard_qr": "4260173956810000000099360102", "card_no": "Z36010299", "card_sn": "SN99",
          "cum": {"fund_paid": "100.00"}}
WAVE1_PERSON = {"psn_no": "36010000000000009002", "certno": "360102197911030046", "psn_name": "旧式", "insutype": "390",
                "insuplc_admdvs": "360104", "balc": "0", "ecard_token": "ECARDAAAABBBBCCCCDDDD",
                "ytd": {"deductible_paid": "0", "fund_paid": "0", "selfpay": "14000.00", "supplementary_paid": "0"}}
DRUG = {"hilist_code": "XJ0100000000000000001", "hilist_name": "甲药片", "begndate": "2025-01-01",
        "enddate": "2099-12-31", "chrgitm_lv": "02", "generic_name": "甲药", "category": "B",
        "payment_standard": "1000.00", "spec": "1mg×10片"}
FILING = {"psn_no": PERSON["baseinfo"]["psn_no"], "opsp_dise_code": "M00500", "opsp_dise_name": "恶性肿瘤门诊治疗",
          "begndate": "2000-01-01", "enddate": "2099-12-31", "drug_generic_name": "甲药",
          "fixmedins_code": "H36010200101", "fixmedins_name": "江西省示范人民医院", "dr_names": ["黄志明"]}
RX = {"auth_rxno": "AUTH-T-1", "epc_token": "EPC-T-1",
      "data": {"hi_rxno": "RX1", "fixmedins_code": "H36010200101", "prsc_time": "2099-01-01 09:00:00",
               "valid_days": 3, "valid_end_time": "2099-01-03 23:59:59"},
      "rxdrugdetail": [{"med_list_codg": DRUG["hilist_code"], "drug_cnt": 1, "drug_genname": "甲药"}],
      "mdtrtinfo": {"psn_no": PERSON["baseinfo"]["psn_no"], "prsc_dr_name": "黄志明", "dise_codg": "M00500"},
      "diseinfo": [{"maindiag_flag": "1", "dise_dor_no": "D360102001001", "dise_dor_name": "黄志明"}]}


def post(sandbox, path, body, method="post"):
    return getattr(requests, method)(sandbox.url + path, json=body, timeout=5)


def test_reset_empties_everything_and_demo_reloads(sandbox, gateway):
    assert post(sandbox, "/sandbox/reset", {}).json()["demo"] is False
    assert sandbox.books.persons == {} and sandbox.books.sign_ins == []
    gateway.sign_in()    # a reset ends every sign-in
    with pytest.raises(GatewayRefused):
        gateway.call("1101", person.person_info_input("02", "360121196805122010"))
    assert post(sandbox, "/sandbox/reset", {"demo": True}).status_code == 200
    assert len(sandbox.books.persons) == 6


def test_reset_restores_the_default_variants(sandbox):
    post(sandbox, "/sandbox/variants", {"charset": "gbk", "nulls": False})
    post(sandbox, "/sandbox/reset", {"demo": True})
    assert requests.get(sandbox.url + "/sandbox/variants", timeout=5).json() == {
        "charset": "utf-8", "output_as_string": False, "infcode_as_string": False, "nulls": True,
        "numbers_for_money": True, "extra_fields": False}


def test_seeded_records_in_the_gateways_shapes_are_what_the_gateway_answers(sandbox, gateway):
    post(sandbox, "/sandbox/reset", {})
    gateway.sign_in()
    for path, body in (("/sandbox/persons", PERSON), ("/sandbox/catalog", DRUG), ("/sandbox/filings", FILING),
                       ("/sandbox/prescriptions", RX)):
        assert post(sandbox, path, body).status_code == 201, path
    found = person.parse_person(gateway.call("1101", person.person_info_input("03", "Z36010299", card_sn="SN99")))
    assert found.psn_no == PERSON["baseinfo"]["psn_no"] and found.insurance.balc == Decimal("10.00")
    assert found.brdy == "1980-07-04" and found.gend == "1"
    [row] = catalogue.parse_catalogue(gateway.call("1312", catalogue.catalogue_query_input(
        updt_time="2000-01-01", page_num=1, page_size=10))).rows
    assert (row.hilist_code, row.enddate) == (DRUG["hilist_code"], "2099-12-31")
    [filing] = person.parse_filings(gateway.call("5301", person.filing_query_input(FILING["psn_no"]),
                                                 insuplc_admdvs="360102"))
    assert (filing.opsp_dise_code, filing.begndate) == ("M00500", "2000-01-01")
    got = prescriptions.parse_rx(gateway.call("7203", prescriptions.rx_download_input(
        insuplc_admdvs="360102", auth_rxno="AUTH-T-1")))
    assert (got.hi_rxno, got.fixmedins_name, got.dise_dor_no) == ("RX1", "江西省示范人民医院", "D360102001001")
    assert sandbox.books.filings[0].filing.physicians == ("黄志明",)   # no register after a reset: names only
    cum = person.parse_accumulations(gateway.call("5206", person.accumulations_input(FILING["psn_no"]),
                                                  insuplc_admdvs="360102"))
    assert [a.cum for a in cum if a.cum_type_code == "C0201"] == [Decimal("100.00")]


def test_wave1_bodies_keep_working_translated_into_the_new_shapes(sandbox, gateway):
    assert post(sandbox, "/sandbox/persons", WAVE1_PERSON).status_code == 201
    assert post(sandbox, "/sandbox/catalog", {
        "med_list_codg": "XJ02", "generic_name": "乙药", "drug_name": "乙药片", "spec": "1mg", "category": "B",
        "payment_standard": "1000.00", "agreement_end": "2099-12-31", "trace_prefixes": ["8000001"]}).status_code == 201
    assert post(sandbox, "/sandbox/filings", {
        "psn_no": WAVE1_PERSON["psn_no"], "generic_name": "乙药", "institution_code": "H36010200101", "hosp_lv": "3",
        "physicians": ["D360102001001"], "begin": "2000-01-01", "end": "2099-12-31", "review": "none"}
    ).status_code == 201
    assert post(sandbox, "/sandbox/prescriptions", {
        "hi_rxno": "RXW1", "psn_no": WAVE1_PERSON["psn_no"], "institution_code": "H36010200101",
        "physician_code": "D360102001001", "issued_at": "2099-01-01 09:00:00", "valid_days": 3,
        "lines": [{"med_list_codg": "XJ02", "qty": "1"}]}).status_code == 201
    found = person.parse_person(gateway.call("1101", person.person_info_input("01", "ECARDAAAABBBBCCCCDDDD")))
    assert found.psn_no == WAVE1_PERSON["psn_no"] and found.insurance.insutype == "390"
    [filing] = person.parse_filings(gateway.call("5301", person.filing_query_input(WAVE1_PERSON["psn_no"]),
                                                 insuplc_admdvs="360104"))
    assert filing.opsp_dise_code.startswith("M9") and "乙药" in filing.opsp_dise_name
    [summary] = prescriptions.parse_rx_list(gateway.call("7202", prescriptions.rx_query_input(
        mdtrt_cert_type="02", mdtrt_cert_no=WAVE1_PERSON["certno"], card_sn="", insuplc_admdvs="360104",
        ip_info="1", opter="1", opter_name="药师", optins="P36010200001")))
    got = prescriptions.parse_rx(gateway.call("7203", prescriptions.rx_download_input(
        insuplc_admdvs="360104", auth_rxno=summary.auth_rxno)))
    assert got.dise_codg == filing.opsp_dise_code and got.prsc_dr_name == "黄志明"
    assert got.dise_dor_no == "D360102001001" and got.valid_end_time == "2099-01-03 23:59:59"
    assert got.lines[0].drug_genname == "乙药"


@pytest.mark.parametrize("path,body,field", [
    ("/sandbox/persons", {**PERSON, "insuinfo": [{**PERSON["insuinfo"][0], "insutype": "999"}]},
     "insuinfo[0].insutype"),
    ("/sandbox/persons", {**PERSON, "insuinfo": []}, "insuinfo"),
    ("/sandbox/persons", {**PERSON, "baseinfo": {"psn_no": "1"}}, "baseinfo.certno"),
    ("/sandbox/persons", {**PERSON, "cum": {"nonsense": "1"}}, "cum"),
    ("/sandbox/persons", {**WAVE1_PERSON, "insutype": "999"}, "insutype"),
    ("/sandbox/persons", {**WAVE1_PERSON, "balc": "-1"}, "balc"),
    ("/sandbox/persons", {**WAVE1_PERSON, "insuplc_admdvs": "36"}, "insuplc_admdvs"),
    ("/sandbox/persons", {k: v for k, v in WAVE1_PERSON.items() if k != "psn_no"}, "psn_no"),
    ("/sandbox/catalog", {"med_list_codg": "X"}, "generic_name"),
    ("/sandbox/catalog", {**DRUG, "payment_standard": "0"}, "payment_standard"),
    ("/sandbox/catalog", {**DRUG, "category": None}, "category"),
    ("/sandbox/filings", {**FILING, "psn_no": "nobody"}, "psn_no"),
    ("/sandbox/filings", {"psn_no": "36010000000000000101", "generic_name": "甲", "institution_code": "H",
                          "hosp_lv": "3", "physicians": [], "begin": "2025-01-01", "end": "2025-12-31",
                          "review": "none"}, "physicians"),
    ("/sandbox/filings", {**FILING, "psn_no": "36010000000000000101", "dr_names": []}, "dr_names"),
    ("/sandbox/filings", {**FILING, "psn_no": "36010000000000000101", "review": "maybe"}, "review"),
    ("/sandbox/prescriptions", {"hi_rxno": "R", "institution_code": "H", "physician_code": "D",
                                "issued_at": "2025-01-01 09:00:00", "valid_days": 3,
                                "lines": [{"med_list_codg": "X", "qty": "1"}]}, "psn_no"),
    ("/sandbox/prescriptions", {**RX, "mdtrtinfo": {"psn_no": "36010000000000000101"}, "rxdrugdetail": []},
     "rxdrugdetail"),
    ("/sandbox/prescriptions", {**RX, "mdtrtinfo": {"psn_no": "36010000000000000101"}, "status": "lost"}, "status"),
    ("/sandbox/faults", {"infno": "2102", "mode": "explode", "times": 1}, "mode"),
    ("/sandbox/faults", {"infno": "2102", "mode": "error", "times": 0}, "times"),
    ("/sandbox/faults", {"infno": "21", "mode": "error", "times": 1}, "infno"),
    ("/sandbox/faults", {"infno": "2102", "mode": "slow", "times": 1, "delay_ms": "x"}, "delay_ms"),
    ("/sandbox/variants", {"charset": "latin-1"}, "charset"),
    ("/sandbox/variants", {"nulls": "no"}, "nulls"),
    ("/sandbox/variants", {"colour": True}, "colour"),
])
def test_invalid_admin_bodies_are_400_json_naming_the_field(sandbox, path, body, field):
    resp = post(sandbox, path, body)
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert error["code"] == "INVALID_INPUT" and error["details"]["field"] == field and error["message_zh"]


def test_a_refused_seed_leaves_nothing_half_written(sandbox):
    before = (len(sandbox.books.filings), dict(sandbox.books.institutions))
    post(sandbox, "/sandbox/filings", {**FILING, "psn_no": "36010000000000000101", "fixmedins_code": "H99",
                                       "fixmedins_name": "新医院", "review": "maybe"})
    assert (len(sandbox.books.filings), sandbox.books.institutions) == before


def _junk(rng: random.Random, depth: int = 0):
    kinds = [None, True, 1, -1, 1.5, "", "x", "2025-13-45", "360102", "😀" * 3]
    if depth < 3:
        kinds += [[_junk(rng, depth + 1)], {"psn_no": _junk(rng, depth + 1)}]
    return rng.choice(kinds)


@pytest.mark.parametrize("path", ["/sandbox/persons", "/sandbox/catalog", "/sandbox/filings",
                                  "/sandbox/prescriptions", "/sandbox/faults", "/sandbox/variants",
                                  "/sandbox/reset"])
def test_no_body_makes_the_admin_api_fail_with_a_500(sandbox, path):
    rng = random.Random(path)
    keys = ["baseinfo", "insuinfo", "idetinfo", "cum", "psn_no", "certno", "insutype", "hilist_code", "data",
            "rxdrugdetail", "mdtrtinfo", "diseinfo", "opsp_dise_code", "drug_generic_name", "dr_names", "begndate",
            "lines", "issued_at", "infno", "mode", "charset", "demo", "payment_standard", "generic_name"]
    for _ in range(60):
        body = {k: _junk(rng) for k in rng.sample(keys, rng.randint(0, 8))}
        resp = requests.post(sandbox.url + path, data=json.dumps(body), timeout=5,
                             headers={"Content-Type": "application/json"})
        assert resp.status_code < 500, (body, resp.text)
        assert "error" in resp.json() or resp.status_code in (200, 201)
    for raw in (b"nope", b"[]", b"null", b'"x"', b"{" * 5000):
        resp = requests.post(sandbox.url + path, data=raw, timeout=5, headers={"Content-Type": "application/json"})
        assert resp.status_code < 500


def test_policy_by_region_and_by_mapping(sandbox):
    assert post(sandbox, "/sandbox/policy", {"region": "chongqing"}, "put").json()["region"] == "chongqing"
    assert sandbox.books.policy.region == "chongqing"
    mapping = requests.get(sandbox.url + "/sandbox/policy", timeout=5).json()
    mapping["ratio"]["310"] = "0.70"
    assert post(sandbox, "/sandbox/policy", mapping, "put").status_code == 200
    assert str(sandbox.books.policy.ratio["310"]) == "0.70"


@pytest.mark.parametrize("body", [{"region": "atlantis"}, {"region": "jiangxi", "ratio": {}}, {"admdvs": "1"}])
def test_invalid_policy_is_400(sandbox, body):
    resp = post(sandbox, "/sandbox/policy", body, "put")
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "INVALID_INPUT"


def test_profile_is_chosen_by_name_and_an_unknown_one_is_400(sandbox):
    assert post(sandbox, "/sandbox/profile", {"name": "zhejiang"}, "put").json()["name"] == "zhejiang"
    assert sandbox.gateway.profile.envelope.infver == "1.0"
    assert requests.get(sandbox.url + "/sandbox/profile", timeout=5).json()["name"] == "zhejiang"
    for body in ({"name": "atlantis"}, {"name": "../etc"}, {"name": 3}, {}):
        resp = post(sandbox, "/sandbox/profile", body, "put")
        assert resp.status_code == 400 and resp.json()["error"]["details"]["field"] == "name"


def test_variants_update_partially(sandbox):
    assert post(sandbox, "/sandbox/variants", {"charset": "GBK"}).json()["charset"] == "gbk"
    out = post(sandbox, "/sandbox/variants", {"nulls": False}).json()
    assert (out["charset"], out["nulls"], out["numbers_for_money"]) == ("gbk", False, True)


def test_unknown_admin_path_is_404_json(sandbox):
    resp = requests.get(sandbox.url + "/sandbox/nothing", timeout=5)
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "NOT_FOUND"
    resp = requests.post(sandbox.url + "/not/a/gateway/path", json={}, timeout=5)
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "NOT_FOUND"


def test_ledger_has_the_documented_shape(sandbox, gateway):
    ledger = requests.get(sandbox.url + "/sandbox/ledger", timeout=5).json()
    assert {"settlements", "uploads", "prescriptions", "accumulators"} <= set(ledger)
    assert ledger["accumulators"]["36010000000000000105"] == {
        "deductible_paid": "0.00", "fund_paid": "2400.00", "selfpay": "300.00", "supplementary_paid": "0.00",
        "balc": "50.00"}
    assert {"hi_rxno": "HX36011100301000000003", "psn_no": "36010000000000000101",
            "status": "dispensed"} in ledger["prescriptions"]
