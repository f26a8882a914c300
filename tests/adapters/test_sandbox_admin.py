"""The sandbox admin API (docs/sandbox.md table): seeding, policy, faults, ledger; invalid bodies are 400 JSON errors."""
import pytest
import requests

from adapters.nhsa import transactions as tx
from adapters.nhsa.errors import GatewayRefused


def post(sandbox, path, body, method="post"):
    return getattr(requests, method)(sandbox.url + path, json=body, timeout=5)


PERSON = {"psn_no": "36010000000000009001", "certno": "360100198007045011", "psn_name": "测试", "insutype": "310",
          "insuplc_admdvs": "360102", "balc": "10.00", "ecard_token": "ECARDAAAABBBBCCCCDDDD",
          "ytd": {"deductible_paid": "0", "fund_paid": "0", "selfpay": "0", "supplementary_paid": "0"}}


def test_reset_empties_everything_and_demo_reloads(sandbox, gateway):
    assert post(sandbox, "/sandbox/reset", {}).json()["demo"] is False
    with pytest.raises(GatewayRefused):
        gateway.call("1101", tx.person_info_input("02", "360121196805122010"))
    assert post(sandbox, "/sandbox/reset", {"demo": True}).status_code == 200
    assert len(sandbox.books.persons) >= 5


def test_seeded_person_is_found_by_the_gateway(sandbox, gateway):
    post(sandbox, "/sandbox/reset", {})
    assert post(sandbox, "/sandbox/persons", PERSON).status_code == 201
    person = tx.parse_person(gateway.call("1101", tx.person_info_input("01", "ECARDAAAABBBBCCCCDDDD")))
    assert person.psn_no == PERSON["psn_no"] and str(person.insurance.balc) == "10.00"


def test_seeded_catalog_filing_and_prescription_are_visible(sandbox, gateway):
    post(sandbox, "/sandbox/reset", {})
    post(sandbox, "/sandbox/persons", PERSON)
    assert post(sandbox, "/sandbox/catalog", {
        "med_list_codg": "XJ01", "generic_name": "甲药", "drug_name": "甲药片", "spec": "1mg", "category": "B",
        "payment_standard": "1000.00", "agreement_end": "2099-12-31", "trace_prefixes": ["8000001"]}).status_code == 201
    assert post(sandbox, "/sandbox/filings", {
        "psn_no": PERSON["psn_no"], "generic_name": "甲药", "institution_code": "H36010200101", "hosp_lv": "3",
        "physicians": ["D1"], "begin": "2000-01-01", "end": "2099-12-31", "review": "none"}).status_code == 201
    assert post(sandbox, "/sandbox/prescriptions", {
        "hi_rxno": "RX1", "psn_no": PERSON["psn_no"], "institution_code": "H36010200101", "physician_code": "D1",
        "issued_at": "2099-01-01 09:00:00", "valid_days": 3, "lines": [{"med_list_codg": "XJ01", "qty": "1"}]}
    ).status_code == 201
    assert tx.parse_catalog(gateway.call("1312", tx.catalog_query_input())).rows[0].hilist_code == "XJ01"
    assert tx.parse_filings(gateway.call("5301", tx.filing_query_input(PERSON["psn_no"]),
                                         insuplc_admdvs="360102"))[0].dr_codes == ("D1",)
    assert tx.parse_rx(gateway.call("7203", tx.rx_download_input(hi_rxno="RX1"))).lines[0].med_list_codg == "XJ01"
    assert sandbox.books.ledger()["prescriptions"] == [{"hi_rxno": "RX1", "psn_no": PERSON["psn_no"],
                                                        "status": "valid"}]


@pytest.mark.parametrize("path,body,field", [
    ("/sandbox/persons", {**PERSON, "insutype": "999"}, "insutype"),
    ("/sandbox/persons", {**PERSON, "balc": "-1"}, "balc"),
    ("/sandbox/persons", {**PERSON, "insuplc_admdvs": "36"}, "insuplc_admdvs"),
    ("/sandbox/persons", {k: v for k, v in PERSON.items() if k != "psn_no"}, "psn_no"),
    ("/sandbox/catalog", {"med_list_codg": "X"}, "generic_name"),
    ("/sandbox/filings", {"psn_no": "nobody", "generic_name": "甲"}, "psn_no"),
    ("/sandbox/filings", {"psn_no": "36010000000000000101", "generic_name": "甲", "institution_code": "H",
                          "hosp_lv": "3", "physicians": [], "begin": "2025-01-01", "end": "2025-12-31",
                          "review": "none"}, "physicians"),
    ("/sandbox/prescriptions", {"hi_rxno": "R", "institution_code": "H", "physician_code": "D",
                                "issued_at": "2025-01-01 09:00:00", "valid_days": 3,
                                "lines": [{"med_list_codg": "X", "qty": "1"}]}, "psn_no"),
    ("/sandbox/faults", {"infno": "2102", "mode": "explode", "times": 1}, "mode"),
    ("/sandbox/faults", {"infno": "2102", "mode": "error", "times": 0}, "times"),
    ("/sandbox/faults", {"infno": "21", "mode": "error", "times": 1}, "infno"),
    ("/sandbox/faults", {"infno": "2102", "mode": "slow", "times": 1, "delay_ms": "x"}, "delay_ms"),
])
def test_invalid_admin_bodies_are_400_json_naming_the_field(sandbox, path, body, field):
    resp = post(sandbox, path, body)
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert error["code"] == "INVALID_INPUT" and error["details"]["field"] == field and error["message_zh"]


def test_non_json_admin_body_is_400(sandbox):
    resp = requests.post(sandbox.url + "/sandbox/persons", data=b"nope", timeout=5)
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "INVALID_INPUT"


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


def test_unknown_admin_path_is_404_json(sandbox):
    resp = requests.get(sandbox.url + "/sandbox/nothing", timeout=5)
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "NOT_FOUND"


def test_ledger_has_the_documented_shape(sandbox, gateway):
    ledger = requests.get(sandbox.url + "/sandbox/ledger", timeout=5).json()
    assert {"settlements", "uploads", "prescriptions", "accumulators"} <= set(ledger)
    assert ledger["accumulators"]["36010000000000000105"] == {
        "deductible_paid": "0.00", "fund_paid": "2400.00", "selfpay": "300.00", "supplementary_paid": "0.00",
        "balc": "50.00"}
