"""The counter page drives a whole dual-channel sale from the keyboard alone (issue 9; docs/architecture.md,
docs/pos-integration.md).

Demo people (adapters/sandbox/data/demo.json): 张伟 (ID 360121196805122010, employee 310, e-voucher QR value
4260173956810000000001360102) holds a valid filing for 恶性肿瘤门诊治疗 (奥希替尼, as only the insurer knows) and a
prescription HX36011100301000000001 from his filing's institution and physician; 陈静 (ID 360102199011173021) has a
prescription but no filing at all. The page lists (and so downloads) a patient's prescriptions before any sale.
"""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

expect = pytest.importorskip("playwright.sync_api", reason="playwright (the [test] extra) is not installed").expect

pytestmark = pytest.mark.ui
ROOT = Path(__file__).resolve().parents[2]

ZHANG_ID = "360121196805122010"
ZHANG_ECARD = "4260173956810000000001360102"       # his 医保电子凭证 QR value, as a QR scanner types it
CHEN_ID = "360102199011173021"
OSIMERTINIB_RX = "HX36011100301000000001"
OSIMERTINIB_PACK = "86907010000000000017"       # product prefix 8690701 = 奥希替尼 in the demo catalogue
SECUKINUMAB_PACK = "86907020000000000017"
SALE_ID = re.compile(r"S\d{8}[0-9A-F]{12}")
CHEN_RX = "HX36011100301000000008"


def rx_number(counter, hi_rxno: str) -> str:
    """The number the pharmacist types to choose this prescription (its position in the list)."""
    numbers = counter.page.locator("#rx-list li.rx strong.mono").all_inner_texts()
    return str(numbers.index(hi_rxno) + 1)


def identify_and_choose(counter, cert_no: str, hi_rxno: str) -> None:
    counter.scan(cert_no)
    expect(counter.page.locator("#rx-list li.rx").first).to_be_visible()
    counter.scan(rx_number(counter, hi_rxno))
    expect(counter.page.locator("#sale-id")).to_have_text(SALE_ID)


def test_ui_full_sale_by_keyboard_only_settles_refunds_and_shows_the_insurers_split(counter, rx, sandbox_http):
    _svc, http = rx
    page = counter.page
    counter.shot("empty")
    expect(page.locator("#scan")).to_be_focused()

    counter.scan(ZHANG_ECARD)
    expect(page.locator("#p-name")).to_have_text("张*")
    expect(page.locator("#p-certno")).to_have_text("3601**********2010")
    expect(page.locator("#p-insutype")).to_contain_text("职工")
    expect(page.locator("#p-balc")).to_have_text("¥5000.00")
    expect(page.locator("#patient .filings")).to_contain_text("恶性肿瘤门诊治疗")     # 5301: the disease, its dates
    expect(page.locator("#rx-list")).to_contain_text(OSIMERTINIB_RX)
    counter.shot("patient")

    counter.scan(rx_number(counter, OSIMERTINIB_RX))
    line = page.locator("#sale tr[data-line='1']")
    expect(line).to_contain_text("奥希替尼")
    expect(line.locator(".elig")).to_contain_text("✓")
    # whether the prescriber is a responsible physician no pharmacy transaction says: the insurer checks it
    expect(line.locator(".insurer-checks")).to_have_text("医保中心结算时核验")
    expect(line.locator(".insurer-checks")).to_have_attribute("data-codes", "PHYSICIAN_NOT_RESPONSIBLE")
    expect(line.locator(".pack-count")).to_have_text("0 / 1 盒")
    sale_id = page.locator("#sale-id").inner_text()
    counter.shot("sale")

    counter.scan(OSIMERTINIB_PACK)
    expect(line.locator(".pack-count")).to_have_text("1 / 1 盒")
    counter.shot("pack")

    counter.press("F2")
    expect(page.locator("#split h3")).to_contain_text("预结算")
    counter.shot("presettled")

    counter.press("F4")
    counter.press("F4")                       # a double press settles once and shows no error
    expect(page.locator("#sale-state")).to_have_text("已结算")
    expect(page.locator("#alert")).to_have_class(re.compile(r"\binfo\b"))
    counter.shot("settled")
    sale = http.get(f"/v1/sales/{sale_id}").json()
    assert sale["state"] == "settled"
    split = sale["split"]
    assert page.locator("#m-total").inner_text() == "¥" + split["medfee_sumamt"]
    assert page.locator("#m-hifp").inner_text() == "¥" + split["hifp_pay"]
    assert page.locator("#m-acct").inner_text() == "¥" + split["acct_pay"]
    assert page.locator("#m-cash").inner_text() == "¥" + split["psn_cash_pay"]
    assert page.locator("#setl-id").inner_text() == sale["setl_id"]
    assert [x["state"] for x in sandbox_http.get("/sandbox/ledger").json()["settlements"]] == ["settled"]
    expect(page.locator("#scan")).to_be_focused()

    counter.press("F8")
    expect(page.locator("#alert")).to_contain_text("再按一次 F8")
    assert http.get(f"/v1/sales/{sale_id}").json()["state"] == "settled"   # one press is not a refund
    counter.press("F8")
    expect(page.locator("#sale-state")).to_have_text("已退费")
    counter.shot("refunded")
    assert http.get(f"/v1/sales/{sale_id}").json()["state"] == "refunded"


def test_ui_line_without_filing_shows_chinese_reason_and_sells_selfpaid_only_after_confirm(counter, rx):
    _svc, http = rx
    page = counter.page
    counter.scan(CHEN_ID)
    expect(page.locator("#rx-list")).to_contain_text("患者没有该药品的双通道备案")   # judged before choosing
    counter.press("Enter")                    # Enter on an empty scan field chooses the first prescription
    expect(page.locator("#sale-id")).to_have_text(SALE_ID)
    expect(page.locator("#patient")).to_contain_text("无双通道备案")
    reason = page.locator("#sale tr[data-line='1'] .reason[data-code='NO_FILING']")
    expect(reason).to_have_text("患者没有该药品的双通道备案，请先到定点医疗机构办理备案。")
    expect(page.locator("#selfpay")).to_be_visible()
    counter.scan(OSIMERTINIB_PACK)
    counter.shot("refused_line")

    counter.press("F4")                       # settle without the pharmacist's confirmation: refused, nothing sent
    expect(page.locator("#alert")).to_have_attribute("data-code", "LINES_INELIGIBLE")
    expect(page.locator("#alert")).to_contain_text("如患者同意全自费")
    counter.shot("refused_settle")
    sale_id = page.locator("#sale-id").inner_text()
    assert http.get(f"/v1/sales/{sale_id}").json()["state"] == "draft"

    counter.press("F7")
    expect(page.locator("#selfpay-box")).to_be_checked()
    counter.press("F2")
    expect(page.locator("#split h3")).to_contain_text("预结算")
    pre = http.get(f"/v1/sales/{sale_id}").json()["presettle"]["split"]
    assert page.locator("#m-ownpay").inner_text() == "¥" + pre["fulamt_ownpay_amt"] == "¥4837.00"
    assert page.locator("#m-hifp").inner_text() == "¥" + pre["hifp_pay"] == "¥0.00"
    assert page.locator("#m-cash").inner_text() == "¥" + pre["psn_cash_pay"]
    counter.shot("selfpay_presettled")
    counter.press("F4")
    expect(page.locator("#sale-state")).to_have_text("已结算")
    sale = http.get(f"/v1/sales/{sale_id}").json()
    assert sale["confirm_selfpay"] is True
    assert page.locator("#m-cash").inner_text() == "¥" + sale["split"]["psn_cash_pay"]


def test_ui_pack_errors_appear_beside_the_scan_field_and_delete_takes_a_pack_back(counter, rx):
    page = counter.page
    identify_and_choose(counter, ZHANG_ID, OSIMERTINIB_RX)
    counts = page.locator("#sale tr[data-line='1'] .pack-count")
    counter.scan(OSIMERTINIB_PACK)
    expect(counts).to_have_text("1 / 1 盒")
    counter.scan(OSIMERTINIB_PACK)
    expect(page.locator("#scan-msg")).to_have_text("该追溯码在本单中已扫描过，请勿重复扫描同一盒药。")
    counter.shot("duplicate_pack")
    counter.scan(SECUKINUMAB_PACK)
    expect(page.locator("#scan-msg")).to_contain_text("与本单任何药品不一致")
    counter.scan("8690701000000000001")       # a digit lost in the scan
    expect(page.locator("#scan-msg")).to_have_text("追溯码应为20位数字，实际为19位。")
    counter.scan("(01)06901234567014(17)200101(10)L1(21)SER1")
    expect(page.locator("#scan-msg")).to_contain_text("已于2020-01-01过期")
    counter.shot("expired_pack")
    expect(counts).to_have_text("1 / 1 盒")
    counter.press("Delete")
    expect(counts).to_have_text("0 / 1 盒")


def test_ui_pack_sold_on_another_sale_is_refused_until_that_draft_is_cleared(counter, rx):
    page = counter.page
    identify_and_choose(counter, ZHANG_ID, OSIMERTINIB_RX)
    counter.scan(OSIMERTINIB_PACK)
    first = page.locator("#sale-id").inner_text()
    counter.press("Escape")                   # next customer: the draft is cancelled and its pack released
    expect(page.locator("#sale-id")).to_have_text("")
    _svc, http = rx
    assert http.get(f"/v1/sales/{first}").json()["state"] != "draft"
    identify_and_choose(counter, ZHANG_ID, OSIMERTINIB_RX)
    counter.scan(OSIMERTINIB_PACK)
    expect(page.locator("#sale tr[data-line='1'] .pack-count")).to_have_text("1 / 1 盒")
    counter.press("F4")
    expect(page.locator("#sale-state")).to_have_text("已结算")
    counter.press("Escape")
    identify_and_choose(counter, ZHANG_ID, OSIMERTINIB_RX)
    counter.scan(OSIMERTINIB_PACK)
    expect(page.locator("#scan-msg")).to_contain_text("同一盒药不能重复销售")
    counter.shot("already_sold")


def test_ui_english_switch_translates_labels_and_reasons_and_is_remembered(counter, rx):
    page = counter.page
    identify_and_choose(counter, CHEN_ID, CHEN_RX)
    page.locator("#btn-lang").click()
    expect(page.locator("#btn-settle")).to_contain_text("Settle")
    expect(page.locator("#sale tr[data-line='1'] .reason[data-code='NO_FILING']")).to_have_text(
        "The patient has no dual-channel filing for this drug.")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    counter.shot("english")
    page.reload()
    page.wait_for_selector("#status .ver")
    expect(page.locator("#btn-presettle")).to_contain_text("Pre-settle")
    expect(page.locator("#scan")).to_be_focused()
    page.locator("#btn-lang").click()
    expect(page.locator("#btn-presettle")).to_contain_text("预结算")


def test_ui_device_scan_event_adds_the_pack_without_typing(counter, rx):
    from plugin.tracecode import classify
    svc, _http = rx
    page = counter.page
    identify_and_choose(counter, ZHANG_ID, OSIMERTINIB_RX)
    svc.events.publish("scan", {**classify(OSIMERTINIB_PACK).to_dict(), "device": "scanner-1"})
    expect(page.locator("#sale tr[data-line='1'] .pack-count")).to_have_text("1 / 1 盒")


def test_ui_settlement_in_doubt_warns_not_to_settle_again_and_resolves_by_reversal(counter, rx, sandbox_http):
    """docs/architecture.md: an unanswered 2102 is in doubt; it is reversed (2601), never sent twice."""
    _svc, http = rx
    page = counter.page
    assert sandbox_http.post("/sandbox/faults", {"infno": "2102", "mode": "drop_response", "times": 1}).ok
    identify_and_choose(counter, ZHANG_ID, OSIMERTINIB_RX)
    counter.scan(OSIMERTINIB_PACK)
    counter.press("F4")
    alert = page.locator("#alert")
    expect(alert).to_have_attribute("data-code", "SETTLEMENT_IN_DOUBT")
    expect(alert).to_contain_text("请勿重复结算")
    expect(page.locator("#sale-state")).to_have_text("结果待核实")
    expect(page.locator("#btn-settle")).to_be_disabled()
    resolve = page.locator("#status button[data-action='resolve']")
    expect(resolve).to_have_count(1)
    counter.shot("in_doubt")
    counter.press("F4")
    assert len(sandbox_http.get("/sandbox/ledger").json()["settlements"]) == 1

    resolve.click()
    expect(page.locator("#sale-state")).to_have_text("已冲正")
    expect(resolve).to_have_count(0)
    assert [x["state"] for x in sandbox_http.get("/sandbox/ledger").json()["settlements"]] == ["reversed"]
    counter.press("F4")                       # a reversed sale may be settled afresh
    expect(page.locator("#sale-state")).to_have_text("已结算")
    counter.shot("settled_after_reversal")


def test_ui_day_view_lists_todays_sales_and_a_sale_id_recalls_it_for_refund(counter, rx):
    page = counter.page
    identify_and_choose(counter, ZHANG_ID, OSIMERTINIB_RX)
    counter.scan(OSIMERTINIB_PACK)
    counter.press("F4")
    expect(page.locator("#sale-state")).to_have_text("已结算")
    sale_id = page.locator("#sale-id").inner_text()
    counter.press("Escape")
    expect(page.locator("#sale-id")).to_have_text("")
    setl_id = rx[1].get(f"/v1/sales/{sale_id}").json()["setl_id"]
    counter.press("F3")
    expect(page.locator("#day")).to_contain_text(sale_id)
    expect(page.locator("#day")).to_contain_text("已结算")
    counter.shot("day_view")
    counter.scan(setl_id)                     # the barcode on the patient's slip
    expect(page.locator("#sale-id")).to_have_text(sale_id)
    counter.press("Escape")
    expect(page.locator("#sale-id")).to_have_text("")
    counter.scan(sale_id)
    expect(page.locator("#sale-id")).to_have_text(sale_id)
    expect(page.locator("#btn-refund")).to_be_enabled()
    counter.press("F8")
    counter.press("F8")
    expect(page.locator("#sale-state")).to_have_text("已退费")
    expect(page.locator("#day")).to_contain_text("已退费")


def test_ui_presettle_lists_where_the_local_estimate_differs_from_the_insurer(counter, rx, sandbox_http):
    """docs/configuration.md: `PUT /sandbox/policy` changes only the insurer; the page shows the insurer's split and
    each differing field beside the local estimate."""
    _svc, http = rx
    page = counter.page
    insurer_policy = tomllib.loads((ROOT / "config/policies/jiangxi.toml").read_text(encoding="utf-8"))
    insurer_policy["ratio"]["310"] = "0.75"                                    # the plug-in still uses 0.80
    assert sandbox_http.put("/sandbox/policy", insurer_policy).ok
    identify_and_choose(counter, ZHANG_ID, OSIMERTINIB_RX)
    counter.press("F2")
    expect(page.locator("#split .mismatch")).to_be_visible()
    sale_id = page.locator("#sale-id").inner_text()
    pre = http.get(f"/v1/sales/{sale_id}").json()["presettle"]
    assert any(m["field"] == "hifp_pay" for m in pre["mismatch"])
    rows = page.locator("#split .mismatch tbody tr")
    expect(rows).to_have_count(len(pre["mismatch"]))
    for i, m in enumerate(pre["mismatch"]):
        label, insurer, estimate = rows.nth(i).locator("td").all_inner_texts()
        assert m["field"] in label and (insurer, estimate) == (m["insurer"], m["estimate"])
    expect(rows.filter(has_text="hifp_pay")).to_contain_text("统筹基金支付")
    assert page.locator("#m-hifp").inner_text() == "¥" + pre["split"]["hifp_pay"] != "¥" + pre["estimate"]["hifp_pay"]
    counter.shot("mismatch")
