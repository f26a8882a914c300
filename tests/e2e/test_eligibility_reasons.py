""""Three fixed" (三定) eligibility end to end: every reason code of docs/policies.md §2, through the real service
and the strict sandbox insurer, decided where a real store can decide it (docs/data-sources.md).

Each test seeds, through the sandbox admin API (docs/sandbox.md), a person + filing + prescription + drug that is all
good except exactly one fact, and puts the drug on the store's imported dual-channel list as the province's list
would carry it. What the counter can know, it decides before anything is sent; what only the insurer knows, the
insurer decides and its refusal is read back into the same reason code:

- **decided at the counter** — from the province's list (``NOT_IN_CATALOG``, ``CATEGORY_EXCLUDED``,
  ``AGREEMENT_EXPIRED``, ``PRICE_ABOVE_STANDARD``), the 5301 filings (``NO_FILING``, ``FILING_EXPIRED``,
  ``FILING_NOT_STARTED``), the 5302 registrations (``INSTITUTION_MISMATCH``), the downloaded prescription
  (``RX_PATIENT_MISMATCH``, ``RX_EXPIRED``, ``NOT_ON_PRESCRIPTION``), the store's own ledger
  (``RX_ALREADY_DISPENSED``) and the sale itself (``DONATED_SUPPLY``): the prescription view and the sale show
  the reason, settle is refused with nothing sent;
- **decided by the insurer** — the responsible physician (5301 names no physician), the hospital's review and the
  cross-region approval under Jilin's gates, a prescription revoked or dispensed after it was downloaded: the
  line is left to the insurer (``unknown``), the 2102 refusal comes back ``422 LINES_INELIGIBLE`` with the reason
  on the line and the insurer's own words in ``details.insurer``.

A line confirmed as wholly self-paid (全自费) leaves insurance: a sale with no insured line left is settled at the
counter alone — nothing goes to the insurer, the patient pays the whole sale in cash.

The seed section named in each test is the docs/policies.md §2 source of that rule; seed numbers follow preamble
(000 Jiangxi 赣医保发〔2022〕2号, 001 Chongqing 渝医保发〔2021〕12号, 002 Jilin 吉医保发〔2023〕29号, 003 Shanxi
晋医保发〔2022〕4号, 004 national 医保函〔2021〕182号).
"""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from plugin.errors import REASONS
from plugin.policy import load_region
from tests.e2e.conftest import assert_invariant
from tests.e2e.seeding import (OTHER_DOCTOR, OTHER_HOSPITAL, SHANGRAO_DOCTOR, SHANGRAO_HOSPITAL,
                               create_sale, day, identify, list_in_store, new_drug, new_filing, new_person,
                               post_filing, post_person, post_prescription, running_counter, rx_status, sale_body,
                               seed_case, settlements_of)

PHARMACY = "P36010200001"    # the demo pharmacy, 南昌 东湖区 (360102)
TWO_DRUGS = [({"category": "A"}, "1"), ({"category": "B", "payment_standard": "598.00"}, "2")]


@pytest.fixture(scope="module")
def counter(tmp_path_factory):
    """One sandbox (Jiangxi policy, demo books) and one rxlane for the module; every test seeds fresh identities.
    The pharmacy's own division is Nanchang 360102, so a patient insured elsewhere in Jiangxi is served
    "elsewhere in the province"."""
    with running_counter(tmp_path_factory.mktemp("eligibility"), store={"admdvs": "360102"}) as c:
        yield c


@pytest.fixture(scope="module")
def jilin(tmp_path_factory):
    """A Jilin counter (长春 220102) against a sandbox adjudicating with Jilin's policy: the only region whose
    policy names the hospital-review and cross-region gates (吉医保发〔2023〕29号 §四(一))."""
    with running_counter(tmp_path_factory.mktemp("jilin"), policy="jilin",
                         store={"region": "jilin", "admdvs": "220102", "fixmedins_code": "P22010200001",
                                "fixmedins_name": "示例大药房（长春店）"}) as c:
        yield c


def seed(c, **kw):
    """A case seeded at the insurer, its drugs on this store's imported list."""
    return seed_case(c.sandbox, store=c.svc, **kw)


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


def sent(c, sale_id: str) -> list[str]:
    """The messages rxlane journaled for this sale (what it sent to the insurer)."""
    return [j["infno"] for j in c.http.get(f"/v1/sales/{sale_id}").json()["journal"]]


def assert_refused_and_nothing_charged(c, sale: dict, psn_no: str, code: str, *,
                                      expected: str = "LINES_INELIGIBLE", confirmable: bool = True) -> dict:
    before = books_of(c, psn_no)
    r = c.http.post(f"/v1/sales/{sale['id']}/settle")
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == expected and err["message_zh"]
    assert code in {x["code"] for line in err["details"]["lines"] for x in line["reasons"]}
    assert err["details"]["confirmable"] is confirmable
    assert settlements_of(c.sandbox, psn_no) == []
    assert books_of(c, psn_no) == before
    assert c.http.get(f"/v1/sales/{sale['id']}").json()["state"] == "draft"
    return err


def assert_sold_wholly_self_paid(c, sale: dict, psn_no: str) -> dict:
    """Confirmed 全自费 with no insured line left: settled at the counter alone, nothing sent to the insurer."""
    r = c.http.post(f"/v1/sales/{sale['id']}/settle", {"confirm_selfpay": True})
    assert r.status_code == 200, r.text
    done = r.json()
    split = done["split"]
    assert done["state"] == "settled" and done["setl_id"] is None
    assert split["fund_pay_sumamt"] == "0.00" and split["acct_pay"] == "0.00"
    assert split["fulamt_ownpay_amt"] == split["psn_cash_pay"] == split["medfee_sumamt"] == sale["medfee_sumamt"]
    assert_invariant(split)
    # the estimate agrees: outside insurance no personal account pays
    assert done["estimate"]["acct_pay"] == "0.00" and done["estimate"]["psn_cash_pay"] == sale["medfee_sumamt"]
    assert [s for s in settlements_of(c.sandbox, psn_no) if s["state"] == "settled"] == []
    return done


def decided_at_the_counter(c, case, code: str, *, self_pay: bool = True, in_view: bool = True) -> dict:
    """The reason is on the prescription view and the sale; settle is refused with nothing sent; confirmed as
    self-paid (where that makes sense) the sale is settled at the counter."""
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
    assert_refused_and_nothing_charged(c, sale, case.person["psn_no"], code, confirmable=self_pay)
    assert sent(c, sale["id"]) == []
    if self_pay:
        assert_sold_wholly_self_paid(c, sale, case.person["psn_no"])
        assert sent(c, sale["id"]) == []
    return sale


def decided_by_the_insurer(c, case, code: str, *, self_pay: bool = True) -> dict:
    """The counter has no facts for the rule: the line is eligible as far as it can tell, with the rule left to the
    insurer (``unknown``); the insurer refuses the settlement, and its text comes back as the same reason code on
    the line, with its own words beside it. Nothing is charged."""
    ref = identify(c.http, case.person)
    for line in view_lines(c, ref, case.hi_rxno):
        assert (line["eligible"], line["reasons"]) == (True, [])
        assert code in codes(line["unknown"])
    sale = create_sale(c.http, sale_body(ref, case))
    assert all(line["eligible"] and code in codes(line["unknown"]) for line in sale["lines"])
    before = books_of(c, case.person["psn_no"])
    r = c.http.post(f"/v1/sales/{sale['id']}/settle")
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "LINES_INELIGIBLE" and err["details"]["confirmable"] is self_pay
    assert err["details"]["insurer"]["err_msg"]                     # the insurer's own words, kept
    assert code in {x["code"] for line in err["details"]["lines"] for x in line["reasons"]}
    assert settlements_of(c.sandbox, case.person["psn_no"]) == [] and books_of(c, case.person["psn_no"]) == before
    view = c.http.get(f"/v1/sales/{sale['id']}").json()
    assert view["state"] == "draft" and all(not ln["eligible"] and code in codes(ln["reasons"])
                                            for ln in view["lines"])
    if self_pay:
        assert_sold_wholly_self_paid(c, view, case.person["psn_no"])
    else:
        again = c.http.post(f"/v1/sales/{sale['id']}/settle", {"confirm_selfpay": True})
        assert again.status_code == 422 and again.json()["error"]["details"]["confirmable"] is False
        assert settlements_of(c.sandbox, case.person["psn_no"]) == []
    return sale


# --- the all-good path ----------------------------------------------------------------------------------------

def test_all_three_fixed_hold_the_fund_pays_without_confirmation(counter):
    """Filing for the prescription's disease, designated institution, responsible physician, valid prescription,
    class A in its agreement period, price at the standard: eligible, settled with the fund paying (Jiangxi class
    A: no pre-pay, 赣医保发〔2022〕2号 §二(三)3; employee ratio from config/policies/jiangxi.toml). The physician
    rule is left to the insurer (5301 names no physician) and the insurer accepts."""
    c = counter
    case = seed(c)
    ref = identify(c.http, case.person)
    [line] = view_lines(c, ref, case.hi_rxno)
    assert (line["eligible"], line["reasons"]) == (True, [])
    assert codes(line["unknown"]) == ["PHYSICIAN_NOT_RESPONSIBLE"]
    sale = create_sale(c.http, sale_body(ref, case))
    assert [(ln["eligible"], ln["reasons"]) for ln in sale["lines"]] == [(True, [])]
    done = c.http.post(f"/v1/sales/{sale['id']}/settle").json()
    assert done["state"] == "settled" and done["setl_id"], done
    ratio = load_region("jiangxi").ratio["310"]
    assert Decimal(done["split"]["hifp_pay"]) == Decimal("1000.00") * ratio
    assert done["split"]["fulamt_ownpay_amt"] == "0.00"
    assert_invariant(done["split"])
    theirs = settlements_of(c.sandbox, case.person["psn_no"])
    assert len(theirs) == 1 and theirs[0]["fund_pay_sumamt"] == done["split"]["fund_pay_sumamt"]


# --- decided at the counter, from the province's list ---------------------------------------------------------------

def test_not_in_catalog_a_drug_missing_from_the_imported_list_is_refused_then_sold_self_paid(counter):
    """A drug the province's dual-channel list does not carry is not a dual-channel drug at this pharmacy
    (医保函〔2021〕182号 §1: the list is the province's); the gateway's own catalogue cannot say otherwise."""
    c = counter
    case = seed_case(c.sandbox)              # known to the insurer, not on the store's list
    list_in_store(c.svc, [])                 # (the store has a list: without one the catalogue rules are unknown)
    decided_at_the_counter(c, case, "NOT_IN_CATALOG")


def test_category_excluded_jiangxi_2_3_1_class_c_refused_then_sold_wholly_self_paid(counter):
    """Jiangxi class C "不纳入“双通道”管理范围" (赣医保发〔2022〕2号 §二(三)1): filed, prescribed, in agreement, but the
    category the province's list gives is not settled at pharmacies."""
    decided_at_the_counter(counter, seed(counter, drug={"category": "C"}), "CATEGORY_EXCLUDED")


def test_agreement_expired_chongqing_2_6_refused_then_sold_wholly_self_paid(counter):
    """The negotiation agreement ended yesterday and Jiangxi has no exit transition (渝医保发〔2021〕12号 §二(六);
    the transition of 晋医保发〔2022〕4号 §一(三) is Shanxi's, tested below)."""
    decided_at_the_counter(counter, seed(counter, drug={"agreement_end": day(-1)}), "AGREEMENT_EXPIRED")


def test_price_above_standard_chongqing_5_1_refused_and_sold_at_the_standard(counter):
    """"不得以超过国家谈判约定的支付标准销售" (渝医保发〔2021〕12号 §五(一); Jiangxi ships
    ``price_above_standard = "reject"``): one fen above the list's standard is refused 422 PRICE_ABOVE_STANDARD.

    The prescription view judges at the payment standard (there is no selling price before the sale), so it shows
    the line eligible; the reason appears on the sale. Self-pay makes no sense — the sale itself is forbidden —
    so the remedy is the standard price (test_confirm_selfpay_does_not_sell_above_the_payment_standard)."""
    c = counter
    case = seed(c)
    ref = identify(c.http, case.person)
    assert [(ln["eligible"], ln["reasons"]) for ln in view_lines(c, ref, case.hi_rxno)] == [(True, [])]
    sale = create_sale(c.http, sale_body(ref, case, price="1000.01"))
    assert sale["lines"][0]["eligible"] is False
    assert_reasons(sale["lines"][0]["reasons"], "PRICE_ABOVE_STANDARD")
    assert_refused_and_nothing_charged(c, sale, case.person["psn_no"], "PRICE_ABOVE_STANDARD",
                                      expected="PRICE_ABOVE_STANDARD", confirmable=False)
    assert sent(c, sale["id"]) == []
    again = create_sale(c.http, sale_body(ref, case, price="1000.00"))
    done = c.http.post(f"/v1/sales/{again['id']}/settle").json()
    assert done["state"] == "settled" and Decimal(done["split"]["fund_pay_sumamt"]) > 0


def test_confirm_selfpay_does_not_sell_above_the_payment_standard(counter):
    """渝医保发〔2021〕12号 §五(一) forbids the sale above the payment standard, not just the fund's share of it
    (under ``price_above_standard = "reject"``). So confirm_selfpay cannot unlock it: 422 PRICE_ABOVE_STANDARD
    ("请按支付标准调整价格"), nothing sent."""
    c = counter
    case = seed(c)
    ref = identify(c.http, case.person)
    sale = create_sale(c.http, sale_body(ref, case, price="1000.01"))
    r = c.http.post(f"/v1/sales/{sale['id']}/settle", {"confirm_selfpay": True})
    assert settlements_of(c.sandbox, case.person["psn_no"]) == []
    assert sent(c, sale["id"]) == []
    assert r.status_code == 422 and r.json()["error"]["code"] == "PRICE_ABOVE_STANDARD", r.text


# --- decided at the counter, from the 5301 filings and 5302 registrations -------------------------------------------

def test_no_filing_chongqing_4_1_jilin_1_refused_then_sold_wholly_self_paid(counter):
    """5301 answers no filing for the patient (渝医保发〔2021〕12号 §四(一) 定用药资质; 吉医保发〔2023〕29号 §一)."""
    decided_at_the_counter(counter, seed(counter, filing=None), "NO_FILING")


def test_filing_for_another_disease_is_no_filing_for_this_prescription(counter):
    """5301 names filings by disease (``opsp_dise_code``), not by drug: a filing for another disease than the
    prescription's does not cover it (渝医保发〔2021〕12号 §四(一))."""
    c = counter
    other_drug = new_drug()
    c.sandbox.post("/sandbox/catalog", other_drug)
    lone = seed(c, filing=None)
    post_filing(c.sandbox, new_filing(lone.person, other_drug))
    decided_at_the_counter(c, lone, "NO_FILING")


def test_filing_expired_jilin_2_refused_then_sold_wholly_self_paid(counter):
    """The filing's 待遇有效期 (5301 ``enddate``) ended yesterday (吉医保发〔2023〕29号 §二)."""
    decided_at_the_counter(counter, seed(counter, filing={"begin": day(-400), "end": day(-1)}), "FILING_EXPIRED")


def test_filing_not_started_jilin_2_refused_then_sold_wholly_self_paid(counter):
    """The filing's 待遇有效期 (5301 ``begndate``) starts tomorrow (吉医保发〔2023〕29号 §二)."""
    decided_at_the_counter(counter, seed(counter, filing={"begin": day(1), "end": day(366)}), "FILING_NOT_STARTED")


def test_institution_mismatch_chongqing_4_3_refused_then_sold_wholly_self_paid(counter):
    """The prescription comes from another hospital than the patient's designated ones — 5302 (``biz_appy_type``
    03) lists them (定医院, 渝医保发〔2021〕12号 §四(三); 吉医保发〔2023〕29号 §一)."""
    c = counter
    case = seed(c, rx={"institution_code": OTHER_HOSPITAL})
    decided_at_the_counter(c, case, "INSTITUTION_MISMATCH")


def test_filing_in_shangrao_recognised_at_a_nanchang_pharmacy_jiangxi_2_4_5(counter):
    """"首次备案，全省互认" (赣医保发〔2022〕2号 §二(四)5): a patient insured in 上饶 (361102), filed and prescribed at
    a 上饶 hospital, buys at the Nanchang (360102) pharmacy: eligible, the fund pays, and the insurer books the
    settlement at this pharmacy against the prescribing institution (§二(四)6 — its budget bears the fund share)."""
    c = counter
    case = seed(c, person={"insuplc_admdvs": "361102"},
                filing={"institution_code": SHANGRAO_HOSPITAL, "physicians": [SHANGRAO_DOCTOR]},
                rx={"institution_code": SHANGRAO_HOSPITAL, "physician_code": SHANGRAO_DOCTOR})
    ref = identify(c.http, case.person)
    assert [(ln["eligible"], ln["reasons"]) for ln in view_lines(c, ref, case.hi_rxno)] == [(True, [])]
    sale = create_sale(c.http, sale_body(ref, case))
    assert sale["lines"][0]["eligible"] is True
    done = c.http.post(f"/v1/sales/{sale['id']}/settle").json()
    assert done["state"] == "settled" and Decimal(done["split"]["fund_pay_sumamt"]) > 0
    [theirs] = settlements_of(c.sandbox, case.person["psn_no"])
    assert (theirs["fixmedins_code"], theirs["institution_code"]) == (PHARMACY, SHANGRAO_HOSPITAL)


# --- decided at the counter, from the downloaded prescription and the ledger ----------------------------------------

def test_rx_patient_mismatch_national_5_refused_and_the_owner_keeps_the_prescription(counter):
    """Patient B presents patient A's circulated prescription, which this store downloaded for A (医保函〔2021〕182号
    §5 处方流转; 吉医保发〔2023〕29号 §四(三)). B has a valid filing for the same drug, so only the prescription's owner
    is wrong. Self-pay makes no sense: dispensing on A's prescription would use it up."""
    c = counter
    owner = seed(c, lines=TWO_DRUGS)
    identify(c.http, owner.person)                               # A was here: the prescription is downloaded
    other = new_person()
    post_person(c.sandbox, other)
    for drug in owner.drugs:
        post_filing(c.sandbox, new_filing(other, drug))
    ref = identify(c.http, other)
    listed = c.http.get(f"/v1/prescriptions?patient_ref={ref}").json()["prescriptions"]
    assert owner.hi_rxno not in {p["hi_rxno"] for p in listed}    # 7202 lists only B's own
    sale = create_sale(c.http, sale_body(ref, owner))
    for line in sale["lines"]:
        assert line["eligible"] is False
        assert_reasons(line["reasons"], "RX_PATIENT_MISMATCH")
    assert_refused_and_nothing_charged(c, sale, other["psn_no"], "RX_PATIENT_MISMATCH", confirmable=False)
    r = c.http.post(f"/v1/sales/{sale['id']}/settle", {"confirm_selfpay": True})
    assert r.status_code == 422 and r.json()["error"]["details"]["confirmable"] is False
    assert rx_status(c.sandbox, owner.hi_rxno) == "valid"
    owner_ref = identify(c.http, owner.person)
    assert all(ln["eligible"] for ln in view_lines(c, owner_ref, owner.hi_rxno))


def test_a_prescription_never_downloaded_here_cannot_be_named_on_a_sale(counter):
    """A prescription number typed at the counter that this store never downloaded for the patient (7202/7203 are
    the only way a pharmacy receives a circulated prescription, 医保函〔2021〕182号 §5) is refused
    RX_NOT_DOWNLOADED, and no sale is made."""
    c = counter
    owner = seed(c)
    buyer = new_person()
    post_person(c.sandbox, buyer)
    ref = identify(c.http, buyer)
    r = c.http.post("/v1/sales", sale_body(ref, owner))
    assert r.status_code == 409 and r.json()["error"]["code"] == "RX_NOT_DOWNLOADED", r.text
    assert rx_status(c.sandbox, owner.hi_rxno) == "valid"


def test_rx_expired_national_5_refused_on_every_line(counter, monkeypatch):
    """A 3-day prescription downloaded while valid, sold ten days later (医保函〔2021〕182号 §5; 吉医保发〔2023〕29号
    §四(三)): the platform's ``valid_end_time`` has passed. A prescription-level reason, so every line carries it;
    self-pay on a void prescription makes no sense."""
    c = counter
    case = seed(c, lines=TWO_DRUGS)
    ref = identify(c.http, case.person)
    monkeypatch.setattr(c.svc.sales, "today", lambda: date.today() + timedelta(days=10))
    sale = create_sale(c.http, sale_body(ref, case))
    for line in sale["lines"]:
        assert line["eligible"] is False
        assert_reasons(line["reasons"], "RX_EXPIRED")
    assert_refused_and_nothing_charged(c, sale, case.person["psn_no"], "RX_EXPIRED", confirmable=False)
    r = c.http.post(f"/v1/sales/{sale['id']}/settle", {"confirm_selfpay": True})
    assert r.status_code == 422 and r.json()["error"]["details"]["confirmable"] is False
    assert sent(c, sale["id"]) == [] and settlements_of(c.sandbox, case.person["psn_no"]) == []


def test_not_on_prescription_a_drug_the_prescription_does_not_name_is_refused(counter):
    """A line for a drug the downloaded prescription does not prescribe (医保函〔2021〕182号 §5: dispensing follows
    the prescription). It can be sold wholly self-paid as an ordinary purchase."""
    c = counter
    case = seed(c)
    extra = new_drug()
    c.sandbox.post("/sandbox/catalog", extra)
    list_in_store(c.svc, [extra])
    ref = identify(c.http, case.person)
    body = sale_body(ref, case)
    body["lines"][0]["med_list_codg"] = extra["med_list_codg"]
    body["lines"][0]["trace_codes"] = [f"{extra['trace_prefixes'][0]}{n:013d}" for n in (1,)]
    sale = create_sale(c.http, body)
    assert_reasons(sale["lines"][0]["reasons"], "NOT_ON_PRESCRIPTION")
    assert_refused_and_nothing_charged(c, sale, case.person["psn_no"], "NOT_ON_PRESCRIPTION")
    assert_sold_wholly_self_paid(c, sale, case.person["psn_no"])


def test_prescription_cannot_be_dispensed_twice_until_the_first_sale_is_refunded(counter):
    """docs/policies.md §6 (防范套骗医保基金): once a sale on the prescription is settled here, a second sale on it is
    RX_ALREADY_DISPENSED from the store's own ledger — refused before anything is sent, and no confirmation can
    unlock it. A refund (2103) frees the prescription at this store again (医保函〔2021〕182号 §5 处方流转)."""
    c = counter
    case = seed(c)
    ref = identify(c.http, case.person)
    first = create_sale(c.http, sale_body(ref, case))
    assert c.http.post(f"/v1/sales/{first['id']}/settle").json()["state"] == "settled"
    assert codes(view_lines(c, ref, case.hi_rxno)[0]["reasons"]) == ["RX_ALREADY_DISPENSED"]
    second = create_sale(c.http, sale_body(ref, case))
    assert_reasons(second["lines"][0]["reasons"], "RX_ALREADY_DISPENSED")
    assert_refused_and_nothing_charged_but_the_first(c, second, case)
    r = c.http.post(f"/v1/sales/{second['id']}/settle", {"confirm_selfpay": True})
    assert r.status_code == 422 and r.json()["error"]["details"]["confirmable"] is False
    assert sent(c, second["id"]) == []
    assert c.http.post(f"/v1/sales/{first['id']}/refund", {"reason": "患者退药"}).json()["state"] == "refunded"
    third = create_sale(c.http, sale_body(ref, case))
    assert third["lines"][0]["eligible"] is True
    assert c.http.post(f"/v1/sales/{third['id']}/settle").json()["state"] == "settled"
    assert [s["state"] for s in settlements_of(c.sandbox, case.person["psn_no"])] == ["cancelled", "settled"]


def assert_refused_and_nothing_charged_but_the_first(c, sale: dict, case) -> None:
    r = c.http.post(f"/v1/sales/{sale['id']}/settle")
    assert r.status_code == 422 and r.json()["error"]["code"] == "LINES_INELIGIBLE", r.text
    assert len(settlements_of(c.sandbox, case.person["psn_no"])) == 1


def test_donated_supply_jilin_2_recorded_fund_pays_nothing_without_confirmation(counter):
    """"无偿供药的费用，医保基金不予支付" (吉医保发〔2023〕29号 §二): a donated pack is recorded for traceability and
    the fund pays 0 for it. Not a refusal: the POS declared the pack donated, so settle needs no confirmation, and
    with no insured line left nothing goes to the insurer. The prescription view cannot show it (donation is a
    fact of the sale), so it shows the line eligible."""
    c = counter
    case = seed(c)
    ref = identify(c.http, case.person)
    assert [(ln["eligible"], ln["reasons"]) for ln in view_lines(c, ref, case.hi_rxno)] == [(True, [])]
    sale = create_sale(c.http, sale_body(ref, case, donated=True))
    assert sale["lines"][0]["eligible"] is False and sale["lines"][0]["donated"] is True
    assert_reasons(sale["lines"][0]["reasons"], "DONATED_SUPPLY")
    r = c.http.post(f"/v1/sales/{sale['id']}/settle")
    assert r.status_code == 200, r.text
    done = r.json()
    split = done["split"]
    assert done["state"] == "settled" and done["setl_id"] is None
    assert split["fund_pay_sumamt"] == "0.00" and split["fulamt_ownpay_amt"] == split["medfee_sumamt"] == "1000.00"
    assert_invariant(split)
    assert settlements_of(c.sandbox, case.person["psn_no"]) == [] and sent(c, sale["id"]) == []
    assert done["lines"][0]["trace_codes"] == sale["lines"][0]["trace_codes"]    # the donated pack is recorded


# --- decided by the insurer: the counter has no facts for these ---------------------------------------------------

def test_physician_not_responsible_chongqing_4_4_the_insurer_refuses_then_sold_wholly_self_paid(counter):
    """"其余医师开具的相关药品处方不予报销" (渝医保发〔2021〕12号 §四(四)): the designated hospital, another doctor.
    5301 names no responsible physician, so the counter cannot judge; the insurer refuses 2102 and rxlane reads its
    text back into PHYSICIAN_NOT_RESPONSIBLE on the line."""
    case = seed(counter, rx={"physician_code": OTHER_DOCTOR})
    decided_by_the_insurer(counter, case, "PHYSICIAN_NOT_RESPONSIBLE")


def test_review_pending_jilin_4_1_the_insurer_refuses_then_sold_wholly_self_paid(jilin):
    """The filing needs the hospital insurance office's review, not yet given (吉医保发〔2023〕29号 §四(一),
    attachment 2 drugs). 5301 does not say whether a review is pending: the insurer decides."""
    case = seed(jilin, person={"insuplc_admdvs": "220102"}, drug={"category": "F2"}, filing={"review": "pending"})
    decided_by_the_insurer(jilin, case, "REVIEW_PENDING")


def test_cross_region_review_pending_jilin_4_1_the_insurer_refuses_then_sold_wholly_self_paid(jilin):
    """A patient insured in Wuhan (420100) buying in Changchun, filing without the agency's approval
    (吉医保发〔2023〕29号 §四(一) 跨省异地 需由医保经办部门审核确定). The approval is the agency's record, not the
    store's."""
    case = seed(jilin, person={"insuplc_admdvs": "420100"}, drug={"category": "F1"})
    decided_by_the_insurer(jilin, case, "CROSS_REGION_REVIEW_PENDING")


@pytest.mark.parametrize("status, code", [("revoked", "RX_REVOKED"), ("dispensed", "RX_ALREADY_DISPENSED")])
def test_a_prescription_revoked_or_dispensed_elsewhere_after_download_is_refused_by_the_insurer(counter, status,
                                                                                                code):
    """The prescriber revokes the prescription, or another pharmacy dispenses it, after this store downloaded it
    (医保函〔2021〕182号 §5; 吉医保发〔2023〕29号 §四(三)): the store's copy says valid, the platform does not. The
    insurer refuses, the reason comes back on every line, and no confirmation can unlock it."""
    c = counter
    case = seed(c, lines=TWO_DRUGS)
    ref = identify(c.http, case.person)
    post_prescription(c.sandbox, {**case.rx, "status": status})
    sale = create_sale(c.http, sale_body(ref, case))
    assert all(line["eligible"] for line in sale["lines"])
    r = c.http.post(f"/v1/sales/{sale['id']}/settle")
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "LINES_INELIGIBLE" and err["details"]["confirmable"] is False
    assert {x["code"] for line in err["details"]["lines"] for x in line["reasons"]} == {code}
    assert err["details"]["insurer"]["err_msg"]
    again = c.http.post(f"/v1/sales/{sale['id']}/settle", {"confirm_selfpay": True})
    assert again.status_code == 422 and again.json()["error"]["details"]["confirmable"] is False
    assert settlements_of(c.sandbox, case.person["psn_no"]) == []
    assert rx_status(c.sandbox, case.hi_rxno) == status


def test_an_insurer_refusal_rxlane_cannot_read_stays_the_insurers_words(counter):
    """A refusal text no pattern of the gateway profile knows is not guessed into a reason: 502 UPSTREAM_REFUSED
    keeps the insurer's Chinese err_msg, nothing is charged, and the sale stays settleable."""
    c = counter
    case = seed(c)
    ref = identify(c.http, case.person)
    sale = create_sale(c.http, sale_body(ref, case))
    words = "业务系统维护中，请稍后再试（测试）"
    c.sandbox.post("/sandbox/faults", {"infno": "2102", "mode": "error", "times": 1, "err_msg": words})
    r = c.http.post(f"/v1/sales/{sale['id']}/settle")
    assert r.status_code == 502, r.text
    err = r.json()["error"]
    assert err["code"] == "UPSTREAM_REFUSED" and err["details"]["err_msg"] == words and words in err["message_zh"]
    view = c.http.get(f"/v1/sales/{sale['id']}").json()
    assert view["state"] == "draft" and view["setl_id"] is None and view["lines"][0]["eligible"] is True
    assert settlements_of(c.sandbox, case.person["psn_no"]) == []
    assert c.http.post(f"/v1/sales/{sale['id']}/settle").json()["state"] == "settled"


def test_the_designated_hospital_changed_after_the_sale_was_made_the_insurer_has_the_last_word(counter):
    """The patient changes designated hospital (渝医保发〔2021〕12号 §四(三)) after the counter judged the line: its
    verdict is stale, the insurer refuses, and the line takes INSTITUTION_MISMATCH with the insurer's words."""
    c = counter
    case = seed(c)
    ref = identify(c.http, case.person)
    sale = create_sale(c.http, sale_body(ref, case))
    assert sale["lines"][0]["eligible"] is True
    c.sandbox.post("/sandbox/filings", new_filing(case.person, case.drug, institution_code=OTHER_HOSPITAL,
                                                  begin=day(0)))
    r = c.http.post(f"/v1/sales/{sale['id']}/settle")
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert "INSTITUTION_MISMATCH" in {x["code"] for line in err["details"]["lines"] for x in line["reasons"]}
    assert "定点医疗机构" in err["details"]["insurer"]["err_msg"]
    assert settlements_of(c.sandbox, case.person["psn_no"]) == []


# --- time boundaries: the exit transition (退出过渡期) --------------------------------------------------------------

def test_jiangxi_has_no_exit_transition_agreement_end_today_settles_yesterday_refused(counter):
    """Jiangxi ships ``exit_transition_days = 0`` (the document sets none): the fund pays through the agreement's
    last day on the province's list and not one day after (渝医保发〔2021〕12号 §二(六) "协议期满后停止支付")."""
    c = counter
    last_day = seed(c, drug={"agreement_end": day(0)})
    ref = identify(c.http, last_day.person)
    done = c.http.post(f"/v1/sales/{create_sale(c.http, sale_body(ref, last_day))['id']}/settle").json()
    assert done["state"] == "settled" and Decimal(done["split"]["fund_pay_sumamt"]) > 0
    ended = seed(c, drug={"agreement_end": day(-1)})
    ref = identify(c.http, ended.person)
    sale = create_sale(c.http, sale_body(ref, ended))
    assert_reasons(sale["lines"][0]["reasons"], "AGREEMENT_EXPIRED")
    assert_refused_and_nothing_charged(c, sale, ended.person["psn_no"], "AGREEMENT_EXPIRED")


@pytest.mark.parametrize("ended_days_ago, eligible", [(90, True), (91, False)])
def test_shanxi_exit_transition_3_months_shanxi_1_3(service_factory, sandbox_http, ended_days_ago, eligible):
    """晋医保发〔2022〕4号 §一(三): a withdrawn 特药 keeps "3个月左右的过渡期" — config/policies/shanxi.toml ships
    ``exit_transition_days = 90``. Agreement ended today−90: still paid (both the counter and the insurer);
    today−91: AGREEMENT_EXPIRED. Shanxi's category is 特药 (``TY``); store and insurer both run the Shanxi policy."""
    assert sandbox_http.put("/sandbox/policy", {"region": "shanxi"}).json()["region"] == "shanxi"
    svc, http = service_factory(store={"region": "shanxi", "fixmedins_code": "P14010500001",
                                       "fixmedins_name": "示例大药房（太原店）"})
    case = seed_case(sandbox_http, store=svc, person={"insuplc_admdvs": "140105"},
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


def test_a_sale_without_a_circulated_prescription_is_not_on_any_prescription(counter):
    """A dual-channel drug is paid at a pharmacy only against a circulated prescription (医保函〔2021〕182号 §五;
    渝医保发〔2021〕12号 §四(五)): a sale naming none is decided at the counter — NOT_ON_PRESCRIPTION on every line,
    nothing sent — instead of being refused by the insurer; confirmed, it is sold wholly self-paid."""
    c = counter
    case = seed(c)
    ref = identify(c.http, case.person)
    sale = create_sale(c.http, {**sale_body(ref, case), "hi_rxno": None})
    assert_reasons(sale["lines"][0]["reasons"], "NOT_ON_PRESCRIPTION")
    assert_refused_and_nothing_charged(c, sale, case.person["psn_no"], "NOT_ON_PRESCRIPTION")
    assert sent(c, sale["id"]) == []
    assert_sold_wholly_self_paid(c, sale, case.person["psn_no"])
