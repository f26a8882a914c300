""""Three fixed" (三定) eligibility end to end (issue 5): every reason code of docs/policies.md §2, through the
real service and the real sandbox insurer.

Each reason test seeds, through the sandbox admin API (docs/sandbox.md), a person + filing + prescription + catalogue
entry that is all good except exactly one fact, then checks the counter's whole path:
`GET /v1/prescriptions` names the reason on the line (with its Chinese message), `POST /v1/sales` marks the line
not eligible with that code, `settle` without the pharmacist's confirmation is refused 422 and the insurer's books
show no settlement, and with `confirm_selfpay: true` the sale settles wholly self-paid (fund 0.00) — except where
that makes no sense, which the test's docstring explains.

The seed section named in each test is the docs/policies.md §2 source of that rule; seed numbers follow preamble
(000 Jiangxi 赣医保发〔2022〕2号, 001 Chongqing 渝医保发〔2021〕12号, 002 Jilin 吉医保发〔2023〕29号, 003 Shanxi
晋医保发〔2022〕4号, 004 national 医保函〔2021〕182号).
"""
from __future__ import annotations

from decimal import Decimal

import pytest

from plugin.errors import REASONS
from plugin.policy import load_region
from tests.e2e.conftest import assert_invariant
from tests.e2e.seeding import (OTHER_DOCTOR, OTHER_HOSPITAL, SHANGRAO_DOCTOR, SHANGRAO_HOSPITAL,
                               create_sale, day, identify, new_filing, new_person, post_filing, post_person,
                               post_prescription, running_counter, rx_status, sale_body, seed_case,
                               settlements_of)

PHARMACY = "P36010200001"    # the demo pharmacy, 南昌 东湖区 (360102)
TWO_DRUGS = [({"category": "A"}, "1"), ({"category": "B", "payment_standard": "598.00"}, "2")]


@pytest.fixture(scope="module")
def counter(tmp_path_factory):
    """One sandbox (Jiangxi policy, demo books) and one rxlane for the module; every test seeds fresh identities.
    The pharmacy's own division is Nanchang 360102, so a patient insured elsewhere in Jiangxi is served
    "elsewhere in the province"."""
    with running_counter(tmp_path_factory.mktemp("eligibility"), store={"admdvs": "360102"}) as c:
        yield c


# --- the steps every reason test takes ------------------------------------------------------------------------

def codes(reasons: list[dict]) -> list[str]:
    return [r["code"] for r in reasons]


def assert_reasons(reasons: list[dict], code: str) -> None:
    """Exactly this one reason, with the catalogue's English and Chinese messages (plugin/errors.py)."""
    assert codes(reasons) == [code]
    assert reasons[0]["message_zh"] == REASONS[code].message_zh and reasons[0]["message"] == REASONS[code].message


def view_lines(c, ref: str, hi_rxno: str) -> list[dict]:
    r = c.http.get(f"/v1/prescriptions?patient_ref={ref}")
    assert r.status_code == 200, r.text
    found = [p for p in r.json()["prescriptions"] if p["hi_rxno"] == hi_rxno]
    assert len(found) == 1, f"{hi_rxno} not listed for this patient"
    return found[0]["lines"]


def books_of(c, psn_no: str) -> dict:
    return c.sandbox.get("/sandbox/ledger").json()["accumulators"][psn_no]


def assert_refused_and_nothing_charged(c, sale: dict, psn_no: str, code: str,
                                      expected: str = "LINES_INELIGIBLE") -> None:
    before = books_of(c, psn_no)
    r = c.http.post(f"/v1/sales/{sale['id']}/settle")
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == expected and err["message_zh"]
    assert code in {x["code"] for line in err["details"]["lines"] for x in line["reasons"]}
    assert settlements_of(c.sandbox, psn_no) == []
    assert books_of(c, psn_no) == before
    assert c.http.get(f"/v1/sales/{sale['id']}").json()["state"] == "draft"


def assert_settles_wholly_self_paid(c, sale: dict, case, code: str) -> dict:
    r = c.http.post(f"/v1/sales/{sale['id']}/settle", {"confirm_selfpay": True})
    assert r.status_code == 200, r.text
    done = r.json()
    split = done["split"]
    assert done["state"] == "settled" and done["setl_id"]
    assert split["fund_pay_sumamt"] == "0.00" and split["hifp_pay"] == "0.00"
    assert split["fulamt_ownpay_amt"] == split["medfee_sumamt"] == sale["medfee_sumamt"]
    assert_invariant(split)
    theirs = settlements_of(c.sandbox, case.person["psn_no"])
    assert [(s["setl_id"], s["state"], s["fund_pay_sumamt"]) for s in theirs] == [(done["setl_id"], "settled", "0.00")]
    # the insurer reached the same verdict on every line, for the same reason
    assert all(not line["eligible"] and code in line["reasons"] for line in theirs[0]["lines"])
    return done


def refused_then_self_paid(c, case, code: str, *, in_view: bool = True, self_pay: bool = True) -> dict:
    ref = identify(c.http, case.person)
    if in_view:
        for line in view_lines(c, ref, case.hi_rxno):
            assert line["eligible"] is False
            assert_reasons(line["reasons"], code)
    sale = create_sale(c.http, sale_body(ref, case))
    assert len(sale["lines"]) == len(case.drugs)
    for line in sale["lines"]:
        assert line["eligible"] is False
        assert_reasons(line["reasons"], code)
    assert_refused_and_nothing_charged(c, sale, case.person["psn_no"], code)
    if self_pay:
        assert_settles_wholly_self_paid(c, sale, case, code)
    return sale


# --- the all-good path ----------------------------------------------------------------------------------------

def test_all_three_fixed_hold_the_fund_pays_without_confirmation(counter):
    """Filing for the generic name, designated institution, responsible physician, valid prescription, class A in
    its agreement period, price at the standard: eligible everywhere, settled with the fund paying (Jiangxi class A:
    no pre-pay, 赣医保发〔2022〕2号 §二(三)3; employee ratio from config/policies/jiangxi.toml)."""
    c = counter
    case = seed_case(c.sandbox)
    ref = identify(c.http, case.person)
    assert [(l["eligible"], l["reasons"]) for l in view_lines(c, ref, case.hi_rxno)] == [(True, [])]
    sale = create_sale(c.http, sale_body(ref, case))
    assert [(l["eligible"], l["reasons"]) for l in sale["lines"]] == [(True, [])]
    done = c.http.post(f"/v1/sales/{sale['id']}/settle").json()
    assert done["state"] == "settled", done
    ratio = load_region("jiangxi").ratio["310"]
    assert Decimal(done["split"]["hifp_pay"]) == Decimal("1000.00") * ratio
    assert done["split"]["fulamt_ownpay_amt"] == "0.00"
    assert_invariant(done["split"])
    theirs = settlements_of(c.sandbox, case.person["psn_no"])
    assert len(theirs) == 1 and theirs[0]["fund_pay_sumamt"] == done["split"]["fund_pay_sumamt"]


# --- one test per reason code (docs/policies.md §2) ----------------------------------------------------------------

def test_no_filing_chongqing_4_1_jilin_1_refused_then_sold_wholly_self_paid(counter):
    """No filing for the generic name (渝医保发〔2021〕12号 §四(一) 定用药资质; 吉医保发〔2023〕29号 §一)."""
    case = seed_case(counter.sandbox, filing=None)
    refused_then_self_paid(counter, case, "NO_FILING")


def test_filing_expired_jilin_2_refused_then_sold_wholly_self_paid(counter):
    """The filing's 待遇有效期 ended yesterday (吉医保发〔2023〕29号 §二)."""
    case = seed_case(counter.sandbox, filing={"begin": day(-400), "end": day(-1)})
    refused_then_self_paid(counter, case, "FILING_EXPIRED")


def test_filing_not_started_jilin_2_refused_then_sold_wholly_self_paid(counter):
    """The filing's 待遇有效期 starts tomorrow (吉医保发〔2023〕29号 §二)."""
    case = seed_case(counter.sandbox, filing={"begin": day(1), "end": day(366)})
    refused_then_self_paid(counter, case, "FILING_NOT_STARTED")


def test_institution_mismatch_chongqing_4_3_refused_then_sold_wholly_self_paid(counter):
    """The prescription comes from another hospital than the filing's designated one (定医院, 渝医保发〔2021〕12号
    §四(三); 吉医保发〔2023〕29号 §一). The prescriber is still a responsible physician: only the hospital is wrong."""
    case = seed_case(counter.sandbox, rx={"institution_code": OTHER_HOSPITAL})
    refused_then_self_paid(counter, case, "INSTITUTION_MISMATCH")


def test_physician_not_responsible_chongqing_4_4_refused_then_sold_wholly_self_paid(counter):
    """"其余医师开具的相关药品处方不予报销" (渝医保发〔2021〕12号 §四(四)): the designated hospital, another doctor."""
    case = seed_case(counter.sandbox, rx={"physician_code": OTHER_DOCTOR})
    refused_then_self_paid(counter, case, "PHYSICIAN_NOT_RESPONSIBLE")


def test_category_excluded_jiangxi_2_3_1_class_c_refused_then_sold_wholly_self_paid(counter):
    """Jiangxi class C "不纳入“双通道”管理范围" (赣医保发〔2022〕2号 §二(三)1): filed, prescribed, in agreement, but the
    category is not settled at pharmacies."""
    case = seed_case(counter.sandbox, drug={"category": "C"})
    refused_then_self_paid(counter, case, "CATEGORY_EXCLUDED")


def test_agreement_expired_chongqing_2_6_refused_then_sold_wholly_self_paid(counter):
    """The negotiation agreement ended yesterday and Jiangxi has no exit transition (渝医保发〔2021〕12号 §二(六);
    the transition of 晋医保发〔2022〕4号 §一(三) is Shanxi's, tested below)."""
    case = seed_case(counter.sandbox, drug={"agreement_end": day(-1)})
    refused_then_self_paid(counter, case, "AGREEMENT_EXPIRED")


def test_review_pending_jilin_4_1_refused_then_sold_wholly_self_paid(counter):
    """The filing needs the hospital insurance office's review, not yet given (吉医保发〔2023〕29号 §四(一),
    attachment 2 drugs)."""
    case = seed_case(counter.sandbox, filing={"review": "pending"})
    refused_then_self_paid(counter, case, "REVIEW_PENDING")


def test_cross_region_review_pending_jilin_4_1_refused_then_sold_wholly_self_paid(counter):
    """A patient insured in Wuhan (420100) buying in Nanchang, filing without the agency's approval
    (吉医保发〔2023〕29号 §四(一) 跨省异地 需由医保经办部门审核确定)."""
    case = seed_case(counter.sandbox, person={"insuplc_admdvs": "420100"})
    refused_then_self_paid(counter, case, "CROSS_REGION_REVIEW_PENDING")


def test_rx_patient_mismatch_national_5_refused_and_the_owner_keeps_the_prescription(counter):
    """Patient B presents patient A's circulated prescription (医保函〔2021〕182号 §5 处方流转; 吉医保发〔2023〕29号
    §四(三)). B has a valid filing for the same drug, so only the prescription's owner is wrong.

    The prescription list cannot show this reason: the platform (7202) lists only B's own prescriptions, so A's
    never appears there — it appears on B's sale. Self-pay makes no sense: the prescription is A's, and dispensing
    on it would use up A's prescription (see test_confirm_selfpay_does_not_override_an_unusable_prescription)."""
    c = counter
    owner = seed_case(c.sandbox, lines=TWO_DRUGS)
    other = new_person()
    post_person(c.sandbox, other)
    for drug in owner.drugs:
        post_filing(c.sandbox, new_filing(other, drug))
    ref = identify(c.http, other)
    listed = c.http.get(f"/v1/prescriptions?patient_ref={ref}").json()["prescriptions"]
    assert owner.hi_rxno not in {p["hi_rxno"] for p in listed}
    sale = create_sale(c.http, sale_body(ref, owner))
    for line in sale["lines"]:
        assert line["eligible"] is False
        assert_reasons(line["reasons"], "RX_PATIENT_MISMATCH")
    assert_refused_and_nothing_charged(c, sale, other["psn_no"], "RX_PATIENT_MISMATCH")
    assert rx_status(c.sandbox, owner.hi_rxno) == "valid"
    owner_ref = identify(c.http, owner.person)
    assert all(l["eligible"] for l in view_lines(c, owner_ref, owner.hi_rxno))


def test_rx_expired_national_5_refused_on_every_line(counter):
    """A 3-day prescription issued ten days ago (医保函〔2021〕182号 §5; 吉医保发〔2023〕29号 §四(三)); a
    prescription-level reason, so every line of it carries it. Self-pay on a void prescription makes no sense:
    see test_confirm_selfpay_does_not_override_an_unusable_prescription."""
    case = seed_case(counter.sandbox, lines=TWO_DRUGS, rx={"issued_at": f"{day(-10)} 09:00:00", "valid_days": 3})
    refused_then_self_paid(counter, case, "RX_EXPIRED", self_pay=False)


def test_rx_already_dispensed_national_5_refused_on_every_line(counter):
    """The platform says the prescription was dispensed (医保函〔2021〕182号 §5; docs/policies.md §6: repeated
    dispensing of one prescription is refused). Self-pay would dispense it twice: see
    test_confirm_selfpay_does_not_override_an_unusable_prescription."""
    case = seed_case(counter.sandbox, lines=TWO_DRUGS, rx={"status": "dispensed"})
    refused_then_self_paid(counter, case, "RX_ALREADY_DISPENSED", self_pay=False)


def test_rx_revoked_national_5_refused_on_every_line(counter):
    """The prescriber revoked the prescription (医保函〔2021〕182号 §5; 吉医保发〔2023〕29号 §四(三)). Dispensing
    against the prescriber's revocation makes no sense, self-paid or not: see
    test_confirm_selfpay_does_not_override_an_unusable_prescription."""
    case = seed_case(counter.sandbox, lines=TWO_DRUGS, rx={"status": "revoked"})
    refused_then_self_paid(counter, case, "RX_REVOKED", self_pay=False)


def test_price_above_standard_chongqing_5_1_refused_and_sold_at_the_standard(counter):
    """"不得以超过国家谈判约定的支付标准销售" (渝医保发〔2021〕12号 §五(一); Jiangxi ships
    ``price_above_standard = "reject"``): one fen above the standard is refused 422 PRICE_ABOVE_STANDARD.

    The prescription list judges at the payment standard (there is no selling price before the sale), so it shows
    the line eligible; the reason appears on the sale. Self-pay makes no sense — the sale itself is forbidden —
    so the remedy is the standard price (test_confirm_selfpay_does_not_sell_above_the_payment_standard)."""
    c = counter
    case = seed_case(c.sandbox)
    ref = identify(c.http, case.person)
    assert [(l["eligible"], l["reasons"]) for l in view_lines(c, ref, case.hi_rxno)] == [(True, [])]
    sale = create_sale(c.http, sale_body(ref, case, price="1000.01"))
    assert sale["lines"][0]["eligible"] is False
    assert_reasons(sale["lines"][0]["reasons"], "PRICE_ABOVE_STANDARD")
    assert_refused_and_nothing_charged(c, sale, case.person["psn_no"], "PRICE_ABOVE_STANDARD",
                                      expected="PRICE_ABOVE_STANDARD")
    again = create_sale(c.http, sale_body(ref, case, price="1000.00"))
    done = c.http.post(f"/v1/sales/{again['id']}/settle").json()
    assert done["state"] == "settled" and Decimal(done["split"]["fund_pay_sumamt"]) > 0


def test_donated_supply_jilin_2_recorded_fund_pays_nothing_without_confirmation(counter):
    """"无偿供药的费用，医保基金不予支付" (吉医保发〔2023〕29号 §二): a donated pack is recorded for traceability and the
    fund pays 0 for it.

    Decided: this is not a refusal, so settle needs no confirmation — the POS already declared the pack donated
    (the sandbox treats DONATED_SUPPLY as non-blocking, like the plug-in). The prescription list cannot show it
    (donation is a fact of the sale, not of the prescription), so the list shows the line eligible."""
    c = counter
    case = seed_case(c.sandbox)
    ref = identify(c.http, case.person)
    assert [(l["eligible"], l["reasons"]) for l in view_lines(c, ref, case.hi_rxno)] == [(True, [])]
    sale = create_sale(c.http, sale_body(ref, case, donated=True))
    assert sale["lines"][0]["eligible"] is False and sale["lines"][0]["donated"] is True
    assert_reasons(sale["lines"][0]["reasons"], "DONATED_SUPPLY")
    r = c.http.post(f"/v1/sales/{sale['id']}/settle")
    assert r.status_code == 200, r.text
    split = r.json()["split"]
    assert split["fund_pay_sumamt"] == "0.00" and split["fulamt_ownpay_amt"] == split["medfee_sumamt"] == "1000.00"
    assert_invariant(split)
    theirs = settlements_of(c.sandbox, case.person["psn_no"])
    assert len(theirs) == 1 and theirs[0]["fund_pay_sumamt"] == "0.00"
    assert "DONATED_SUPPLY" in theirs[0]["lines"][0]["reasons"]
    c.svc.outbox.drain()
    uploaded = {code for u in c.sandbox.get("/sandbox/ledger").json()["uploads"] for code in u["codes"]}
    assert set(sale["lines"][0]["trace_codes"]) <= uploaded   # traceability: the donated pack is reported (3505)


# --- where self-pay makes no sense: the confirmation cannot unlock these ------------------------------------------

@pytest.mark.parametrize("code", ["RX_PATIENT_MISMATCH", "RX_EXPIRED", "RX_ALREADY_DISPENSED", "RX_REVOKED"])
def test_confirm_selfpay_does_not_override_an_unusable_prescription(counter, code):
    """A circulated prescription that belongs to someone else, is past its validity, was dispensed or revoked
    authorises no dispensing at all (医保函〔2021〕182号 §5 处方流转; docs/policies.md §6 "repeated dispensing of one
    prescription [is] refused"), so the pharmacist's confirmation of self-pay cannot unlock it: settle with
    confirm_selfpay is still 422 LINES_INELIGIBLE, nothing is charged, and the prescription's status on the
    platform is unchanged after the outbox drains. Today the sale settles self-paid and 7206 then either marks
    patient A's valid prescription dispensed (A can no longer buy) or is parked by the platform."""
    c = counter
    if code == "RX_PATIENT_MISMATCH":
        owner = seed_case(c.sandbox)
        buyer = new_person()
        post_person(c.sandbox, buyer)
        post_filing(c.sandbox, new_filing(buyer, owner.drug))
        ref, case, psn_no = identify(c.http, buyer), owner, buyer["psn_no"]
    else:
        rx = {"RX_EXPIRED": {"issued_at": f"{day(-10)} 09:00:00"}, "RX_ALREADY_DISPENSED": {"status": "dispensed"},
              "RX_REVOKED": {"status": "revoked"}}[code]
        case = seed_case(c.sandbox, rx=rx)
        ref, psn_no = identify(c.http, case.person), case.person["psn_no"]
    status_before = rx_status(c.sandbox, case.hi_rxno)
    sale = create_sale(c.http, sale_body(ref, case))
    assert codes(sale["lines"][0]["reasons"]) == [code]
    r = c.http.post(f"/v1/sales/{sale['id']}/settle", {"confirm_selfpay": True})
    c.svc.outbox.drain()
    assert rx_status(c.sandbox, case.hi_rxno) == status_before
    assert settlements_of(c.sandbox, psn_no) == []
    assert r.status_code == 422 and r.json()["error"]["code"] == "LINES_INELIGIBLE", r.text


def test_confirm_selfpay_does_not_sell_above_the_payment_standard(counter):
    """渝医保发〔2021〕12号 §五(一) forbids the sale above the payment standard, not just the fund's share of it
    (under ``price_above_standard = "reject"``), and the insurer refuses such a line even flagged self-paid. So
    confirm_selfpay cannot unlock it: the plug-in answers 422 PRICE_ABOVE_STANDARD ("请按支付标准调整价格")
    itself, without sending a 2102 it knows will be refused."""
    c = counter
    case = seed_case(c.sandbox)
    ref = identify(c.http, case.person)
    sale = create_sale(c.http, sale_body(ref, case, price="1000.01"))
    r = c.http.post(f"/v1/sales/{sale['id']}/settle", {"confirm_selfpay": True})
    assert settlements_of(c.sandbox, case.person["psn_no"]) == []
    assert [j["infno"] for j in c.http.get(f"/v1/sales/{sale['id']}").json()["journal"]] == []
    assert r.status_code == 422 and r.json()["error"]["code"] == "PRICE_ABOVE_STANDARD", r.text


# --- time boundaries: the exit transition (退出过渡期) --------------------------------------------------------------

def test_jiangxi_has_no_exit_transition_agreement_end_today_settles_yesterday_refused(counter):
    """Jiangxi ships ``exit_transition_days = 0`` (the document sets none): the fund pays through the agreement's
    last day and not one day after (渝医保发〔2021〕12号 §二(六) "协议期满后停止支付" is the same rule)."""
    c = counter
    last_day = seed_case(c.sandbox, drug={"agreement_end": day(0)})
    ref = identify(c.http, last_day.person)
    done = c.http.post(f"/v1/sales/{create_sale(c.http, sale_body(ref, last_day))['id']}/settle").json()
    assert done["state"] == "settled" and Decimal(done["split"]["fund_pay_sumamt"]) > 0
    ended = seed_case(c.sandbox, drug={"agreement_end": day(-1)})
    ref = identify(c.http, ended.person)
    sale = create_sale(c.http, sale_body(ref, ended))
    assert_reasons(sale["lines"][0]["reasons"], "AGREEMENT_EXPIRED")
    assert_refused_and_nothing_charged(c, sale, ended.person["psn_no"], "AGREEMENT_EXPIRED")


@pytest.mark.parametrize("ended_days_ago, eligible", [(90, True), (91, False)])
def test_shanxi_exit_transition_3_months_shanxi_1_3(service_factory, sandbox_http, ended_days_ago, eligible):
    """晋医保发〔2022〕4号 §一(三): a withdrawn 特药 keeps "3个月左右的过渡期" — config/policies/shanxi.toml ships
    ``exit_transition_days = 90``. Agreement ended today−90: still paid (both the plug-in and the insurer);
    today−91: AGREEMENT_EXPIRED. Shanxi's category is 特药 (``TY``); store and insurer both run the Shanxi policy."""
    assert sandbox_http.put("/sandbox/policy", {"region": "shanxi"}).json()["region"] == "shanxi"
    svc, http = service_factory(store={"region": "shanxi", "fixmedins_code": "P14010500001",
                                       "fixmedins_name": "示例大药房（太原店）"})
    case = seed_case(sandbox_http, person={"insuplc_admdvs": "140105"},
                     drug={"category": "TY", "agreement_end": day(-ended_days_ago)},
                     filing={"institution_code": "H14010000101", "physicians": ["D140100001001"]},
                     rx={"institution_code": "H14010000101", "physician_code": "D140100001001"})
    ref = identify(http, case.person)
    [line] = next(p for p in http.get(f"/v1/prescriptions?patient_ref={ref}").json()["prescriptions"]
                  if p["hi_rxno"] == case.hi_rxno)["lines"]
    sale = create_sale(http, sale_body(ref, case))
    r = http.post(f"/v1/sales/{sale['id']}/settle")
    theirs = settlements_of(sandbox_http, case.person["psn_no"])
    if eligible:
        assert line["eligible"] and sale["lines"][0]["eligible"]
        assert r.status_code == 200, r.text
        ratio = load_region("shanxi").ratio["310"]
        assert Decimal(r.json()["split"]["hifp_pay"]) == (Decimal("1000.00") * ratio).quantize(Decimal("0.01"))
        assert len(theirs) == 1 and theirs[0]["hifp_pay"] == r.json()["split"]["hifp_pay"]
    else:
        assert_reasons(line["reasons"], "AGREEMENT_EXPIRED")
        assert_reasons(sale["lines"][0]["reasons"], "AGREEMENT_EXPIRED")
        assert r.status_code == 422 and r.json()["error"]["code"] == "LINES_INELIGIBLE"
        assert theirs == []


# --- place: 首次备案，全省互认 --------------------------------------------------------------------------------------

def test_filing_in_shangrao_recognised_at_a_nanchang_pharmacy_jiangxi_2_4_5(counter):
    """"首次备案，全省互认" (赣医保发〔2022〕2号 §二(四)5): a patient insured in 上饶 (361102), filed and prescribed at a
    上饶 hospital, buys at the Nanchang (360102) pharmacy: eligible, the fund pays, and the insurer books the
    settlement at this pharmacy against the prescribing institution (§二(四)6 — its budget bears the fund share)."""
    c = counter
    case = seed_case(c.sandbox, person={"insuplc_admdvs": "361102"},
                     filing={"institution_code": SHANGRAO_HOSPITAL, "physicians": [SHANGRAO_DOCTOR]},
                     rx={"institution_code": SHANGRAO_HOSPITAL, "physician_code": SHANGRAO_DOCTOR})
    ref = identify(c.http, case.person)
    assert [(l["eligible"], l["reasons"]) for l in view_lines(c, ref, case.hi_rxno)] == [(True, [])]
    sale = create_sale(c.http, sale_body(ref, case))
    assert sale["lines"][0]["eligible"] is True
    done = c.http.post(f"/v1/sales/{sale['id']}/settle").json()
    assert done["state"] == "settled" and Decimal(done["split"]["fund_pay_sumamt"]) > 0
    [theirs] = settlements_of(c.sandbox, case.person["psn_no"])
    assert (theirs["fixmedins_code"], theirs["institution_code"]) == (PHARMACY, SHANGRAO_HOSPITAL)


# --- one prescription, one dispensing ---------------------------------------------------------------------------

def test_prescription_cannot_be_dispensed_twice_until_the_first_sale_is_refunded(counter):
    """docs/policies.md §6 (防范套骗医保基金): settling and draining the outbox sends 7206, so the platform marks the
    prescription dispensed; a second sale on it is RX_ALREADY_DISPENSED and refused. A refund (2103) and its 7206
    "cancel" reopen it, and it sells again (医保函〔2021〕182号 §5 处方流转)."""
    c = counter
    case = seed_case(c.sandbox)
    ref = identify(c.http, case.person)
    first = create_sale(c.http, sale_body(ref, case))
    assert c.http.post(f"/v1/sales/{first['id']}/settle").json()["state"] == "settled"
    assert rx_status(c.sandbox, case.hi_rxno) == "valid"       # 2102 alone does not dispense; 7206 does
    c.svc.outbox.drain()
    assert rx_status(c.sandbox, case.hi_rxno) == "dispensed"
    assert codes(view_lines(c, ref, case.hi_rxno)[0]["reasons"]) == ["RX_ALREADY_DISPENSED"]
    second = create_sale(c.http, sale_body(ref, case))
    assert_reasons(second["lines"][0]["reasons"], "RX_ALREADY_DISPENSED")
    r = c.http.post(f"/v1/sales/{second['id']}/settle")
    assert r.status_code == 422 and r.json()["error"]["code"] == "LINES_INELIGIBLE"
    assert len(settlements_of(c.sandbox, case.person["psn_no"])) == 1
    assert c.http.post(f"/v1/sales/{first['id']}/refund", {"reason": "患者退药"}).json()["state"] == "refunded"
    c.svc.outbox.drain()
    assert rx_status(c.sandbox, case.hi_rxno) == "valid"
    third = create_sale(c.http, sale_body(ref, case))
    assert third["lines"][0]["eligible"] is True
    assert c.http.post(f"/v1/sales/{third['id']}/settle").json()["state"] == "settled"
    assert [s["state"] for s in settlements_of(c.sandbox, case.person["psn_no"])] == ["cancelled", "settled"]


# --- the insurer has the last word ------------------------------------------------------------------------------

@pytest.mark.parametrize("change", ["prescription revoked", "designated hospital changed"])
def test_insurer_refuses_a_line_the_plugin_judged_eligible_upstream_refused_keeps_its_message(counter, change):
    """The facts change at the insurer after the sale was created — the prescriber revokes the prescription
    (医保函〔2021〕182号 §5), or the patient changes designated hospital (渝医保发〔2021〕12号 §四(三)) — so the
    plug-in's verdict (eligible) is stale. The insurer refuses 2102: 502 UPSTREAM_REFUSED keeping its Chinese
    err_msg, nothing is charged, and the sale stays unsettled and settleable (a retry is judged afresh)."""
    c = counter
    case = seed_case(c.sandbox)
    ref = identify(c.http, case.person)
    sale = create_sale(c.http, sale_body(ref, case))
    assert sale["lines"][0]["eligible"] is True
    if change == "prescription revoked":
        post_prescription(c.sandbox, {**case.rx, "status": "revoked"})
        word = "撤销"
    else:
        post_filing(c.sandbox, new_filing(case.person, case.drug, institution_code=OTHER_HOSPITAL, begin=day(0)))
        word = "定点医疗机构"
    r = c.http.post(f"/v1/sales/{sale['id']}/settle")
    assert r.status_code == 502, r.text
    err = r.json()["error"]
    assert err["code"] == "UPSTREAM_REFUSED"
    assert word in err["details"]["err_msg"] and case.drug["med_list_codg"] in err["details"]["err_msg"]
    assert err["details"]["err_msg"] in err["message_zh"]
    assert settlements_of(c.sandbox, case.person["psn_no"]) == []
    view = c.http.get(f"/v1/sales/{sale['id']}").json()
    assert view["state"] == "draft" and view["setl_id"] is None
    assert view["last_error"]["error"]["details"]["err_msg"] == err["details"]["err_msg"]
    retry = c.http.post(f"/v1/sales/{sale['id']}/settle")
    assert retry.status_code == 502 and settlements_of(c.sandbox, case.person["psn_no"]) == []
