"""The 12-step settlement split of docs/policies.md §3, one table per step, plus the §5 worked example.

Policies here are built with ``policy_from_mapping`` from a small, explicit test policy so each table pins one step
with round numbers; the shipped region files are pinned against their seeds in test_policy_regions.py.
"""
from __future__ import annotations

import copy
from decimal import Decimal as D

import pytest

from plugin.errors import InvalidInput, RxlaneError
from plugin.policy import QuoteLine, QuoteRequest, Split, Ytd, load_region, policy_from_mapping, split

BASE = {
    "region": "testland", "name": "测试", "source": "test", "admdvs": "990000",
    "price_above_standard": "reject", "account_covers": "all", "exit_transition_days": 0,
    "categories": {"A": {"pharmacy": True, "prepay_ratio": "0"}, "B": {"pharmacy": True, "prepay_ratio": "0.10"},
                   "C": {"pharmacy": False}},
    "deductible": {"amount": "0"},
    "ratio": {"310": "0.80", "390": "0.60"},
    "annual_cap": {"310": "300000", "390": "200000"},
    "supplementary": {
        "310": {"kind": "after_fund_cap", "ratio": "0.90", "cap": "400000"},
        "390": {"kind": "after_selfpay_threshold", "threshold": "15000", "ratio": "0.60", "cap": "400000"},
    },
}


def policy(**changes):
    """The test policy with top-level keys replaced; a non-empty dict is merged one level deep, {} empties."""
    m = copy.deepcopy(BASE)
    for key, value in changes.items():
        if value and isinstance(value, dict) and isinstance(m.get(key), dict):
            m[key] = {**m[key], **value}
        else:
            m[key] = value
    return policy_from_mapping(m, source="test")


def line(category="A", price="1000.00", qty="1", standard=None, **kw):
    return QuoteLine(med_list_codg=kw.pop("codg", "X01"), category=category, price=D(price), qty=D(qty),
                     payment_standard=D(standard if standard is not None else price), **kw)


def quote(*lines, insutype="310", balc="0", acct_used=False, hosp_lv=None, **ytd):
    return QuoteRequest(insutype=insutype, lines=list(lines), acct_used=acct_used, balc=D(balc), hosp_lv=hosp_lv,
                        ytd=Ytd(**{k: D(v) for k, v in ytd.items()}))


def assert_invariants(s: Split, balc_in: D):
    assert s.fund_pay_sumamt + s.acct_pay + s.psn_cash_pay == s.medfee_sumamt
    assert s.fund_pay_sumamt == s.hifp_pay + s.hifmi_pay + s.hifob_pay + s.maf_pay + s.oth_pay
    assert s.balc == balc_in - s.acct_pay


# --- docs/policies.md §5 ----------------------------------------------------------------------------------------------

def test_worked_example_jiangxi_class_b_employee_policies_5():
    s = split(load_region("jiangxi"), quote(line("B", "1000.00"), balc="50.00", acct_used=True))
    assert (s.medfee_sumamt, s.preselfpay_amt, s.inscp_scp_amt, s.hifp_pay, s.psn_part_amt, s.acct_pay,
            s.psn_cash_pay, s.fund_pay_sumamt, s.balc) == (
        D("1000.00"), D("100.00"), D("900.00"), D("720.00"), D("280.00"), D("50.00"), D("230.00"), D("720.00"),
        D("0.00"))
    body = s.to_dict()
    assert (body["fund_pay_sumamt"], body["acct_pay"], body["psn_cash_pay"]) == ("720.00", "50.00", "230.00")
    assert body["maf_pay"] == body["oth_pay"] == "0.00"
    assert body["lines"] == [{"med_list_codg": "X01", "eligible": True, "reasons": [], "line_total": "1000.00",
                              "fulamt_ownpay_amt": "0.00", "overlmt_selfpay": "0.00", "preselfpay_amt": "100.00",
                              "inscp_scp_amt": "900.00"}]


# --- step 1: line_total = p × q, to the fen half up -----------------------------------------------------------------

@pytest.mark.parametrize("price, qty, total", [
    ("1000.00", "1", "1000.00"),
    ("33.33", "0.5", "16.67"),      # 16.665: a half fen rounds up
    ("0.01", "0.5", "0.01"),        # 0.005 → 0.01
    ("0.01", "0.4", "0.00"),        # 0.004 → 0.00
    ("10.01", "0.333", "3.33"),     # 3.33333
    ("99.99", "3", "299.97"),
    ("456.78", "0.25", "114.20"),   # 114.195 → 114.20 (拆零 quarter pack)
])
def test_step1_line_total_is_price_times_qty_rounded_half_up(price, qty, total):
    s = split(policy(), quote(line("A", price, qty)))
    assert s.lines[0].line_total == s.medfee_sumamt == D(total)


# --- steps 2–3: above the payment standard ---------------------------------------------------------------------------

@pytest.mark.parametrize("price, standard, qty, total, covered, overlmt", [
    ("120.00", "100.00", "2", "240.00", "200.00", "40.00"),
    ("100.00", "100.00", "2", "200.00", "200.00", "0.00"),
    ("90.00", "100.00", "2", "180.00", "180.00", "0.00"),     # below the standard: all of the price is covered
    ("1.02", "1.01", "0.25", "0.26", "0.25", "0.01"),          # both products on a half fen: overlmt is the remainder
    ("10.00", "0.00", "1", "10.00", "0.00", "10.00"),          # a zero standard: the fund covers nothing
])
def test_step2_excess_over_standard_is_overlmt_selfpay_when_policy_says_selfpay(price, standard, qty, total,
                                                                                 covered, overlmt):
    s = split(policy(price_above_standard="selfpay"), quote(line("A", price, qty, standard)))
    ln = s.lines[0]
    assert (ln.line_total, ln.overlmt_selfpay, ln.inscp_scp_amt, ln.eligible) == (D(total), D(overlmt),
                                                                                  D(covered), True)
    assert ln.line_total == ln.overlmt_selfpay + ln.preselfpay_amt + ln.inscp_scp_amt
    assert s.overlmt_selfpay == D(overlmt)


def test_price_above_standard_is_refused_under_reject_chongqing_5_1():
    with pytest.raises(RxlaneError) as exc:
        split(load_region("chongqing"), quote(line("BZ", "1000.01", standard="1000.00", codg="CQ01"),
                                              hosp_lv="3"))
    assert exc.value.code == "PRICE_ABOVE_STANDARD"
    assert exc.value.details == {"med_list_codg": "CQ01", "price": "1000.01", "payment_standard": "1000.00"}


@pytest.mark.parametrize("kw", [{"eligible": False}, {"donated": True}, {"category": "C"}])
def test_wholly_selfpaid_line_is_not_refused_for_its_price(kw):
    category = kw.pop("category", "A")
    s = split(policy(), quote(line(category, "1200.00", standard="1000.00", **kw)))
    assert s.fulamt_ownpay_amt == s.psn_part_amt == D("1200.00")
    assert s.overlmt_selfpay == D("0.00")


@pytest.mark.parametrize("kw, category, codes", [
    ({"eligible": False, "reasons": ("NO_FILING",)}, "A", ["NO_FILING"]),
    ({"eligible": False, "reasons": ("RX_EXPIRED", "PHYSICIAN_NOT_RESPONSIBLE")}, "A",
     ["RX_EXPIRED", "PHYSICIAN_NOT_RESPONSIBLE"]),
    ({"eligible": False}, "A", ["NOT_ELIGIBLE"]),
    ({"donated": True}, "A", ["DONATED_SUPPLY"]),                          # 吉医保发〔2023〕29号 §二
    ({}, "C", ["CATEGORY_EXCLUDED"]),                                      # 赣医保发〔2022〕2号 §二(三)1
    ({"eligible": False, "reasons": ("DONATED_SUPPLY",), "donated": True}, "C",
     ["DONATED_SUPPLY", "CATEGORY_EXCLUDED"]),                             # no code twice
])
def test_step3_wholly_selfpaid_line_says_why(kw, category, codes):
    s = split(policy(), quote(line(category, "80.00", "2", **kw)))
    ln = s.lines[0]
    assert not ln.eligible
    assert (ln.fulamt_ownpay_amt, ln.inscp_scp_amt, ln.preselfpay_amt) == (D("160.00"), D("0.00"), D("0.00"))
    assert [r["code"] for r in ln.reasons] == codes
    assert all(r["message"] and r["message_zh"] for r in ln.reasons)
    assert s.fund_pay_sumamt == D("0.00") and s.psn_cash_pay == D("160.00")


# --- step 4–5: 先行自付 pre-pay and the in-scope amount ---------------------------------------------------------------

@pytest.mark.parametrize("category, price, qty, pre, inscp", [
    ("A", "1000.00", "1", "0.00", "1000.00"),     # 赣医保发〔2022〕2号 §二(三)3: A has no 先行自付
    ("B", "1000.00", "1", "100.00", "900.00"),    # §二(三)3: B 先行自付 10%
    ("B", "0.05", "1", "0.01", "0.04"),           # 0.005 → 0.01
    ("B", "0.04", "1", "0.00", "0.04"),           # 0.004 → 0.00
    ("B", "123.45", "0.5", "6.17", "55.56"),      # 61.725 → 61.73; 6.173 → 6.17
])
def test_step4_prepay_is_the_category_share_of_covered_amount(category, price, qty, pre, inscp):
    s = split(load_region("jiangxi"), quote(line(category, price, qty)))
    assert (s.preselfpay_amt, s.inscp_scp_amt) == (D(pre), D(inscp))
    assert s.lines[0].line_total == s.preselfpay_amt + s.inscp_scp_amt


# --- step 6: deductible (起付线), once per natural year ---------------------------------------------------------------

@pytest.mark.parametrize("amount, paid, price, applied", [
    ("500", "0", "1000.00", "500.00"),
    ("500", "200", "1000.00", "300.00"),      # partly paid earlier this year
    ("500", "500", "1000.00", "0.00"),        # once a year: already paid
    ("500", "600", "1000.00", "0.00"),
    ("500", "0", "100.00", "100.00"),         # never more than the in-scope amount
    ("0", "0", "1000.00", "0.00"),
])
def test_step6_deductible_applies_what_is_left_of_this_years(amount, paid, price, applied):
    s = split(policy(deductible={"amount": amount}), quote(line("A", price), deductible_paid=paid))
    assert s.act_pay_dedc == D(applied)
    assert s.hifp_pay == ((D(price) - D(applied)) * D("0.80")).quantize(D("0.01"))


@pytest.mark.parametrize("level, applied", [("1", "100.00"), ("2", "200.00"), ("3", "300.00")])
def test_deductible_by_designated_hospital_level_chongqing_2_4(level, applied):
    s = split(load_region("chongqing"), quote(line("BZ", "1000.00"), hosp_lv=level))
    assert s.act_pay_dedc == D(applied)
    assert s.hifp_pay == ((D("1000.00") - D(applied)) * D("0.80")).quantize(D("0.01"))


def test_by_level_deductible_needs_the_hospital_level():
    with pytest.raises(InvalidInput) as exc:
        split(load_region("chongqing"), quote(line("BZ")))
    assert exc.value.details["field"] == "hosp_lv"


def test_by_level_deductible_refuses_an_unknown_level():
    with pytest.raises(InvalidInput) as exc:
        split(load_region("chongqing"), quote(line("BZ"), hosp_lv="9"))
    assert exc.value.details["field"] == "hosp_lv"


def test_wholly_selfpaid_sale_needs_no_hospital_level():
    s = split(load_region("chongqing"), quote(line("BZ", eligible=False, reasons=("NO_FILING",))))
    assert s.psn_cash_pay == D("1000.00")


# --- steps 7–8: basic fund, capped by the annual limit ----------------------------------------------------------------

@pytest.mark.parametrize("ratio, price, fund_paid, hifp", [
    ("0.80", "1000.00", "0", "800.00"),
    ("0.70", "0.05", "0", "0.04"),            # 0.035 → 0.04
    ("0.60", "0.01", "0", "0.01"),            # 0.006 → 0.01
    ("0.80", "1000.00", "299900", "100.00"),  # the annual cap is reached in the middle of this sale
    ("0.80", "1000.00", "300000", "0.00"),
    ("0.80", "1000.00", "350000", "0.00"),    # ytd above the cap never gives a negative share
    ("0", "1000.00", "0", "0.00"),
    ("1", "1000.00", "0", "1000.00"),
])
def test_step8_basic_fund_share_capped_by_the_rest_of_the_annual_limit(ratio, price, fund_paid, hifp):
    p = policy(ratio={"310": ratio}, supplementary={})
    s = split(p, quote(line("A", price, "1"), fund_paid=fund_paid))
    assert s.hifp_pay == D(hifp)


def test_chongqing_employee_ratio_is_eighty_percent_2_5_1():
    s = split(load_region("chongqing"), quote(line("BZ", "1000.00"), hosp_lv="3", deductible_paid="300"))
    assert s.hifp_pay == D("800.00")


# --- step 9: the supplementary tiers -------------------------------------------------------------------------------

@pytest.mark.parametrize("fund_paid, supp_paid, hifp, hifob", [
    ("0", "0", "800.00", "0.00"),                  # basic fund not capped: no 大额
    ("299900", "0", "100.00", "787.50"),           # over = 1000 − 100/0.8 = 875; 875 × 0.9
    ("300000", "0", "0.00", "900.00"),             # cap already used up: all of base goes on
    ("299900", "399900", "100.00", "100.00"),      # 大额 capped by its own annual limit
    ("299900", "400000", "100.00", "0.00"),
])
def test_step9_after_fund_cap_pays_part_of_what_the_capped_basic_fund_left(fund_paid, supp_paid, hifp, hifob):
    s = split(policy(), quote(line("A", "1000.00"), fund_paid=fund_paid, supplementary_paid=supp_paid))
    assert (s.hifp_pay, s.hifob_pay, s.hifmi_pay) == (D(hifp), D(hifob), D("0.00"))
    assert s.fund_pay_sumamt <= s.inscp_scp_amt


@pytest.mark.parametrize("deductible, selfpay, supp_paid, hifmi", [
    ("0", "0", "0", "0.00"),              # own 360: far below the threshold
    ("0", "14800", "0", "96.00"),         # crosses the threshold in this sale: (14800 + 360 − 15000) × 0.6
    ("0", "20000", "0", "216.00"),        # already above: all of own 360 × 0.6
    ("0", "20000", "399950", "50.00"),    # 大病 capped by its own annual limit
    ("500", "20000", "0", "396.00"),      # the deductible counts as personal share: own = 500 + 400 × 0.4
])
def test_step9_after_selfpay_threshold_pays_share_of_personal_part_above_threshold(deductible, selfpay, supp_paid,
                                                                                   hifmi):
    s = split(policy(deductible={"amount": deductible}),
              quote(line("B", "1000.00"), insutype="390", selfpay=selfpay, supplementary_paid=supp_paid))
    assert s.hifmi_pay == D(hifmi) and s.hifob_pay == D("0.00")
    assert s.fund_pay_sumamt == s.hifp_pay + s.hifmi_pay


def test_prepay_does_not_count_towards_the_serious_illness_threshold():
    # B: 100 先行自付 is outside policy scope; own = 900 − 540 = 360 only
    s = split(policy(), quote(line("B", "1000.00"), insutype="390", selfpay="14700"))
    assert s.hifmi_pay == D("36.00")  # (14700 + 360 − 15000) × 0.6


def test_no_supplementary_tier_means_no_hifob_even_when_capped():
    s = split(policy(supplementary={}), quote(line("A", "1000.00"), fund_paid="300000"))
    assert (s.hifp_pay, s.hifob_pay, s.psn_cash_pay) == (D("0.00"), D("0.00"), D("1000.00"))


# --- steps 10–12: personal part, account, cash ---------------------------------------------------------------------

@pytest.mark.parametrize("covers, acct_used, balc, acct, cash", [
    ("all", True, "1000.00", "70.00", "0.00"),
    ("in_scope", True, "1000.00", "20.00", "50.00"),   # the account never pays the wholly self-paid class C line
    ("all", True, "5.00", "5.00", "65.00"),
    ("in_scope", True, "5.00", "5.00", "65.00"),
    ("all", False, "1000.00", "0.00", "70.00"),
    ("all", True, "0.00", "0.00", "70.00"),
])
def test_step11_account_pays_first_within_what_the_policy_lets_it_cover(covers, acct_used, balc, acct, cash):
    s = split(policy(account_covers=covers),
              quote(line("A", "100.00", codg="A1"), line("C", "50.00", codg="C1"), acct_used=acct_used, balc=balc))
    assert (s.psn_part_amt, s.acct_pay, s.psn_cash_pay) == (D("70.00"), D(acct), D(cash))
    assert_invariants(s, D(balc))


def test_in_scope_account_does_not_pay_the_excess_over_the_standard():
    s = split(policy(account_covers="in_scope", price_above_standard="selfpay"),
              quote(line("A", "120.00", standard="100.00"), acct_used=True, balc="1000.00"))
    assert (s.overlmt_selfpay, s.hifp_pay, s.acct_pay, s.psn_cash_pay) == (D("20.00"), D("80.00"), D("20.00"),
                                                                            D("20.00"))


def test_multi_line_sale_mixing_categories_and_split_packs_jiangxi():
    s = split(load_region("jiangxi"), quote(
        line("A", "500.00", "0.5", codg="A1"),          # 拆零: half a pack
        line("B", "1000.00", "1", codg="B1"),
        line("C", "80.00", "2", codg="C1"),             # class C: excluded, wholly self-paid
        line("A", "300.00", "1", codg="D1", donated=True),
        acct_used=True, balc="1000.00"))
    assert [ln.line_total for ln in s.lines] == [D("250.00"), D("1000.00"), D("160.00"), D("300.00")]
    assert [ln.eligible for ln in s.lines] == [True, True, False, False]
    assert (s.medfee_sumamt, s.fulamt_ownpay_amt, s.preselfpay_amt, s.inscp_scp_amt) == (
        D("1710.00"), D("460.00"), D("100.00"), D("1150.00"))
    assert (s.hifp_pay, s.psn_part_amt, s.acct_pay, s.psn_cash_pay, s.balc) == (
        D("920.00"), D("790.00"), D("790.00"), D("0.00"), D("210.00"))
    assert_invariants(s, D("1000.00"))


# --- refusals ----------------------------------------------------------------------------------------------------

def test_unknown_insutype_is_invalid_input_naming_insutype():
    with pytest.raises(InvalidInput) as exc:
        split(policy(), quote(line("A"), insutype="999"))
    assert exc.value.details["field"] == "insutype"


def test_unknown_category_is_invalid_input_naming_the_lines_category():
    with pytest.raises(InvalidInput) as exc:
        split(policy(), quote(line("A", codg="A1"), line("Z", codg="Z1")))
    assert exc.value.details["field"] == "lines[1].category"


def test_unknown_caller_reason_code_is_invalid_input():
    with pytest.raises(InvalidInput) as exc:
        split(policy(), quote(line("A", eligible=False, reasons=("NOPE",))))
    assert exc.value.details["field"] == "lines[0].reasons[0]"
