"""2101/2102/2103/2601 at the sandbox insurer (docs/gateway.md 2101–2601): the split is plugin.policy.split's
(docs/policies.md §3), every line is judged with the insurer's full facts and a failing line refuses the whole message
naming the drug, a settlement commits once per msgid, a cancel answers its own negative amounts and restores the
accumulators, and a reversal undoes a settlement whose answer was lost (docs/architecture.md)."""
from decimal import Decimal

import pytest
import requests

from adapters.nhsa import settlement
from adapters.nhsa.errors import GatewayConnectionLost, GatewayProtocolError, GatewayRefused
from adapters.nhsa.profile import load_profile
from plugin.policy import QuoteLine, QuoteRequest, Ytd, load_region, split
from tests.adapters.conftest import (LI, LIU, OSIMERTINIB, PHARMACY, RX_LIU, RX_ZHANG_OSI, RX_ZHANG_WRONG_DR,
                                     SECUKINUMAB, SINTILIMAB, WANG, ZHANG, make_client, settle_body)

NATIONAL = load_profile("national")
CANCER = ("M00500", "恶性肿瘤门诊治疗")


def settle(gateway, body=None, infno="2102", admdvs="360102", msgid=None):
    env = gateway.prepare(infno, body or settle_body(), insuplc_admdvs=admdvs, msgid=msgid)
    return env, settlement.parse_setlinfo(gateway.send(env).output)


def refusal(gateway, body, infno="2102", admdvs="360102"):
    with pytest.raises(GatewayRefused) as err:
        gateway.call(infno, body, insuplc_admdvs=admdvs)
    return err.value.err_msg


def accumulators(sandbox, psn_no=LIU["psn_no"]):
    return sandbox.books.ledger()["accumulators"][psn_no]


def test_presettlement_split_is_the_policy_engines_split_jiangxi_class_b(gateway):
    env, info = settle(gateway, infno="2101")
    expected = split(load_region("jiangxi"), QuoteRequest(
        insutype="310", hosp_lv="3", acct_used=True, balc=Decimal("50.00"),
        ytd=Ytd(Decimal("0"), Decimal("2400.00"), Decimal("300.00"), Decimal("0")),
        lines=[QuoteLine(SECUKINUMAB, "B", Decimal("598.00"), Decimal("1"), Decimal("598.00"))])).to_dict()
    assert info.split() == {k: v for k, v in expected.items() if k != "lines"}
    # 赣医保发〔2022〕2号 §二(三)3: class B pre-pays 10%; the account (50.00) is used first
    assert (info.amounts["preselfpay_amt"], info.amounts["acct_pay"]) == (Decimal("59.8"), Decimal("50.0"))
    assert info.setl_id == "" and info.setl_time == "" and info.medins_setl_id == env.msgid
    assert info.line("1")["inscp_scp_amt"] == Decimal("538.2") and info.line("1")["pric_uplmt_amt"] == Decimal("598")


def test_presettlement_commits_nothing(sandbox, gateway):
    before = accumulators(sandbox)
    settle(gateway, infno="2101")
    assert accumulators(sandbox) == before and sandbox.books.ledger()["settlements"] == []


def test_settlement_commits_split_and_accumulators_and_names_the_request(sandbox, gateway):
    env, info = settle(gateway, settle_body(invono="0036012025112000045"))
    [row] = sandbox.books.ledger()["settlements"]
    assert row["setl_id"] == info.setl_id and row["msgid"] == env.msgid == info.medins_setl_id
    assert row["state"] == "settled" and row["psn_cash_pay"] == "117.44" and row["invono"] == "0036012025112000045"
    assert row["hi_rxno"] == RX_LIU and row["institution_code"] == "H36010200101"
    assert (info.clr_optins, info.clr_type, info.insutype) == ("360102", "41", "310")
    assert {d["fund_pay_type"] for d in info.setldetail} == {"310100", "310200"}
    acc = accumulators(sandbox)
    assert acc["fund_paid"] == "2830.56" and acc["balc"] == "0.00"
    assert acc["selfpay"] == "407.64"  # + in-scope personal share 538.20 − 430.56
    # 2102 does not dispense the prescription: only 7206 does
    assert {p["hi_rxno"]: p["status"] for p in sandbox.books.ledger()["prescriptions"]}[RX_LIU] == "valid"


def test_settlement_by_e_voucher_token(sandbox, gateway):
    token = requests.post(sandbox.url + "/fsi/api/hsecfc/localQrCodeQuery", timeout=5,
                          json={"orgId": PHARMACY, "ecQrCode": LIU["ecard_qr"]}).json()["data"]["ecToken"]
    _, info = settle(gateway, settle_body(cert_type="01", cert_no=token))
    assert info.setl_id and info.psn_no == LIU["psn_no"]


def test_replayed_settlement_msgid_answers_the_same_settlement_once(sandbox, gateway):
    env, first = settle(gateway)
    again = settlement.parse_setlinfo(gateway.send(env).output)
    assert again.setl_id == first.setl_id and again.split() == first.split()
    assert len(sandbox.books.ledger()["settlements"]) == 1 and accumulators(sandbox)["fund_paid"] == "2830.56"


def test_cancel_answers_its_own_negative_amounts_under_the_interface_names(sandbox, gateway):
    _, info = settle(gateway)
    out = gateway.call("2103", settlement.cancel_input(info.setl_id, info.mdtrt_id, LIU["psn_no"]),
                       insuplc_admdvs="360102")
    assert "psn_pay" in out["setlinfo"] and "cash_payamt" in out["setlinfo"]
    assert "psn_part_amt" not in out["setlinfo"] and "psn_cash_pay" not in out["setlinfo"]
    cancel = settlement.parse_setlinfo(out)
    assert cancel.setl_id != info.setl_id and cancel.amounts["medfee_sumamt"] == Decimal("-598")
    assert cancel.amounts["psn_cash_pay"] == Decimal("-117.44") and cancel.derived == ()
    assert accumulators(sandbox) == {"deductible_paid": "0.00", "fund_paid": "2400.00", "selfpay": "300.00",
                                     "supplementary_paid": "0.00", "balc": "50.00"}
    assert sandbox.books.ledger()["settlements"][0]["state"] == "cancelled"


def test_cancel_twice_is_refused(gateway):
    _, info = settle(gateway)
    body = settlement.cancel_input(info.setl_id, info.mdtrt_id, LIU["psn_no"])
    gateway.call("2103", body, insuplc_admdvs="360102")
    assert "不能重复撤销" in refusal(gateway, body, "2103")


def test_reversal_undoes_a_settlement_whose_answer_was_lost_and_again_succeeds(sandbox, gateway):
    requests.post(sandbox.url + "/sandbox/faults", json={"infno": "2102", "mode": "drop_response"}, timeout=5)
    env = gateway.prepare("2102", settle_body(), insuplc_admdvs="360102")
    with pytest.raises((GatewayConnectionLost, GatewayProtocolError)):
        gateway.send(env)
    assert accumulators(sandbox)["fund_paid"] == "2830.56"
    reverse = settlement.reversal_input(LIU["psn_no"], env.msgid, "2102")
    assert gateway.call("2601", reverse, insuplc_admdvs="360102") == {}
    assert gateway.call("2601", reverse, insuplc_admdvs="360102") == {}   # idempotent
    assert accumulators(sandbox)["fund_paid"] == "2400.00" and accumulators(sandbox)["balc"] == "50.00"
    assert sandbox.books.ledger()["settlements"][0]["state"] == "reversed"
    with pytest.raises(GatewayRefused):   # the reversed msgid never settles again
        gateway.send(env)


def test_reversal_of_a_cancelled_settlement_is_refused_with_the_gateways_text(gateway):
    env, info = settle(gateway)
    gateway.call("2103", settlement.cancel_input(info.setl_id, info.mdtrt_id, LIU["psn_no"]), insuplc_admdvs="360102")
    text = refusal(gateway, settlement.reversal_input(LIU["psn_no"], env.msgid, "2102"), "2601")
    assert "冲正的结算信息退费结算标志不为未退费，不能办理冲正交易" in text


def test_reversal_of_a_message_never_received_is_refused_and_blocks_the_late_original(sandbox, gateway):
    env = gateway.prepare("2102", settle_body(), insuplc_admdvs="360102")
    text = refusal(gateway, settlement.reversal_input(LIU["psn_no"], env.msgid, "2102"), "2601")
    assert text == "未找到原交易，无需冲正"
    with pytest.raises(GatewayRefused) as err:
        gateway.send(env)
    assert "已被冲正" in err.value.err_msg and sandbox.books.ledger()["settlements"] == []


def test_reversing_a_cancel_reinstates_the_settlement(sandbox, gateway):
    _, info = settle(gateway)
    cancel = gateway.prepare("2103", settlement.cancel_input(info.setl_id, info.mdtrt_id, LIU["psn_no"]),
                             insuplc_admdvs="360102")
    gateway.send(cancel)
    gateway.call("2601", settlement.reversal_input(LIU["psn_no"], cancel.msgid, "2103"), insuplc_admdvs="360102")
    assert sandbox.books.ledger()["settlements"][0]["state"] == "settled"
    assert accumulators(sandbox)["fund_paid"] == "2830.56"


def test_reversal_of_a_lettered_infno_is_read_by_its_number(gateway):
    env, _ = settle(gateway)
    assert gateway.call("2601", settlement.reversal_input(LIU["psn_no"], env.msgid, "2102A"),
                        insuplc_admdvs="360102") == {}


# -- the insurer's 三定 verdict -------------------------------------------------------------------------------------
def _refused_for(gateway, body) -> str | None:
    return NATIONAL.refusal_reason(refusal(gateway, body))


def test_prescription_by_a_physician_who_is_not_responsible_is_refused_naming_the_drug(gateway):
    body = settle_body(person=ZHANG, rxno=RX_ZHANG_WRONG_DR, qty="2", dr_code="D360102001003", dr_name="孙浩")
    text = refusal(gateway, body)
    assert text.startswith(f"药品{SECUKINUMAB}：") and NATIONAL.refusal_reason(text) == "PHYSICIAN_NOT_RESPONSIBLE"


def test_physician_is_matched_by_name_when_no_code_is_sent(gateway):
    assert settle(gateway, settle_body(dr_code="", dr_name="吴丽华"))[1].setl_id
    assert _refused_for(gateway, settle_body(dr_code="", dr_name="孙浩")) == "PHYSICIAN_NOT_RESPONSIBLE"


def test_dispensed_revoked_and_expired_prescriptions_are_refused(gateway):
    dispensed = settle_body(person=ZHANG, code=OSIMERTINIB, price="4837.00", rxno="HX36011100301000000003",
                            dr_code="D360111003002", dr_name="郭敏", dise=CANCER)
    revoked = settle_body(person=LI, code="XL01EBA363A001010100703", price="1896.00", rxno="HX36011100301000000005",
                          dr_code="D360111003001", dr_name="罗晓峰", insutype="390", dise=CANCER)
    expired = settle_body(rxno="HX36010200101000000011", dr_code="D360102001001", dr_name="黄志明")
    assert _refused_for(gateway, dispensed) == "RX_ALREADY_DISPENSED"
    assert refusal(gateway, revoked, admdvs="360104") and \
        NATIONAL.refusal_reason(refusal(gateway, revoked, admdvs="360104")) == "RX_REVOKED"
    assert _refused_for(gateway, expired) == "RX_EXPIRED"


def test_patient_without_a_filing_is_refused(gateway):
    from tests.adapters.conftest import CHEN
    body = settle_body(person=CHEN, code=OSIMERTINIB, price="4837.00", rxno="HX36011100301000000008",
                       dr_code="D360111003001", dr_name="罗晓峰", dise=CANCER)
    assert NATIONAL.refusal_reason(refusal(gateway, body, admdvs="360111")) == "NO_FILING"


def test_price_above_the_payment_standard_is_refused_under_reject(gateway):
    text = refusal(gateway, settle_body(price="600.00"))
    assert NATIONAL.refusal_reason(text) == "PRICE_ABOVE_STANDARD" and "598.00" in text


def test_a_drug_not_on_the_prescription_is_refused(sandbox, gateway):
    requests.post(sandbox.url + "/sandbox/filings", timeout=5, json={
        "psn_no": LIU["psn_no"], "opsp_dise_code": "M00500", "opsp_dise_name": "恶性肿瘤门诊治疗",
        "begndate": "2000-01-01", "drug_generic_name": "奥希替尼", "fixmedins_code": "H36010200101",
        "dr_names": ["吴丽华"]}).raise_for_status()
    text = refusal(gateway, settle_body(code=OSIMERTINIB, price="4837.00"))
    assert text == f"药品{OSIMERTINIB}：该药品不在处方所列药品中"


def test_review_and_cross_region_gates_refuse_where_the_policy_turns_them_on(sandbox, gateway):
    wang = settle_body(person=WANG, rxno="HX36010200101000000007", dr_code="D360102001001", dr_name="黄志明")
    assert settle(gateway, wang, infno="2101", admdvs="420100")[1].psn_no == WANG["psn_no"]   # Jiangxi: no gate
    mapping = sandbox.books.policy.to_mapping()
    mapping["gates"] = {"hospital_review": True, "cross_region_review": True}
    assert requests.put(sandbox.url + "/sandbox/policy", json=mapping, timeout=5).status_code == 200
    assert NATIONAL.refusal_reason(refusal(gateway, wang, "2101", "420100")) == "CROSS_REGION_REVIEW_PENDING"
    from tests.adapters.conftest import EVOLOCUMAB, ZHOU
    zhou = settle_body(person=ZHOU, code=EVOLOCUMAB, price="283.00", qty="2", rxno="HX36010200101000000010",
                       dr_code="D360102001002", dr_name="吴丽华", dise=("M04302", "家族性高胆固醇血症"))
    assert NATIONAL.refusal_reason(refusal(gateway, zhou, "2101", "360103")) == "REVIEW_PENDING"


# -- what 2101/2102 must carry ----------------------------------------------------------------------------------------
def test_line_amount_must_be_count_times_price(gateway):
    body = settle_body()
    body["drugdetail"][0]["det_item_fee_sumamt"] = Decimal("597.00")
    body["druginfo"]["medfee_sumamt"] = Decimal("597.00")
    assert "det_item_fee_sumamt" in refusal(gateway, body)


def test_total_must_be_the_sum_of_the_lines(gateway):
    body = settle_body()
    body["druginfo"]["medfee_sumamt"] = Decimal("600.00")
    assert "medfee_sumamt" in refusal(gateway, body)


def test_someone_elses_credential_is_refused(gateway):
    assert "mdtrt_cert_no" in refusal(gateway, settle_body(cert_no=ZHANG["certno"]))


def test_med_type_must_be_the_profiles(gateway):
    body = settle_body()
    body["druginfo"]["med_type"] = "11"
    assert "med_type" in refusal(gateway, body)


def test_a_line_without_prescription_number_is_refused(gateway):
    assert "rxno" in refusal(gateway, settle_body(rxno=""))


def test_password_province_refuses_2102_without_cainfo_except_for_cross_province_patients(sandbox):
    sandbox.gateway.profile = load_profile("chongqing")
    client = make_client(sandbox.url, profile="chongqing")
    client.sign_in()
    assert "密码" in refusal(client, settle_body(profile="chongqing"))
    env = client.prepare("2102", settle_body(profile="chongqing"), insuplc_admdvs="360102",
                         cainfo="UlNBLWVuY3J5cHRlZA==")
    assert settlement.parse_setlinfo(client.send(env).output).setl_id
    wang = settle_body(person=WANG, rxno="HX36010200101000000007", dr_code="D360102001001", dr_name="黄志明",
                       profile="chongqing")
    assert settle(client, wang, admdvs="420100")[1].setl_id


def test_resident_settles_with_the_resident_ratio(gateway):
    body = settle_body(person=LI, code=SINTILIMAB, price="1080.00", qty="2", rxno="HX36010400201000000004",
                       dr_code="D360104002001", dr_name="何建平", insutype="390", dise=CANCER)
    _, info = settle(gateway, body, infno="2101", admdvs="360104")
    assert info.amounts["medfee_sumamt"] == Decimal("2160") and info.amounts["hifp_pay"] > 0


def test_gateway_answers_the_osimertinib_sale_of_the_demo(gateway):
    body = settle_body(person=ZHANG, code=OSIMERTINIB, price="4837.00", rxno=RX_ZHANG_OSI, dr_code="D360111003001",
                       dr_name="罗晓峰", dise=CANCER)
    _, info = settle(gateway, body)
    assert info.amounts["preselfpay_amt"] == 0 and info.amounts["fund_pay_sumamt"] == Decimal("3869.6")
