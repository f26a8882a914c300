"""What the strict sandbox does with the reports after a sale and the daily reconciliation, sent by the adapter's own
builders in the interface's shapes (docs/reconciliation.md): 3505 one selinfo object and 3505A all items or none,
the business result ``retRslt`` beside the infcode refusal of a code already sold, 3506 returns, 7204/7206 with no
reopening, 3201 ``stmtinfo``, and the 9101 → 3202 → 9102 file flow with the result zip as the HTTP body."""
import copy
import json
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.nhsa import reconciliation as rtx
from adapters.nhsa import settlement
from adapters.nhsa import uploads as tx
from adapters.nhsa.envelope import MsgIdGenerator
from adapters.nhsa.errors import GatewayRefused
from adapters.nhsa.profile import load_profile
from tests.adapters.conftest import LIU, PHARMACY, RX_LIU, SECUKINUMAB, make_client, settle_body

WIRE = Path(__file__).resolve().parents[1] / "contract" / "wire"
CODE = "86907020000000000001"


def sample_input(name: str) -> dict:
    return copy.deepcopy(json.loads((WIRE / name).read_text(encoding="utf-8"))["input"])


def _settle(gateway) -> settlement.SetlInfo:
    return settlement.parse_setlinfo(gateway.call("2102", settle_body(), insuplc_admdvs="360102"))


def item(setl_id: str, *codes: str, **fields) -> dict:
    """The wire sample's 3505 item for LIU's 司库奇尤单抗 with these codes (one per pack)."""
    row = sample_input("3505.request.json")["selinfo"]
    row.update(med_list_codg=SECUKINUMAB, setl_id=setl_id, psn_no=LIU["psn_no"],
               sel_retn_time=f"{date.today()} 09:31:10", sel_retn_cnt=len(codes or (CODE,)),
               drugtracinfo=[{"drug_trac_codg": c} for c in codes or (CODE,)], **fields)
    return row


def upload(gateway, row: dict, infno: str = "3505") -> tx.UploadResult:
    out = gateway.call(infno, {"selinfo": row}, insuplc_admdvs="360102")
    return tx.parse_upload_result(out)


def test_a_sale_report_is_accepted_with_retrslt_1_and_its_codes_recorded(sandbox, gateway):
    info = _settle(gateway)
    assert upload(gateway, item(info.setl_id)) == tx.UploadResult(True, "受理成功")
    [recorded] = sandbox.books.ledger()["uploads"]
    assert (recorded["infno"], recorded["codes"], recorded["setl_id"]) == ("3505", [CODE], info.setl_id)


def test_selinfo_is_one_object_a_list_is_refused(gateway):
    info = _settle(gateway)
    env = gateway.prepare("3505", {"selinfo": item(info.setl_id)}, insuplc_admdvs="360102")
    env.body["input"]["selinfo"] = [env.body["input"]["selinfo"]]      # past the adapter's own check
    with pytest.raises(GatewayRefused) as err:
        gateway.send(env)
    assert "selinfo" in err.value.err_msg


def test_a_code_already_sold_is_refused_with_infcode_naming_it_and_a_replay_is_no_resale(sandbox, gateway):
    info = _settle(gateway)
    env = gateway.prepare("3505", {"selinfo": item(info.setl_id)}, insuplc_admdvs="360102")
    gateway.send(env)
    gateway.send(env)                                    # the same message again: the first answer, once
    assert len(sandbox.books.ledger()["uploads"]) == 1
    with pytest.raises(GatewayRefused) as err:
        upload(gateway, item(info.setl_id))
    assert CODE in err.value.err_msg and "已销售" in err.value.err_msg
    assert any(re.search(p, err.value.err_msg) for p in load_profile("national").uploads.permanent_patterns)


@pytest.mark.parametrize("change, words", [
    ({"setl_id": "NOT-A-SETTLEMENT"}, "不存在或已撤销"),
    ({"sel_retn_cnt": 2}, "不一致"),
    ({"expy_end": "2020-01-01"}, "过期"),
    ({"manu_date": "2099-01-01"}, "晚于"),
])
def test_a_report_the_insurer_refuses_on_its_content_answers_retrslt_0_and_records_nothing(sandbox, gateway, change,
                                                                                           words):
    info = _settle(gateway)
    result = upload(gateway, {**item(info.setl_id), **change})
    assert not result.accepted and words in result.message
    assert sandbox.books.ledger()["uploads"] == []


def test_a_3505a_batch_is_taken_whole_or_not_at_all(sandbox, gateway):
    info = _settle(gateway)
    batches = make_client(sandbox.url, profile="chongqing")          # a province that batches (3505A)
    batches.msgids = MsgIdGenerator(PHARMACY, counter_no=5)           # another counter: its own msgids
    batches.sign_in()
    good, bad = item(info.setl_id, CODE), item("NOT-A-SETTLEMENT", "86907020000000000002")
    result = tx.parse_upload_result(batches.call("3505", {"selinfoDetail": [good, bad]}, insuplc_admdvs="360102"))
    assert not result.accepted and "第2条" in result.message
    assert sandbox.books.ledger()["uploads"] == []
    assert tx.parse_upload_result(batches.call("3505", {"selinfoDetail": [good]}, insuplc_admdvs="360102")).accepted
    assert sandbox.books.ledger()["uploads"][0]["infno"] == "3505A"


def test_a_return_releases_the_codes_and_a_return_of_codes_never_sold_is_refused(gateway):
    info = _settle(gateway)
    sold = item(info.setl_id)
    upload(gateway, sold)
    back = tx.return_item(sold, sel_retn_time=f"{date.today()} 15:01:00", sel_retn_opter_name="李志强",
                          trace_form="list")
    assert upload(gateway, back, "3506").accepted
    assert upload(gateway, item(info.setl_id)).accepted         # the pack may be sold again
    never = tx.return_item(item(info.setl_id, "86907020000000009999"), sel_retn_time=f"{date.today()} 15:02:00",
                           sel_retn_opter_name="李志强", trace_form="list")
    refused = upload(gateway, never, "3506")
    assert not refused.accepted and "无销售记录" in refused.message


def test_dispensing_marks_the_prescription_and_nothing_reopens_it_after_a_refund(sandbox, gateway):
    review = sample_input("7204.request.json")
    review["data"]["hi_rxno"] = RX_LIU
    gateway.call("7204", review)
    info = _settle(gateway)
    dispense = sample_input("7206.request.json")
    dispense["data"].update(hi_rxno=RX_LIU, setl_id=info.setl_id)
    gateway.call("7206", dispense)
    gateway.call("2103", settlement.cancel_input(info.setl_id, info.mdtrt_id, LIU["psn_no"]), insuplc_admdvs="360102")
    dispense["data"]["rx_stas_codg"] = "cancel"                 # no such field in the interface: nothing reopens
    with pytest.raises(GatewayRefused) as err:
        gateway.call("7206", dispense)
    assert "已核销" in err.value.err_msg
    assert {p["hi_rxno"]: p["status"] for p in sandbox.books.ledger()["prescriptions"]}[RX_LIU] == "dispensed"


# -- reconciliation ------------------------------------------------------------------------------------------------
def _totals(info: settlement.SetlInfo, count: int) -> dict:
    today = date.today()
    return rtx.totals_input(insutype="310", clr_type="41", setl_optins=info.clr_optins, begin=today, end=today,
                            medfee_sumamt=info.amounts["medfee_sumamt"],
                            fund_pay_sumamt=info.amounts["fund_pay_sumamt"], acct_pay=info.amounts["acct_pay"],
                            fixmedins_setl_cnt=count)


def test_3201_answers_stmtinfo_balanced_or_who_has_more(gateway):
    info = _settle(gateway)
    assert rtx.parse_totals(gateway.call("3201", _totals(info, 1))).stmt_rslt == "0"
    assert rtx.parse_totals(gateway.call("3201", _totals(info, 2))).stmt_rslt == "2"
    assert rtx.parse_totals(gateway.call("3201", _totals(info, 0))).stmt_rslt == "1"


def _detail_flow(gateway, rows: list[rtx.DetailRow], optins: str) -> list[rtx.ResultRow]:
    profile, today = load_profile("national"), date.today()
    name = rtx.detail_file_name(PHARMACY, today, optins)
    stored = rtx.parse_file_ref(gateway.call("9101", rtx.upload_input(
        profile, content=rtx.zipped(name, rtx.detail_text(rows)), filename=name + ".zip", fixmedins_code=PHARMACY)))
    result = rtx.parse_file_ref(gateway.call("3202", rtx.detail_input(
        profile, setl_optins=optins, file_qury_no=stored.file_qury_no, begin=today, end=today, rows=rows)),
        "fileinfo", "3202")
    content = gateway.fetch_file(gateway.prepare("9102", rtx.download_input(result, PHARMACY)))
    return rtx.read_result(content, profile.reconcile.result_columns)


def test_the_detail_file_round_trips_through_9101_3202_and_9102(gateway):
    info = _settle(gateway)
    a = info.amounts
    ours = rtx.DetailRow(info.setl_id, info.mdtrt_id, LIU["psn_no"], a["medfee_sumamt"], a["fund_pay_sumamt"],
                         a["acct_pay"], a["psn_cash_pay"])
    [row] = _detail_flow(gateway, [ours], info.clr_optins)
    assert (row.setl_id, row.stmt_rslt, row.medfee_sumamt) == (info.setl_id, "0", a["medfee_sumamt"])
    wrong = rtx.DetailRow("ST-ONLY-HERE", "M", "P", Decimal("1.00"), Decimal("0.00"), Decimal("0.00"),
                          Decimal("1.00"))
    rows = {r.setl_id: r for r in _detail_flow(gateway, [wrong], info.clr_optins)}
    assert rows["ST-ONLY-HERE"].verdict == "pharmacy_has_more"
    assert rows[info.setl_id].verdict == "centre_has_more" and rows[info.setl_id].msgid


def test_the_file_service_refuses_what_it_cannot_take_and_hands_a_pharmacy_only_its_own_files(gateway):
    with pytest.raises(GatewayRefused) as err:
        gateway.call("9101", {"fsUploadIn": {"in": "not base64!", "filename": "x.zip", "fixmedins_code": PHARMACY}})
    assert "Base64" in err.value.err_msg
    info = _settle(gateway)
    today, profile = date.today(), load_profile("national")
    name = rtx.detail_file_name(PHARMACY, today, info.clr_optins)
    stored = rtx.parse_file_ref(gateway.call("9101", rtx.upload_input(
        profile, content=rtx.zipped(name, b""), filename=name + ".zip", fixmedins_code=PHARMACY)))
    header = rtx.detail_input(profile, setl_optins=info.clr_optins, file_qury_no=stored.file_qury_no, begin=today,
                              end=today, rows=[])
    header["data"]["fixmedins_setl_cnt"] = 3                       # a header that is not the file's
    with pytest.raises(GatewayRefused) as err:
        gateway.call("3202", header)
    assert "笔数" in err.value.err_msg
    header["data"]["fixmedins_setl_cnt"] = 0
    result = rtx.parse_file_ref(gateway.call("3202", header), "fileinfo", "3202")
    with pytest.raises(GatewayRefused) as err:                     # another pharmacy's code in the request
        gateway.fetch_file(gateway.prepare("9102", rtx.download_input(result, "P36010200099")))
    assert "fixmedins_code" in err.value.err_msg
    assert rtx.read_result(gateway.fetch_file(gateway.prepare("9102", rtx.download_input(result, PHARMACY))),
                           profile.reconcile.result_columns)[0].verdict == "centre_has_more"
