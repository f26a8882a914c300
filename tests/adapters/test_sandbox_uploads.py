"""What the strict sandbox does with the reports after a sale, sent in the interface's shapes (the wire samples of
tests/contract/wire): 3505/3506 trace codes (one code sold once, docs/gateway.md "Drug traceability codes";
docs/policies.md §6), 7204 review and 7206 dispensing (a dispensed prescription no longer downloads or settles), and
3201 totals reconciliation. These handlers are being rebuilt to the real interface; the tests pin what holds now."""
import copy
import json
from pathlib import Path

import pytest

from adapters.nhsa import settlement
from adapters.nhsa import prescriptions as rx
from adapters.nhsa.errors import GatewayRefused
from tests.adapters.conftest import LIU, RX_LIU, SECUKINUMAB, settle_body

WIRE = Path(__file__).resolve().parents[1] / "contract" / "wire"
CODE = "86907020000000000001"


def sample_input(name: str) -> dict:
    return copy.deepcopy(json.loads((WIRE / name).read_text(encoding="utf-8"))["input"])


def sale(code=CODE, trdn="0", setl_id="S1"):
    inp = sample_input("3505.request.json")
    inp["selinfo"].update(med_list_codg=SECUKINUMAB, setl_id=setl_id, psn_no=LIU["psn_no"], trdn_flag=trdn,
                          drugtracinfo=[{"drug_trac_codg": code}])
    return inp


def sale_return(code=CODE):
    inp = sample_input("3506.request.json")
    inp["selinfo"].update(med_list_codg=SECUKINUMAB, psn_no=LIU["psn_no"], drugtracinfo=[{"drug_trac_codg": code}])
    return inp


def test_sale_upload_records_the_codes(sandbox, gateway):
    env = gateway.prepare("3505", sale(), insuplc_admdvs="360102")
    gateway.send(env)
    assert sandbox.books.ledger()["uploads"][0] == {"infno": "3505", "msgid": env.msgid, "codes": [CODE],
                                                    "setl_id": "S1"}


def test_a_code_already_sold_is_refused_naming_it(gateway):
    gateway.call("3505", sale(), insuplc_admdvs="360102")
    with pytest.raises(GatewayRefused) as err:
        gateway.call("3505", sale(setl_id="S2"), insuplc_admdvs="360102")
    assert CODE in err.value.err_msg and "已销售" in err.value.err_msg


def test_replayed_upload_msgid_is_not_a_resale(sandbox, gateway):
    env = gateway.prepare("3505", sale(), insuplc_admdvs="360102")
    gateway.send(env)
    gateway.send(env)
    assert len(sandbox.books.ledger()["uploads"]) == 1


def test_return_releases_the_code_for_sale_again(gateway):
    gateway.call("3505", sale(), insuplc_admdvs="360102")
    gateway.call("3506", sale_return(), insuplc_admdvs="360102")
    gateway.call("3505", sale(setl_id="S3"), insuplc_admdvs="360102")


def test_a_sale_upload_missing_a_required_field_is_refused_naming_it(gateway):
    env = gateway.prepare("3505", sale(), insuplc_admdvs="360102")
    del env.body["input"]["selinfo"]["phar_prac_cert_no"]
    with pytest.raises(GatewayRefused) as err:
        gateway.send(env)
    assert "phar_prac_cert_no" in err.value.err_msg


def _settle(gateway):
    return settlement.parse_setlinfo(gateway.call("2102", settle_body(), insuplc_admdvs="360102"))


def _dispense(gateway, info, hi_rxno=RX_LIU):
    inp = sample_input("7206.request.json")
    inp["data"].update(hi_rxno=hi_rxno, setl_id=info.setl_id if info else "")
    gateway.call("7206", inp)
    return inp


def test_review_then_dispensing_marks_the_prescription_dispensed(sandbox, gateway):
    review = sample_input("7204.request.json")
    review["data"]["hi_rxno"] = RX_LIU
    gateway.call("7204", review)
    auth = rx.parse_rx_list(gateway.call("7202", rx.rx_query_input(
        mdtrt_cert_type="02", mdtrt_cert_no=LIU["certno"], card_sn="", insuplc_admdvs="360102", ip_info="1",
        opter="1", opter_name="药师", optins="P36010200001")))[0].auth_rxno
    info = _settle(gateway)
    _dispense(gateway, info)
    assert {p["hi_rxno"]: p["status"] for p in sandbox.books.ledger()["prescriptions"]}[RX_LIU] == "dispensed"
    with pytest.raises(GatewayRefused) as err:      # the platform no longer hands it out
        gateway.call("7203", rx.rx_download_input(insuplc_admdvs="360102", auth_rxno=auth))
    with pytest.raises(GatewayRefused) as err:      # nor does the insurer settle it again
        _settle(gateway)
    assert "已核销" in err.value.err_msg


def test_dispensing_cancel_reopens_the_prescription_after_a_refund(sandbox, gateway):
    info = _settle(gateway)
    inp = _dispense(gateway, info)
    gateway.call("2103", settlement.cancel_input(info.setl_id, info.mdtrt_id, LIU["psn_no"]), insuplc_admdvs="360102")
    inp["data"]["rx_stas_codg"] = "cancel"
    gateway.call("7206", inp)
    assert {p["hi_rxno"]: p["status"] for p in sandbox.books.ledger()["prescriptions"]}[RX_LIU] == "valid"


def test_revoked_prescription_cannot_be_dispensed(gateway):
    with pytest.raises(GatewayRefused) as err:
        _dispense(gateway, None, "HX36011100301000000005")
    assert "HX36011100301000000005" in err.value.err_msg


def test_totals_reconciliation_balances_and_flags_a_difference(sandbox, gateway):
    info = _settle(gateway)
    today = sandbox.books.today().isoformat()
    inp = sample_input("3201.request.json")
    inp["data"].update(stmt_begndate=today, stmt_enddate=today, medfee_sumamt="598.00", fund_pay_sumamt="430.56",
                       acct_pay="50.00", fixmedins_setl_cnt=1, setl_optins=info.clr_optins)
    assert gateway.call("3201", inp)["data"]["stmt_rslt"] == "0"
    inp["data"]["fixmedins_setl_cnt"] = 2
    assert gateway.call("3201", inp)["data"]["stmt_rslt"] == "1"
