"""The counter page at 1366×768 as counters really are (issue 19): the money and the prescription list stay on screen,
a refund warns and says what to give back, open sales are resumed or released instead of blocking their packs,
and scans that Caps Lock, an input method or a split changed never reach the insurer as something else.

Demo people (adapters/sandbox/data/demo.json): 张伟 (e-voucher QR value 4260173956810000000001360102, ID
360121196805122010, card A36010201, 参保地 360102) holds a filing for 恶性肿瘤门诊治疗 and prescription
HX36011100301000000001 by 罗晓峰; 刘洋 (ID 360100198007045011, account balance 50.00) has 司库奇尤单抗 on
HX36010200101000000009; 陈静 (ID 360102199011173021) has no filing.
Screenshots land in tests/ui/artifacts/.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from tests.ui.test_ui_counter import (CHEN_ID, OSIMERTINIB_PACK, OSIMERTINIB_RX, SALE_ID, ZHANG_ECARD, ZHANG_ID,
                                     rx_number)

expect = pytest.importorskip("playwright.sync_api", reason="playwright (the [test] extra) is not installed").expect

pytestmark = pytest.mark.ui

LIU_ID = "360100198007045011"
LIU_RX = "HX36010200101000000009"
SECUKINUMAB_PACK = "86907020000000000017"
CHEN_RX = "HX36011100301000000008"
WANG_ID = "42010019720308401X"                 # 王建国: a filing for 奥希替尼 too, on HX…06
WANG_RX = "HX36011100301000000006"
# An e-voucher payload with letters, as the demo's older token-style payloads were: what Caps Lock does to one
LETTERED_ECARD = "ECARD7K2M9Q4T1X8B3N6Q"
GS = "|"   # the GS1 separator stand-in a keyboard-wedge scanner is set to send (a browser drops the real GS)
GS1_PACK = "010690123456701417281231" + "10LotAb7" + GS + "21SnQ5"           # 奥希替尼's GTIN, lot LotAb7, serial SnQ5
GS1_PACK_CAPS = "010690123456701417281231" + "10lOTaB7" + GS + "21sNq5"      # the same box, scanned with Caps Lock on
CODE_IN_TEXT = re.compile(r"\b[A-Z]{2,}(?:_[A-Z]+)+\b")                       # LINES_INELIGIBLE, TRACE_CODE_…


def in_view(page, selector: str) -> bool:
    """The element is on screen in full, without scrolling the page."""
    return page.evaluate("""(sel) => { const el = document.querySelector(sel); if (!el) return false;
        const r = el.getBoundingClientRect();
        return r.width > 0 && r.height > 0 && r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight
               && r.right <= innerWidth; }""", selector)


def page_scrolls(page) -> bool:
    return page.evaluate("() => document.documentElement.scrollHeight > innerHeight "
                         "|| document.documentElement.scrollWidth > innerWidth")


class InsurerTap:
    """Counts the messages of some transactions that reach the sandbox insurer: a 'slow' fault of 0 ms for each
    (the sandbox counts a fault down per message and otherwise answers as usual)."""
    ARMED = 10_000

    def __init__(self, sandbox, sandbox_http, *infnos: str):
        self.sandbox = sandbox
        for infno in infnos:
            assert sandbox_http.post("/sandbox/faults", {"infno": infno, "mode": "slow", "times": self.ARMED,
                                                          "delay_ms": 0}).ok

    def sent(self, infno: str) -> int:
        left = [f["times"] for f in self.sandbox.faults.pending() if f["infno"] == infno]
        return self.ARMED - (left[0] if left else 0)


def choose(screen, cert_no: str, hi_rxno: str) -> str:
    screen.scan(cert_no)
    expect(screen.page.locator("#rx-list li.rx").first).to_be_visible()
    screen.scan(rx_number(screen, hi_rxno))
    expect(screen.page.locator("#sale-id")).to_have_text(SALE_ID)
    return screen.page.locator("#sale-id").inner_text()


# --- a whole sale and a refund on the counter's screen ------------------------------------------------------------

def test_ui_1366_whole_sale_keeps_the_split_and_prescriptions_in_view_after_f2_and_f4(screen, rx):
    _svc, http = rx
    page = screen.page
    sale_id = choose(screen, LIU_ID, LIU_RX)
    screen.scan(SECUKINUMAB_PACK)
    expect(page.locator("#sale tr[data-line='1'] .pack-count")).to_contain_text("1 /")
    line = http.get(f"/v1/sales/{sale_id}").json()["lines"][0]
    for n in range(1, int(Decimal(line["qty"]))):
        screen.scan(f"8690702{n:013d}")
    expect(page.locator("#sale tr[data-line='1'] .packs")).to_have_class(re.compile(r"\bdone\b"))

    screen.press("F2")
    expect(page.locator("#split h3")).to_contain_text("预结算")
    screen.shot("presettled")
    pre = http.get(f"/v1/sales/{sale_id}").json()["presettle"]["split"]
    for sel in ("#m-hifp", "#m-acct", "#m-cash", "#m-balc", "#rx-list li.rx"):
        assert in_view(page, sel), f"{sel} is off screen after F2"
    assert not page_scrolls(page)
    assert page.locator("#m-cash").inner_text() == "¥" + pre["psn_cash_pay"]
    assert Decimal(pre["psn_cash_pay"]) > 0 and pre["acct_pay"] == "50.00"

    screen.press("F4")
    expect(page.locator("#sale-state")).to_have_text("已结算")
    expect(page.locator("#slip img")).to_be_visible()        # the slip beside the money, below the lines
    screen.shot("settled")
    sale = http.get(f"/v1/sales/{sale_id}").json()
    for sel in ("#m-hifp", "#m-acct", "#m-cash", "#m-balc", "#rx-list li.rx", "#p-balc-after"):
        assert in_view(page, sel), f"{sel} is off screen after F4"
    assert not page_scrolls(page)
    assert page.locator("#m-cash").inner_text() == "¥" + sale["split"]["psn_cash_pay"]
    assert page.locator("#p-balc-after").inner_text() == "¥" + sale["split"]["balc"] == "¥0.00"
    assert page.locator("#p-balc").inner_text() == "¥50.00"

    screen.press("F3")
    expect(page.locator("#day")).to_contain_text(sale_id)
    assert in_view(page, "#day h2") and page.locator("#day").bounding_box()["y"] < 768 / 2
    screen.shot("day_list")


def test_ui_refund_is_a_warning_stores_its_reason_and_shows_what_to_give_back(screen, rx):
    _svc, http = rx
    page = screen.page
    sale_id = choose(screen, LIU_ID, LIU_RX)
    line = http.get(f"/v1/sales/{sale_id}").json()["lines"][0]
    for n in range(int(Decimal(line["qty"]))):
        screen.scan(f"8690702{n:013d}")
        expect(page.locator("#sale tr[data-line='1'] .pack-count")).to_contain_text(f"{n + 1} /")
    screen.press("F4")
    expect(page.locator("#sale-state")).to_have_text("已结算")
    split = http.get(f"/v1/sales/{sale_id}").json()["split"]

    screen.press("F8")
    alert = page.locator("#alert")
    expect(alert).to_have_class(re.compile(r"\bwarning\b"))
    expect(alert).not_to_have_class(re.compile(r"\binfo\b"))
    expect(alert).to_contain_text("再按一次 F8")
    expect(alert).to_contain_text(f"退还现金 ¥{split['psn_cash_pay']}")
    expect(alert).to_contain_text(f"退回个人账户 ¥{split['acct_pay']}")
    screen.shot("refund_warning")
    assert http.get(f"/v1/sales/{sale_id}").json()["state"] == "settled"
    page.keyboard.type("2")                                   # reason 2 of the list: 收费有误
    screen.press("F8")
    expect(page.locator("#sale-state")).to_have_text("已退费")
    expect(alert).to_contain_text(f"请退还患者现金 ¥{split['psn_cash_pay']}")
    expect(page.locator("#m-cash")).to_have_text("¥" + split["psn_cash_pay"])
    expect(page.locator("#split")).to_contain_text("退还现金")
    expect(page.locator("#m-reason")).to_have_text("收费有误")
    expect(page.locator("#slip")).to_be_visible()
    screen.shot("refunded")
    body = page.locator("body").inner_text()
    assert "收取现金" not in body and "应收现金" not in body
    sale = http.get(f"/v1/sales/{sale_id}").json()
    assert sale["state"] == "refunded" and sale["refund"]["reason"] == "收费有误"
    slip = http.get(f"/v1/sales/{sale_id}/slip.txt").text
    assert "已退费" in slip and "收费有误" in slip and "退还现金" in slip
    for sel in ("#m-cash", "#m-acct", "#rx-list li.rx"):
        assert in_view(page, sel)


# --- open sales: resumed, asked about, released, expired -------------------------------------------------------------

def test_ui_after_a_reload_the_same_prescription_resumes_its_open_sale(screen_factory, rx):
    _svc, http = rx
    first = screen_factory(rx)
    sale_id = choose(first, ZHANG_ID, OSIMERTINIB_RX)
    first.scan(OSIMERTINIB_PACK)
    expect(first.page.locator("#sale tr[data-line='1'] .pack-count")).to_have_text("1 / 1 盒")
    first.page.reload()
    first.page.wait_for_selector("#status .ver")
    expect(first.page.locator("#sale-id")).to_have_text("")
    first.scan(ZHANG_ECARD)
    expect(first.page.locator("#rx-list")).to_contain_text(f"有未结算的销售单 {sale_id}")
    first.shot("open_sale_flagged")
    first.scan(rx_number(first, OSIMERTINIB_RX))
    expect(first.page.locator("#sale-id")).to_have_text(sale_id)
    expect(first.page.locator("#sale tr[data-line='1'] .pack-count")).to_have_text("1 / 1 盒")
    expect(first.page.locator("#alert")).to_contain_text("已恢复未结算的销售单")
    first.shot("resumed")
    first.scan(ZHANG_ECARD)                  # the same e-voucher again: the same patient, no question about the sale
    expect(first.page.locator("#scan-msg")).to_have_text("已是当前患者")
    expect(first.page.locator("#prompt")).to_be_hidden()
    ref = http.post("/v1/patients/identify", {"cert_type": "id_card", "cert_no": ZHANG_ID}).json()["patient_ref"]
    assert [s["id"] for s in http.get("/v1/sales/open", params={"patient_ref": ref}).json()["sales"]] == [sale_id]
    first.press("F4")
    expect(first.page.locator("#sale-state")).to_have_text("已结算")


def test_ui_switching_patient_with_an_open_sale_asks_and_keeps_or_cancels_it(screen, rx):
    _svc, http = rx
    page = screen.page
    sale_id = choose(screen, ZHANG_ID, OSIMERTINIB_RX)
    screen.scan(OSIMERTINIB_PACK)
    expect(page.locator("#sale tr[data-line='1'] .pack-count")).to_have_text("1 / 1 盒")

    screen.scan(CHEN_ID)
    prompt = page.locator("#prompt")
    expect(prompt).to_be_visible()
    expect(prompt).to_contain_text(f"当前销售单 {sale_id}（待结算，已扫描 1 盒）尚未结算")
    expect(page.locator("#p-name")).to_have_text("张*")
    screen.shot("switch_asked")
    screen.press("Escape")                                   # stay with the open sale
    expect(prompt).to_be_hidden()
    expect(page.locator("#sale-id")).to_have_text(sale_id)

    screen.scan(CHEN_ID)
    expect(prompt).to_be_visible()
    screen.scan(CHEN_ID)                                     # the same card again: switch, keep the sale
    expect(page.locator("#p-name")).to_have_text("陈*")
    expect(prompt).to_be_hidden()
    assert http.get(f"/v1/sales/{sale_id}").json()["state"] == "draft"

    screen.scan(ZHANG_ID)                                    # back to 张伟: nothing open on screen, no question
    expect(page.locator("#p-name")).to_have_text("张*")
    expect(page.locator("#rx-list")).to_contain_text(OSIMERTINIB_RX)
    screen.scan(rx_number(screen, OSIMERTINIB_RX))
    expect(page.locator("#sale-id")).to_have_text(sale_id)
    screen.scan(CHEN_ID)
    expect(prompt).to_be_visible()
    prompt.locator("button[data-action='switch-cancel']").click()
    expect(page.locator("#p-name")).to_have_text("陈*")
    assert http.get(f"/v1/sales/{sale_id}").json()["state"] == "cancelled"


def test_ui_a_pack_held_by_an_abandoned_sale_says_so_and_is_released_on_request(screen, rx):
    _svc, http = rx
    page = screen.page
    zhang = http.post("/v1/patients/identify", {"cert_type": "id_card", "cert_no": ZHANG_ID}).json()["patient_ref"]
    assert http.get("/v1/prescriptions", params={"patient_ref": zhang}).status_code == 200   # as its counter did
    held = http.post("/v1/sales", {"patient_ref": zhang, "hi_rxno": OSIMERTINIB_RX, "lines": [{
        "med_list_codg": "XL01EBA341A001010100701", "qty": "1", "price": "4837.00",
        "trace_codes": [OSIMERTINIB_PACK]}]}).json()["id"]       # another counter's sale, never finished
    choose(screen, CHEN_ID, CHEN_RX)
    screen.scan(OSIMERTINIB_PACK)
    msg = page.locator("#scan-msg")
    expect(msg).to_contain_text(f"未结算的销售单{held}")
    expect(msg).not_to_contain_text("已售出")
    expect(page.locator("#offer button")).to_contain_text("释放该药盒并加入本单")
    screen.shot("held_by_open_sale")
    screen.scan(OSIMERTINIB_PACK)                            # scanned again: yes, release it to this sale
    expect(page.locator("#sale tr[data-line='1'] .pack-count")).to_have_text("1 / 1 盒")
    assert http.get(f"/v1/sales/{held}").json()["lines"][0]["trace_codes"] == []


def test_ui_open_sales_expire_after_the_setting_and_their_packs_sell_again(service_factory, screen_factory):
    svc, http = service_factory(store={"draft_expiry_minutes": 30})
    screen = screen_factory((svc, http))
    page = screen.page
    sale_id = choose(screen, ZHANG_ID, OSIMERTINIB_RX)
    screen.scan(OSIMERTINIB_PACK)
    expect(page.locator("#sale tr[data-line='1'] .pack-count")).to_have_text("1 / 1 盒")
    from plugin import drafts
    assert drafts.expire(svc.sales, datetime.now() + timedelta(minutes=29), 30) == []
    assert drafts.expire(svc.sales, datetime.now() + timedelta(minutes=31), 30) == [sale_id]
    expect(page.locator("#sale-state")).to_have_text("已取消")       # the page hears the sale event
    screen.press("Escape")
    choose(screen, CHEN_ID, CHEN_RX)
    screen.scan(OSIMERTINIB_PACK)
    expect(page.locator("#sale tr[data-line='1'] .pack-count")).to_have_text("1 / 1 盒")


# --- scans altered on the way ---------------------------------------------------------------------------------------

def test_ui_caps_lock_is_warned_and_a_case_swapped_serial_is_refused_naming_the_earlier_sale(screen, rx):
    _svc, http = rx
    page = screen.page
    page.locator("#scan").dispatch_event("keydown", {"key": "a", "modifierCapsLock": True})
    expect(page.locator("#caps")).to_be_visible()
    expect(page.locator("#caps")).to_contain_text("大写锁定")
    screen.shot("caps_lock_warning")
    page.locator("#scan").dispatch_event("keyup", {"key": "a", "modifierCapsLock": False})
    expect(page.locator("#caps")).to_be_hidden()

    first = choose(screen, ZHANG_ID, OSIMERTINIB_RX)
    screen.scan(GS1_PACK)
    expect(page.locator("#sale tr[data-line='1'] .pack-count")).to_have_text("1 / 1 盒")
    screen.press("F4")
    expect(page.locator("#sale-state")).to_have_text("已结算")
    screen.press("Escape")
    second = choose(screen, WANG_ID, WANG_RX)
    screen.scan(GS1_PACK_CAPS)                               # the same box with Caps Lock on
    msg = page.locator("#scan-msg")
    expect(msg).to_contain_text(f"销售单{first}")
    expect(msg).to_contain_text("大小写")
    expect(page.locator("#sale tr[data-line='1'] .pack-count")).to_have_text("0 / 1 盒")
    screen.shot("case_variant_refused")
    screen.press("F4")                                       # without its pack the sale cannot settle
    expect(page.locator("#alert")).to_have_attribute("data-code", "TRACE_CODE_COUNT_MISMATCH")
    assert http.get(f"/v1/sales/{second}").json()["state"] == "draft"        # one box is not paid for twice
    screen.press("Escape")                                   # the offer goes away
    expect(page.locator("#offer")).to_be_hidden()

    screen.scan(GS1_PACK_CAPS)                               # really another box: confirmed by naming the sale
    page.locator("#offer button").click()
    expect(page.locator("#sale tr[data-line='1'] .pack-count")).to_have_text("1 / 1 盒")
    assert http.get(f"/v1/sales/{second}").json()["lines"][0]["trace_codes"] == ["010690123456701421sNq5"]


def test_ui_a_scan_split_in_two_never_reaches_the_insurer_as_another_identity(screen, rx, sandbox, sandbox_http):
    page = screen.page
    tap = InsurerTap(sandbox, sandbox_http, "1101")
    # a 20-character code whose first 18 characters are 张伟's ID number, cut after them by an input method: the
    # scanner's burst goes on right after the early Enter
    page.keyboard.type(ZHANG_ID + "\n12\n")
    expect(page.locator("#scan-msg")).to_contain_text("扫码内容被分成了两段")
    page.wait_for_timeout(300)
    assert tap.sent("1101") == 0
    expect(page.locator("#p-name")).to_have_count(0)
    screen.shot("split_scan")

    page.locator("#scan").dispatch_event("compositionstart", {})     # an input method composing during a scan
    screen.scan(ZHANG_ECARD)
    expect(page.locator("#scan-msg")).to_contain_text("输入法")
    screen.scan("0106901234567014172812311了LotAb7")                   # a candidate picked by a digit
    expect(page.locator("#scan-msg")).to_contain_text("扫描内容含有汉字")
    assert tap.sent("1101") == 0

    screen.scan(ZHANG_ID)                                    # the same number scanned whole is fine
    expect(page.locator("#p-name")).to_have_text("张*")
    assert tap.sent("1101") == 1


def test_ui_typed_card_number_and_caps_lock_e_voucher_are_explained_not_looked_up(screen, rx, sandbox, sandbox_http):
    page = screen.page
    tap = InsurerTap(sandbox, sandbox_http, "1101")
    screen.scan("A36010201")
    expect(page.locator("#scan-msg")).to_contain_text("社保卡需读卡器读取卡识别码")
    screen.scan(LETTERED_ECARD.swapcase())
    expect(page.locator("#scan-msg")).to_contain_text("大写锁定")
    screen.scan("HTTPS://CARD.EXAMPLE.CN/NHSA?QRCODE=" + LETTERED_ECARD)
    expect(page.locator("#scan-msg")).to_contain_text("大写锁定")
    expect(page.locator("#scan-msg")).not_to_contain_text("未查到")
    page.wait_for_timeout(200)
    assert tap.sent("1101") == 0


def test_ui_gs1_stand_in_separator_and_demo_prescription_numbers_are_read(screen, rx):
    page = screen.page
    screen.scan(ZHANG_ID)
    expect(page.locator("#rx-list li.rx").first).to_be_visible()
    screen.scan(OSIMERTINIB_RX.lower())                      # the prescription's own number, even with Caps Lock
    expect(page.locator("#sale-id")).to_have_text(SALE_ID)
    expect(page.locator("#rx-list li.rx.chosen")).to_contain_text(OSIMERTINIB_RX)
    screen.scan("01069012345670141728123110LOT123|21SER456")
    expect(page.locator("#sale tr[data-line='1'] .pack-count")).to_have_text("1 / 1 盒")
    expect(page.locator("#sale tr[data-line='1'] .packs")).to_contain_text("010690123456701421SER456")
    screen.scan("HX36011100301999999999")                    # a number in that format that is not the patient's
    expect(page.locator("#scan-msg")).to_contain_text("不在该患者的流转处方中")
    page.keyboard.press("Delete")                            # take the pack back, then scan it as a wedge does:
    expect(page.locator("#sale tr[data-line='1'] .pack-count")).to_have_text("0 / 1 盒")
    page.keyboard.type("010690123456701417281231" "10LOT123")
    page.keyboard.press("Control+BracketRight")              # GS as Ctrl+], which a browser field would drop
    screen.scan("21SER456")
    expect(page.locator("#sale tr[data-line='1'] .pack-count")).to_have_text("1 / 1 盒")
    expect(page.locator("#sale tr[data-line='1'] .packs")).to_contain_text("010690123456701421SER456")


# --- what the page says ---------------------------------------------------------------------------------------------

def test_ui_self_pay_is_offered_only_for_confirmable_lines(screen, rx):
    """A prescription another counter dispensed after this one listed it authorises no dispensing: not even
    self-paid (confirmable false); a line without a filing may be sold self-paid on confirmation."""
    _svc, http = rx
    page = screen.page
    screen.scan(ZHANG_ID)
    expect(page.locator("#rx-list")).to_contain_text(OSIMERTINIB_RX)
    other = http.post("/v1/patients/identify", {"cert_type": "id_card", "cert_no": ZHANG_ID}).json()["patient_ref"]
    assert http.get("/v1/prescriptions", params={"patient_ref": other}).status_code == 200
    elsewhere = http.post("/v1/sales", {"patient_ref": other, "hi_rxno": OSIMERTINIB_RX, "acct_used": True, "lines": [
        {"med_list_codg": "XL01EBA341A001010100701", "qty": "1", "price": "4837.00",
         "trace_codes": ["86907010000000000099"]}]}).json()["id"]
    assert http.post(f"/v1/sales/{elsewhere}/settle").status_code == 200
    screen.scan(rx_number(screen, OSIMERTINIB_RX))
    expect(page.locator("#sale-id")).to_have_text(SALE_ID)
    line = http.get(f"/v1/sales/{page.locator('#sale-id').inner_text()}").json()["lines"][0]
    assert [r["code"] for r in line["reasons"]] == ["RX_ALREADY_DISPENSED"] and line["confirmable"] is False
    box = page.locator("#selfpay")
    expect(box).to_be_visible()
    expect(box).to_contain_text("该处方已调剂（已取药），不能重复使用。")
    expect(box).to_contain_text("不能销售")
    expect(page.locator("#selfpay-box")).to_be_hidden()
    expect(page.locator("#btn-selfpay")).to_be_disabled()
    screen.press("F7")
    assert not screen.state()["selfpay"]
    screen.shot("selfpay_not_offered")
    screen.press("Escape")
    choose(screen, CHEN_ID, CHEN_RX)                         # no filing: may be sold self-paid on confirmation
    expect(page.locator("#selfpay-box")).to_be_visible()
    expect(page.locator("#btn-selfpay")).to_be_enabled()
    screen.press("F7")
    expect(page.locator("#selfpay-box")).to_be_checked()


def test_ui_personal_account_can_be_left_out_of_a_sale(screen, rx):
    _svc, http = rx
    page = screen.page
    sale_id = choose(screen, ZHANG_ID, OSIMERTINIB_RX)
    screen.scan(OSIMERTINIB_PACK)
    screen.press("F6")
    expect(page.locator("#acct-flag")).to_have_text("不使用个人账户")
    screen.press("F2")
    expect(page.locator("#split h3")).to_contain_text("预结算")
    pre = http.get(f"/v1/sales/{sale_id}").json()
    assert pre["acct_used"] is False and pre["presettle"]["split"]["acct_pay"] == "0.00"
    expect(page.locator("#m-acct")).to_have_text("¥0.00")
    expect(page.locator("#m-cash")).to_have_text("¥" + pre["presettle"]["split"]["psn_cash_pay"])
    assert pre["presettle"]["split"]["psn_cash_pay"] != "0.00"
    screen.shot("account_off")


def test_ui_shows_names_for_insured_place_and_physicians(screen, rx):
    """参保地 by name; the filing by its disease (5301 names no physicians); each prescription by its prescriber's
    and institution's names as the download gives them."""
    page = screen.page
    screen.scan(ZHANG_ID)
    expect(page.locator("#p-insuplc")).to_contain_text("江西省南昌市东湖区")
    expect(page.locator("#p-insuplc")).to_contain_text("360102")
    expect(page.locator("#patient .filings")).to_contain_text("恶性肿瘤门诊治疗")
    expect(page.locator("#patient .filings")).to_contain_text("M00500")
    first = page.locator("#rx-list li.rx").filter(has_text=OSIMERTINIB_RX)
    expect(first).to_contain_text("开方医师 罗晓峰")
    expect(first).to_contain_text("江西示范肿瘤医院")


def test_ui_errors_are_shown_once_in_chinese_without_raw_codes(screen, rx):
    page = screen.page
    choose(screen, CHEN_ID, CHEN_RX)
    screen.scan(OSIMERTINIB_PACK)
    screen.scan(OSIMERTINIB_PACK)
    text = "该追溯码在本单中已扫描过，请勿重复扫描同一盒药。"
    expect(page.locator("#scan-msg")).to_have_text(text)
    assert page.locator("body").inner_text().count(text) == 1
    screen.press("F4")                                       # no confirmation of self-pay: LINES_INELIGIBLE
    expect(page.locator("#alert")).to_have_attribute("data-code", "LINES_INELIGIBLE")
    expect(page.locator("#alert")).to_contain_text("如患者同意全自费")
    body = page.locator("body").inner_text()
    assert not CODE_IN_TEXT.search(body), CODE_IN_TEXT.search(body)
    assert body.count("如患者同意全自费") == 1
    screen.shot("error_once")
