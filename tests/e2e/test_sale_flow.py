"""The counter flow over real HTTP against the real sandbox: identify → sale → presettle → settle → refund.

Checks the split invariant (docs/policies.md §3) on every answer and that the insurer's books (`GET /sandbox/ledger`)
agree with rxlane's.
"""
from decimal import Decimal

import pytest

from tests.e2e.conftest import (DEMO, LIU, RX_LIU_SEC, SECUKINUMAB, ZHANG, assert_invariant, identify,
                                new_sale)


@pytest.mark.parametrize("how", ["id_card", "ecard", "ss_card"])
def test_identify_demo_patient_by_each_certificate_masks_personal_data(rx, how):
    _, http = rx
    patient = identify(http, ZHANG, how)
    assert patient["insutype"] == "310" and patient["balc"] == "5000.00"
    assert patient["person"]["psn_name"] == "张*"
    assert patient["person"]["certno"] == ZHANG["certno"][:4] + "*" * 10 + ZHANG["certno"][-4:]
    assert ZHANG["certno"] not in str(patient) and ZHANG["ecard_qr"] not in str(patient)
    # 5301 gives each filing's disease and dates only (docs/gateway.md 5301)
    assert {f["opsp_dise_name"] for f in patient["filings"]} == \
        {f["opsp_dise_name"] for f in DEMO["filings"] if f["psn_no"] == ZHANG["psn_no"]}
    assert all(set(f) == {"opsp_dise_code", "opsp_dise_name", "begin", "end", "valid_today"}
               for f in patient["filings"])


def test_unknown_patient_is_patient_not_found_with_chinese_message(rx):
    _, http = rx
    r = http.post("/v1/patients/identify", {"cert_type": "id_card", "cert_no": "110101199003074514"})
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "PATIENT_NOT_FOUND" and r.json()["error"]["message_zh"]


def test_full_sale_settles_once_and_the_insurer_books_agree(rx, sandbox_http, zhang):
    _, http = rx
    sale = new_sale(http, zhang)
    assert sale["state"] == "draft" and sale["lines"][0]["eligible"] is True
    pre = http.post(f"/v1/sales/{sale['id']}/presettle").json()
    assert pre["state"] == "presettled" and pre["mismatch"] == []
    assert_invariant(pre["split"])
    done = http.post(f"/v1/sales/{sale['id']}/settle").json()
    assert done["state"] == "settled" and done["setl_id"]
    assert_invariant(done["split"])
    # Jiangxi class A, employee 0.80 (docs/policies.md §4; 赣医保发〔2022〕2号 §二(三)3: no deductible, no pre-pay).
    assert done["split"]["hifp_pay"] == "3869.60" and done["split"]["acct_pay"] == "967.40"
    assert done["psn_cash_pay"] == done["split"]["psn_cash_pay"] == "0.00"
    books = sandbox_http.get("/sandbox/ledger").json()
    theirs = [s for s in books["settlements"] if s["setl_id"] == done["setl_id"]]
    assert len(theirs) == 1 and theirs[0]["state"] == "settled"
    for field in ("medfee_sumamt", "fund_pay_sumamt", "acct_pay", "psn_cash_pay"):
        assert Decimal(theirs[0][field]) == Decimal(done["split"][field])
    assert [j["infno"] for j in http.get(f"/v1/sales/{sale['id']}").json()["journal"]][:1] == ["2102"]


def test_low_balance_patient_pays_cash_beyond_the_account(rx):
    _, http = rx
    ref = identify(http, LIU)["patient_ref"]
    sale = new_sale(http, ref, med=SECUKINUMAB, price="598.00", rx=RX_LIU_SEC)
    done = http.post(f"/v1/sales/{sale['id']}/settle").json()
    assert_invariant(done["split"])
    # class B: 10 % pre-pay (赣医保发〔2022〕2号 §二(三)3); account has only 50.00.
    assert done["split"]["preselfpay_amt"] == "59.80"
    assert done["split"]["acct_pay"] == "50.00" and done["split"]["balc"] == "0.00"
    assert Decimal(done["psn_cash_pay"]) == Decimal(done["split"]["psn_part_amt"]) - Decimal("50.00")


def test_refund_cancels_with_the_insurer_and_restores_accumulators(rx, sandbox_http, zhang):
    _, http = rx
    before = sandbox_http.get("/sandbox/ledger").json()["accumulators"][ZHANG["psn_no"]]
    sale = new_sale(http, zhang)
    done = http.post(f"/v1/sales/{sale['id']}/settle").json()
    refunded = http.post(f"/v1/sales/{sale['id']}/refund", {"reason": "患者退药"}).json()
    assert refunded["state"] == "refunded" and refunded["refund"]["msgid"]
    books = sandbox_http.get("/sandbox/ledger").json()
    assert [s["state"] for s in books["settlements"] if s["setl_id"] == done["setl_id"]] == ["cancelled"]
    assert books["accumulators"][ZHANG["psn_no"]] == before
    again = http.post(f"/v1/sales/{sale['id']}/refund")
    assert again.status_code == 409 and again.json()["error"]["code"] == "INVALID_STATE"


def test_openapi_describes_every_endpoint_with_request_and_answer_schemas(rx):
    _, http = rx
    doc = http.get("/openapi.json").json()
    for path, method in [("/v1/health", "get"), ("/v1/scans", "post"), ("/v1/patients/identify", "post"),
                         ("/v1/prescriptions", "get"), ("/v1/sales", "post"), ("/v1/sales/{sale_id}", "get"),
                         ("/v1/sales/{sale_id}/presettle", "post"), ("/v1/sales/{sale_id}/settle", "post"),
                         ("/v1/sales/{sale_id}/refund", "post"), ("/v1/sales/{sale_id}/trace-codes", "post")]:
        op = doc["paths"][path][method]
        assert any(k.startswith("2") for k in op["responses"])
        if method == "post" and path != "/v1/sales/{sale_id}/resolve":
            assert "requestBody" in op, path
    assert "SplitOut" in doc["components"]["schemas"] and "NO_FILING" in doc["info"]["x-error-codes"]


def test_health_reports_ledger_upstream_and_queues(rx, zhang):
    _, http = rx
    h = http.get("/v1/health").json()
    assert h["status"] == "ok" and h["ledger"]["ok"] and h["upstream"]["signed_in"]
    assert h["outbox"]["pending"] == 0 and h["in_doubt"] == 0
    assert http.get("/v1/health").headers["X-Request-Id"]


def test_identifying_a_patient_again_keeps_the_reference_and_refreshes_the_balance(rx, sandbox_http):
    _, http = rx
    first = identify(http)
    sandbox_http.post("/sandbox/persons", {**{k: ZHANG[k] for k in ("psn_no", "certno", "psn_name", "insutype",
                                                                      "insuplc_admdvs")},
                                           "balc": "123.45", "ecard_token": ZHANG["ecard_qr"],
                                           "card_no": ZHANG["card_no"], "card_sn": ZHANG["card_sn"]})
    again = identify(http)
    assert again["patient_ref"] == first["patient_ref"] and again["balc"] == "123.45"
