"""Planning a sale's uploads (plugin/uploads.py; docs/reconciliation.md "Uploads"): every required field from its
source, packs grouped by batch, one selinfo per message or 3505A batches, and the missing fields named per line
instead of a message sent blind."""
from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from adapters.nhsa import uploads as tx
from adapters.nhsa.profile import check_input, load_profile
from plugin import uploads as plan
from plugin.policy.model import Split
from plugin.sale import Sale, SaleLine, SaleState, TraceCode
from plugin.store.stock import StockEntry

NATIONAL = load_profile("national")
CHONGQING = load_profile("chongqing")
CTX = plan.Context(NATIONAL, "王店员")
LI = {"name": "李志强", "certno": "360103198507091013", "cert_type": "01", "prac_cert_no": "ZY3601202100123"}
CHEN = {"name": "陈立", "certno": "360111199001011236", "cert_type": "01", "prac_cert_no": "ZY3601202100456"}
DOMESTIC = ["83912345678901234567", "83912345678901234568", "83912345678901234569"]


def gs1(lot: str, serial: str, made: str = "240911", expires: str = "270831") -> str:
    return f"(01)06901234567892(11){made}(17){expires}(10){lot}(21){serial}"


def line(no: int = 1, qty: str = "2", **kw) -> SaleLine:
    values = {"line_no": no, "med_list_codg": "XL01EBA345A001010104321", "generic_name": "甲磺酸奥希替尼片",
                  "drug_name": "泰瑞沙", "spec": "80mg*30片", "category": "A", "qty": Decimal(qty),
                  "price": Decimal("4230.00"), "payment_standard": Decimal("4230.00"),
                  "line_total": Decimal("4230.00") * Decimal(qty), "donated": False,
                  "trdn": False, "eligible": True, "reasons": ()}
    values.update(kw)
    return SaleLine(**values)


def pack(code: str, no: int = 1, raw: str | None = None, kind: str = "trace_code") -> TraceCode:
    return TraceCode(sale_id="S1", line_no=no, code=code, raw=raw or code, kind=kind, expiry=None, trdn=False,
                     qty=Decimal(1), released=False, created_at="")


def sale(lines=(), *, insured=True, rx=True) -> Sale:
    return Sale(id="S20251120ABCDEF123456", state=SaleState.SETTLED, created_at="2025-11-20 09:30:00",
                updated_at="2025-11-20 09:31:10", biz_date="2025-11-20", patient_ref="P1",
                psn_no="36000000000000000001", insutype="310", hi_rxno="360100RX2025111800004567890" if rx else None,
                rx={"physician_name": "王建国", "download_ide_code": "AUTH3601002025112000017",
                    "lines": [{"med_list_codg": "XL01EBA345A001010104321", "drug_dosform": "片剂",
                               "prdr_name": "示例制药有限公司", "unit": "盒"}]} if rx else None,
                acct_used=True, confirm_selfpay=False, medfee_sumamt=Decimal("8460.00"),
                setl_id="3601000012345678" if insured else None, mdtrt_id="M1", settle_msgid="X",
                setl_time="2025-11-20 09:31:05", presettle=None, split=None, estimate=None, mismatch=[], refund=None,
                last_error=None, lines=tuple(lines or (line(),)),
                insurer={"setl_id": "3601000012345678", "clr_optins": "360100", "clr_type": "41"} if insured else None)


def facts(s: Sale, packs, *, duty=(LI, CHEN), supplied=None, stock=None) -> plan.SaleFacts:
    on_duty = {role: person for role, person in zip(("pharmacist", "checker"), duty, strict=False) if person}
    return plan.SaleFacts(sale=s, packs=tuple(packs), facts={0: on_duty, **(supplied or {})},
                          patient=plan.Patient("36000000000000000001", "01", "360102196803152049", "张晓梅"),
                          stock=stock or {})


def entry(lot: str, *, made="2024-09-11", expires="2027-08-31", retired=None, bchno="") -> StockEntry:
    return StockEntry(id=1, med_list_codg="XL01EBA345A001010104321", lot=lot, manu_date=made, expy_end=expires,
                      bchno=bchno, prdr_name="", created_at="", retired_at=retired)


def items_of(result: plan.Plan) -> list[dict]:
    return [m.get("selinfo") for m in result.messages]


# -- where a pack's batch comes from ---------------------------------------------------------------------------
def test_a_gs1_pack_brings_its_own_lot_production_date_and_expiry():
    s = sale([line(qty="1")])
    result = plan.plan_sale(CTX, facts(s, [pack("0106901234567892", raw=gs1("B2409117", "SN1"), kind="gs1")]))
    [item] = items_of(result)
    assert (item["manu_lotnum"], item["manu_date"], item["expy_end"]) == ("B2409117", "2024-09-11", "2027-08-31")
    assert item["fixmedins_bchno"] == "B2409117"       # no stock entry: the lot stands for the batch


def test_packs_of_one_line_from_two_lots_are_two_items_each_with_its_count():
    s = sale([line(qty="3")])
    packs = [pack("c1", raw=gs1("B1", "1"), kind="gs1"), pack("c2", raw=gs1("B2", "2", "241001"), kind="gs1"),
             pack("c3", raw=gs1("B1", "3"), kind="gs1")]
    result = plan.plan_sale(CTX, facts(s, packs))
    got = sorted((i["manu_lotnum"], int(i["sel_retn_cnt"]), tuple(tx.item_codes(i))) for i in items_of(result))
    assert got == [("B1", 2, ("c1", "c3")), ("B2", 1, ("c2",))]


def test_domestic_codes_take_the_lot_the_pos_gave_for_the_line():
    s = sale([line(lot="B2409117", manu_date="2024-09-11", expy_end="2027-08-31")])
    [item] = items_of(plan.plan_sale(CTX, facts(s, [pack(DOMESTIC[0]), pack(DOMESTIC[1])])))
    assert item["manu_lotnum"] == "B2409117" and tx.item_codes(item) == DOMESTIC[:2]
    assert item["sel_retn_cnt"] == 2


def test_the_drugs_only_open_stock_batch_fills_in_and_names_the_pharmacys_batch_serial():
    s = sale()
    stock = {"XL01EBA345A001010104321": (entry("B77", bchno="PC2025001"), entry("B60", retired="2025-01-01"),
                                        entry("B50", expires="2025-01-31"))}
    [item] = items_of(plan.plan_sale(CTX, facts(s, [pack(DOMESTIC[0]), pack(DOMESTIC[1])], stock=stock)))
    assert (item["manu_lotnum"], item["fixmedins_bchno"]) == ("B77", "PC2025001")


def test_two_open_stock_batches_are_a_question_for_the_pharmacist_not_a_guess():
    s = sale()
    stock = {"XL01EBA345A001010104321": (entry("B77"), entry("B78"))}
    result = plan.plan_sale(CTX, facts(s, [pack(DOMESTIC[0]), pack(DOMESTIC[1])], stock=stock))
    assert not result.ready and result.messages == ()
    [missing] = result.missing
    assert (missing.line_no, missing.fields) == (1, ("lot", "manu_date", "expy_end"))
    assert set(missing.wire) == {"manu_lotnum", "fixmedins_bchno", "manu_date", "expy_end"}


def test_a_date_is_never_taken_from_a_source_naming_another_lot():
    s = sale([line(lot="B9", manu_date="2023-01-01", expy_end="2025-12-31")])
    supplied = {1: {"lot": "B2409117"}}
    result = plan.plan_sale(CTX, facts(s, [pack(DOMESTIC[0]), pack(DOMESTIC[1])], supplied=supplied))
    assert [m.fields for m in result.missing] == [("manu_date", "expy_end")]
    supplied[1].update(manu_date="2024-09-11", expy_end="2027-08-31")
    [item] = items_of(plan.plan_sale(CTX, facts(s, [pack(DOMESTIC[0]), pack(DOMESTIC[1])], supplied=supplied)))
    assert (item["manu_lotnum"], item["manu_date"]) == ("B2409117", "2024-09-11")


# -- who, and the rest of the fields -----------------------------------------------------------------------------
def test_a_sale_settled_with_nobody_on_duty_waits_for_the_pharmacist_named_for_the_sale_not_a_line():
    s = sale([line(lot="B1", manu_date="2024-01-01", expy_end="2027-01-01")])
    result = plan.plan_sale(CTX, facts(s, [pack(DOMESTIC[0]), pack(DOMESTIC[1])], duty=()))
    [missing] = result.missing
    assert missing.line_no is None and missing.fields == ("pharmacist",)
    assert set(missing.wire) == {"phar_name", "phar_prac_cert_no"}


def test_a_complete_item_passes_the_profiles_check_and_names_pharmacist_operator_and_prescriber():
    s = sale([line(lot="B1", manu_date="2024-01-01", expy_end="2027-01-01")])
    result = plan.plan_sale(CTX, facts(s, [pack(DOMESTIC[0]), pack(DOMESTIC[1])]))
    [message] = result.messages
    assert check_input(NATIONAL.message("3505"), message) == []
    item = message["selinfo"]
    assert (item["phar_name"], item["phar_prac_cert_no"], item["sel_retn_opter_name"], item["prsc_dr_name"]) == \
        ("李志强", "ZY3601202100123", "王店员", "王建国")
    assert (item["rtal_docno"], item["setl_id"], item["mdtrt_setl_type"]) == (s.id, "3601000012345678", "1")
    assert "certno" not in item and "psn_name" not in item


def test_a_line_sold_outside_insurance_is_reported_self_paid_and_a_sale_without_prescription_asks_the_prescriber():
    s = sale([line(lot="B1", manu_date="2024-01-01", expy_end="2027-01-01", eligible=False)], rx=False)
    result = plan.plan_sale(CTX, facts(s, [pack(DOMESTIC[0]), pack(DOMESTIC[1])]))
    assert [m.fields for m in result.missing] == [("prescriber_name",)]
    supplied = {0: {"pharmacist": LI, "prescriber_name": "王建国"}}
    [item] = items_of(plan.plan_sale(CTX, facts(s, [pack(DOMESTIC[0]), pack(DOMESTIC[1])], supplied=supplied)))
    assert (item["mdtrt_setl_type"], item["hi_feesetl_type"], item["setl_id"]) == ("2", "0", "")


def test_one_code_per_item_where_the_profile_takes_an_object_and_3505a_batches_by_its_size():
    s = sale([line(qty="3", lot="B1", manu_date="2024-01-01", expy_end="2027-01-01")])
    packs = [pack(c) for c in DOMESTIC]
    obj = NATIONAL.model_copy(update={"uploads": NATIONAL.uploads.model_copy(update={"trace_form": "object"})})
    result = plan.plan_sale(plan.Context(obj, "王店员"), facts(s, packs))
    assert [m["selinfo"]["drugtracinfo"] for m in result.messages] == [{"drug_trac_codg": c} for c in DOMESTIC]
    assert all(m["selinfo"]["sel_retn_cnt"] == 1 for m in result.messages)
    small = CHONGQING.model_copy(update={"uploads": CHONGQING.uploads.model_copy(update={"batch_size": 2,
                                                                                          "trace_form": "single"})})
    batches = plan.plan_sale(plan.Context(small, "王店员"), facts(s, packs)).messages
    assert [len(b["selinfoDetail"]) for b in batches] == [2, 1]
    assert all(check_input(small.message("3505A"), b) == [] for b in batches)


def test_a_replan_after_a_refusal_carries_only_the_refused_packs():
    s = sale([line(qty="3", lot="B1", manu_date="2024-01-01", expy_end="2027-01-01")])
    [message] = plan.plan_sale(CTX, facts(s, [pack(c) for c in DOMESTIC]), codes={DOMESTIC[2]}).messages
    assert tx.item_codes(message["selinfo"]) == [DOMESTIC[2]] and message["selinfo"]["sel_retn_cnt"] == 1


# -- 7204 / 7206 and returns -----------------------------------------------------------------------------------
def test_review_and_dispensing_name_both_pharmacists_and_report_one_row_per_pack_with_its_batch():
    s = replace(sale([line(lot="B1", manu_date="2024-01-01", expy_end="2027-01-01")]),
                split=Split.from_dict({"medfee_sumamt": "8460.00", "fund_pay_sumamt": "6000.00",
                                       "psn_part_amt": "2460.00", "acct_pay": "2000.00", "psn_cash_pay": "460.00"}))
    review, dispense = plan.plan_rx(CTX, facts(s, [pack(DOMESTIC[0]), pack(DOMESTIC[1])])).messages
    assert (review["data"]["phar_name"], review["data"]["rchk_phar_name"]) == ("李志强", "陈立")
    data = dispense["data"]
    assert (data["dspeer_name"], data["pro_name"], data["download_ide_code"], data["payMode"]) == \
        ("李志强", "陈立", "AUTH3601002025112000017", "3")
    assert [r["drug_trac_codg"] for r in dispense["selinfo"]] == DOMESTIC[:2]
    assert {r["manu_lotnum"] for r in dispense["selinfo"]} == {"B1"} and dispense["selinfo"][0]["drug_cnt_unit"] == "盒"
    assert "rx_stas_codg" not in data
    assert check_input(NATIONAL.message("7206"), dispense) == [] and check_input(NATIONAL.message("7204"), review) == []


def test_the_review_waits_for_a_checking_pharmacist():
    s = sale([line(lot="B1", manu_date="2024-01-01", expy_end="2027-01-01")])
    result = plan.plan_rx(CTX, facts(s, [pack(DOMESTIC[0]), pack(DOMESTIC[1])], duty=(LI, None)))
    assert [(m.line_no, m.fields, m.infnos) for m in result.missing] == [(None, ("checker",), ("7204", "7206"))]


def test_a_return_repeats_each_sold_item_and_points_at_the_sale():
    s = sale([line(qty="3")])
    packs = [pack("c1", raw=gs1("B1", "1"), kind="gs1"), pack("c2", raw=gs1("B2", "2"), kind="gs1"),
             pack("c3", raw=gs1("B1", "3"), kind="gs1")]
    sold = plan.plan_sale(CTX, facts(s, packs)).messages
    back = plan.plan_returns(CTX, sold, when="2025-11-20 15:01:00", setl_id="3601000012345701", memo="整盒退货")
    returned = [m["selinfo"] for m in back.messages]
    assert sorted(c for r in returned for c in tx.item_codes(r)) == ["c1", "c2", "c3"]
    assert {r["medins_prod_sel_no"] for r in returned} == {s.id}
    assert all(check_input(NATIONAL.message("3506"), m) == [] for m in back.messages)


def test_one_lot_entered_twice_is_still_one_batch_on_the_shelf():
    stock = {"XL01EBA345A001010104321": (entry("B77"), entry("B77"))}
    [item] = items_of(plan.plan_sale(CTX, facts(sale(), [pack(DOMESTIC[0]), pack(DOMESTIC[1])], stock=stock)))
    assert item["manu_lotnum"] == "B77"
