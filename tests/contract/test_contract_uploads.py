"""The upload messages against the interface's example envelopes (tests/contract/wire, docs/reconciliation.md):
3505 one ``selinfo`` object, 3505A a ``selinfoDetail`` batch, 3506 a return, 7204/7206, and the business result
``output.result{retRslt, msgRslt}`` that can refuse an upload answered with infcode 0."""
from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.nhsa import uploads as tx
from adapters.nhsa.envelope import parse_answer
from adapters.nhsa.errors import GatewayProtocolError
from adapters.nhsa.profile import check_input, load_profile

WIRE = Path(__file__).parent / "wire"
NATIONAL = load_profile("national")
CHONGQING = load_profile("chongqing")
LI = tx.Staff(name="李志强", certno="360103198507091013", cert_type="01", prac_cert_no="ZY3601202100123")
CHEN = tx.Staff(name="陈立", certno="360111199001011236", cert_type="01")


def wire(name: str) -> dict:
    return json.loads((WIRE / name).read_text("utf-8"))


def sample_item(**overrides) -> tx.SaleItem:
    """The sale of the wire samples (甲磺酸奥希替尼片, one pack of lot B2409117) as rxlane describes it."""
    values = {"med_list_codg": "XL01EBA345A001010104321", "fixmedins_hilist_id": "YP0001234",
                  "fixmedins_hilist_name": "甲磺酸奥希替尼片 80mg*30片",
                  "batch": tx.Batch(manu_lotnum="B2409117", manu_date="2024-09-11", expy_end="2027-08-31",
                                 fixmedins_bchno="PC20251015000321"),
                  "sel_retn_cnt": Decimal(1), "finl_trns_pric": Decimal("4230.00"), "codes": ("83912345678901234567",),
                  "trdn_flag": "0", "rtal_docno": "LS202511200931050001", "mdtrt_sn": "LS202511200931050001",
                  "sel_retn_time": "2025-11-20 09:31:10", "sel_retn_opter_name": "李志强", "pharmacist": LI,
                  "prsc_dr_name": "王建国", "rxno": "RX36010220251118000045", "rx_circ_flag": "1",
                  "setl_id": "3601000012345678", "insured": True, "psn_no": "36000000000000000001",
                  "psn_cert_type": "01", "certno": "360102196803152049", "psn_name": "张晓梅"}
    values.update(overrides)
    return tx.SaleItem(**values)


# -- 3505 / 3505A ------------------------------------------------------------------------------------------------
def test_a_3505_carries_one_selinfo_object_with_the_samples_values_and_nothing_outside_the_interface():
    sent = tx.sale_upload_input(NATIONAL, [sample_item().to_wire("list")])
    sample = wire("3505.request.json")["input"]["selinfo"]
    assert isinstance(sent["selinfo"], dict)
    assert set(sent["selinfo"]) <= set(sample)
    for key, value in sent["selinfo"].items():
        assert str(value) == str(sample[key]) or Decimal(str(value)) == Decimal(str(sample[key])), key
    assert check_input(NATIONAL.message("3505"), sent) == []


def test_the_patients_id_number_and_name_go_only_where_the_profile_requires_them():
    item = sample_item()
    assert "certno" not in item.to_wire() and "psn_name" not in item.to_wire()
    assert item.to_wire(personal=("certno", "psn_name"))["certno"] == "360102196803152049"


def test_a_3505_without_the_pharmacist_or_the_lot_is_incomplete_by_the_profile():
    bare = sample_item(pharmacist=None, batch=tx.Batch(fixmedins_bchno="X"))
    problems = check_input(NATIONAL.message("3505"), tx.sale_upload_input(NATIONAL, [bare.to_wire()]))
    assert {p.split(".")[1].split("]")[0] for p in problems} == {"phar_name", "phar_prac_cert_no", "manu_lotnum",
                                                                  "manu_date", "expy_end"}


def test_a_3505_message_never_carries_two_items_and_a_3505a_batch_respects_its_size():
    item = sample_item().to_wire()
    with pytest.raises(ValueError):
        tx.sale_upload_input(NATIONAL, [item, item])
    batch = tx.sale_upload_input(CHONGQING, [item, item])
    assert list(batch) == ["selinfoDetail"] and len(batch["selinfoDetail"]) == 2
    assert check_input(CHONGQING.message("3505A"), batch) == []
    sample = wire("3505A.request.json")["input"]
    assert check_input(CHONGQING.message("3505A"), sample) == []
    with pytest.raises(ValueError):
        tx.sale_upload_input(CHONGQING, [item] * (CHONGQING.uploads.batch_size + 1))


def test_the_trace_forms_list_object_and_single_code():
    codes = ("83912345678901234567", "83912345678901234568")
    assert tx.trace_node(codes, "list") == {"drugtracinfo": [{"drug_trac_codg": c} for c in codes]}
    assert tx.trace_node(codes[:1], "object") == {"drugtracinfo": {"drug_trac_codg": codes[0]}}
    single = wire("3505.request.v1-single-code.json")["input"]["selinfo"]
    assert tx.trace_node(codes[:1], "single") == {"drug_trac_codg": single["drug_trac_codg"]}
    with pytest.raises(ValueError):
        tx.trace_node(codes, "object")
    for form in ("list", "object", "single"):
        assert tx.item_codes(tx.trace_node(codes[:1], form)) == [codes[0]]


def test_a_line_sold_outside_insurance_is_reported_as_self_paid_without_a_settlement():
    item = sample_item(insured=False).to_wire()
    assert (item["mdtrt_setl_type"], item["hi_feesetl_type"], item["setl_id"]) == ("2", "0", "")


def test_a_stored_message_gets_its_numbers_back_as_decimals():
    stored = json.loads(json.dumps(sample_item().to_wire(), default=str))
    revived = tx.revive(stored)
    assert revived["finl_trns_pric"] == Decimal("4230.00") and isinstance(revived["sel_retn_cnt"], Decimal)
    assert revived["med_list_codg"] == stored["med_list_codg"]


# -- the answer --------------------------------------------------------------------------------------------------
def _result(name: str) -> tx.UploadResult:
    return tx.parse_upload_result(parse_answer(wire(name)).output)


def test_an_answer_without_output_and_one_with_retrslt_1_are_accepted():
    assert _result("3505.answer.json").accepted
    assert _result("3505.answer.result.json") == tx.UploadResult(True, "受理成功")
    assert _result("3505A.answer.json").accepted


def test_retrslt_0_is_a_refusal_with_the_insurers_reason_even_with_infcode_0():
    answer = wire("3505.answer.result.json")
    answer["output"]["result"] = {"retRslt": "0", "msgRslt": "追溯码83912345678901234567已在其他机构销售"}
    result = tx.parse_upload_result(parse_answer(answer).output)
    assert result == tx.UploadResult(False, "追溯码83912345678901234567已在其他机构销售")


def test_a_result_code_that_is_neither_1_nor_0_cannot_be_read():
    answer = wire("3505.answer.result.json")
    answer["output"]["result"]["retRslt"] = "9"
    with pytest.raises(GatewayProtocolError):
        tx.parse_upload_result(parse_answer(answer).output)


# -- 3506 --------------------------------------------------------------------------------------------------------
def test_a_return_repeats_the_sold_item_and_points_at_the_sale_document():
    sold = sample_item().to_wire()
    back = tx.return_item(sold, sel_retn_time="2025-11-20 15:01:00", sel_retn_opter_name="李志强",
                          trace_form="list", setl_id="3601000012345701", memo="整盒退货")
    sample = wire("3506.request.json")["input"]["selinfo"]
    assert set(back) - {"drugtracinfo"} <= set(sample)
    assert back["medins_prod_sel_no"] == sample["medins_prod_sel_no"] == sold["rtal_docno"]
    assert back["manu_lotnum"] == sample["manu_lotnum"] and back["setl_id"] == sample["setl_id"]
    assert tx.item_codes(back) == ["83912345678901234567"]
    assert check_input(NATIONAL.message("3506"), tx.sale_return_input(back)) == []


# -- 7204 / 7206 -------------------------------------------------------------------------------------------------
def test_the_review_names_the_pharmacist_and_the_checking_pharmacist():
    sent = tx.rx_review_input(hi_rxno="360100RX2025111800004567890", pharmacist=LI, checker=CHEN,
                              rx_chk_time="2025-11-20 09:25:00", rx_chk_opnn="处方合理，准予调配")
    sample = wire("7204.request.json")["input"]["data"]
    assert sent["data"] == sample
    assert check_input(NATIONAL.message("7204"), sent) == []


def test_the_dispensing_result_has_the_samples_fields_one_pack_per_row_and_no_invented_status():
    pack = tx.DispensedPack(
        med_list_codg="XL01EBA345A001010104321", fixmedins_hilist_id="YP0001234",
        fixmedins_hilist_name="甲磺酸奥希替尼片 80mg*30片", drug_genname="甲磺酸奥希替尼片", drug_prodname="泰瑞沙",
        drug_dosform="片剂", drug_spec="80mg*30片", prdr_name="示例制药有限公司", drug_cnt_unit="盒",
        batch=tx.Batch("B2409117", "2024-09-11", "2027-08-31", ""), trdn_flag="0",
        finl_trns_pric=Decimal("4230.00"), sel_retn_cnt=Decimal(1), code="83912345678901234567")
    sent = tx.dispense_input(hi_rxno="360100RX2025111800004567890", pharmacist=LI, checker=CHEN,
                             download_ide_code="AUTH3601002025112000017", setl_id="3601000012345678",
                             setl_time="2025-11-20 09:31:05", sel_retn_time="2025-11-20 09:31:10",
                             amounts=tx.amounts_of({"fund_pay_sumamt": "3045.60", "psn_part_amt": "1184.40",
                                                    "acct_pay": "1184.40", "psn_cash_pay": "0.00"}),
                             packs=[pack], insured=True)
    sample = wire("7206.request.json")["input"]
    assert set(sent["data"]) <= set(sample["data"]) and "rx_stas_codg" not in sent["data"]
    for key in ("hi_rxno", "phar_name", "dspeer_name", "pro_name", "download_ide_code", "payMode", "setl_id"):
        assert sent["data"][key] == sample["data"][key], key
    assert set(sent["selinfo"][0]) <= set(sample["selinfo"][0])
    assert sent["selinfo"][0]["drug_trac_codg"] == sample["selinfo"][0]["drug_trac_codg"]
    assert check_input(NATIONAL.message("7206"), sent) == []
