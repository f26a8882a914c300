"""The shipped region policy files (config/policies/*.toml): every number a seed fixes, pinned to its section, and
every value no seed fixes marked ``# illustrative`` (docs/configuration.md)."""
from __future__ import annotations

import re
from decimal import Decimal as D

import pytest

from plugin.policy import (Policy, QuoteLine, QuoteRequest, Ytd, list_regions, load_region, policy_from_mapping,
                           split)
from plugin.policy.load import policies_dir

REGIONS = ["chongqing", "jiangxi", "jilin", "national", "shanxi"]


def test_every_shipped_region_is_listed():
    assert set(REGIONS) <= set(list_regions())


@pytest.mark.parametrize("region", REGIONS)
def test_every_shipped_region_file_loads_and_round_trips_through_its_mapping(region):
    p = load_region(region)
    assert isinstance(p, Policy) and p.region == region and p.source
    assert policy_from_mapping(p.to_mapping(), source=f"{region}.json") == p


@pytest.mark.parametrize("region", REGIONS)
def test_every_value_either_cites_its_seed_section_or_says_illustrative(region):
    text = (policies_dir() / f"{region}.toml").read_text(encoding="utf-8")
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#") or line.startswith("["):
            continue
        assert "#" in line, f"{region}.toml:{number}: a value without a comment: {line}"
        comment = line.split("#", 1)[1].strip()
        assert comment == "illustrative" or "§" in comment or comment.startswith("seed "), (
            f"{region}.toml:{number}: comment neither cites a section nor says illustrative: {line}")


def q(category, price="1000.00", insutype="310", hosp_lv=None, **ytd):
    return QuoteRequest(insutype=insutype, hosp_lv=hosp_lv, ytd=Ytd(**{k: D(v) for k, v in ytd.items()}),
                        lines=[QuoteLine("X", category, D(price), D("1"), D(price))])


# --- 赣医保发〔2022〕2号 (seed 000) -----------------------------------------------------------------------------------

def test_class_a_has_no_prepay_and_no_deductible_jiangxi_2_3_3():
    p = load_region("jiangxi")
    assert p.categories["A"].prepay_ratio == 0 and p.deductible.amount == 0 and p.deductible.by_level is None
    s = split(p, q("A"))
    assert (s.preselfpay_amt, s.act_pay_dedc, s.inscp_scp_amt) == (D("0.00"), D("0.00"), D("1000.00"))


def test_class_b_prepays_ten_percent_jiangxi_2_3_3():
    p = load_region("jiangxi")
    assert p.categories["B"].prepay_ratio == D("0.10")
    s = split(p, q("B"))
    assert (s.preselfpay_amt, s.act_pay_dedc) == (D("100.00"), D("0.00"))


def test_class_c_is_not_settled_at_a_pharmacy_jiangxi_2_3_1():
    p = load_region("jiangxi")
    assert p.categories["C"].pharmacy is False and p.categories["A"].pharmacy and p.categories["B"].pharmacy
    s = split(p, q("C"))
    assert s.fund_pay_sumamt == D("0.00") and [r["code"] for r in s.lines[0].reasons] == ["CATEGORY_EXCLUDED"]


# --- 渝医保发〔2021〕12号 (seed 001) ----------------------------------------------------------------------------------

def test_employee_ratio_is_eighty_percent_chongqing_2_5_1():
    assert load_region("chongqing").ratio["310"] == D("0.80")


def test_deductible_is_by_designated_hospital_level_once_a_year_chongqing_2_4():
    p = load_region("chongqing")
    assert p.deductible.by_level is not None and set(p.deductible.by_level) >= {"1", "2", "3"}
    first = split(p, q("BZ", hosp_lv="2"))
    later = split(p, q("BZ", hosp_lv="2", deductible_paid=str(p.deductible.by_level["2"])))
    assert first.act_pay_dedc == p.deductible.by_level["2"] and later.act_pay_dedc == D("0.00")


def test_both_national_negotiated_scopes_settle_at_pharmacies_chongqing_2_2_and_3_2():
    p = load_region("chongqing")
    assert {"TB", "BZ"} <= set(p.categories) and p.categories["TB"].pharmacy and p.categories["BZ"].pharmacy


def test_settling_stops_when_the_agreement_ends_chongqing_2_6():
    assert load_region("chongqing").exit_transition_days == 0


def test_selling_above_the_payment_standard_is_refused_chongqing_5_1():
    assert load_region("chongqing").price_above_standard == "reject"


def test_employees_go_to_large_amount_and_residents_to_serious_illness_chongqing_2_5():
    p = load_region("chongqing")
    assert p.supplementary["310"].kind == "after_fund_cap"
    assert p.supplementary["390"].kind == "after_selfpay_threshold"


# --- 吉医保发〔2023〕29号 (seed 002) ----------------------------------------------------------------------------------

def test_one_deductible_per_natural_year_jilin_2():
    p = load_region("jilin")
    amount = p.deductible.amount
    assert amount > 0 and p.deductible.by_level is None
    assert split(p, q("F1")).act_pay_dedc == amount
    assert split(p, q("F1", deductible_paid=str(amount))).act_pay_dedc == D("0.00")


def test_personal_account_pays_first_for_the_whole_personal_part_jilin_2():
    p = load_region("jilin")
    assert p.account_covers == "all"
    s = split(p, QuoteRequest(insutype="310", acct_used=True, balc=D("100000.00"),
                              lines=[QuoteLine("X", "F2", D("1000.00"), D("1"), D("1000.00"))]))
    assert s.psn_cash_pay == D("0.00") and s.acct_pay == s.psn_part_amt


def test_attachment_one_and_two_drugs_are_categories_jilin_4_1():
    p = load_region("jilin")
    assert {"F1", "F2"} <= set(p.categories)


def test_donated_supply_is_not_paid_by_the_fund_jilin_2():
    s = split(load_region("jilin"), QuoteRequest(insutype="310", lines=[
        QuoteLine("X", "F1", D("1000.00"), D("1"), D("1000.00"), donated=True)]))
    assert s.fund_pay_sumamt == D("0.00") and s.lines[0].reasons[0]["code"] == "DONATED_SUPPLY"


# --- 晋医保发〔2022〕4号 (seed 003), 医保函〔2021〕182号 (seed 004) ---------------------------------------------------

def test_withdrawn_special_drug_keeps_about_three_months_transition_shanxi_1_3():
    assert load_region("shanxi").exit_transition_days == 90


def test_national_file_names_its_source_national():
    p = load_region("national")
    assert p.source == "医保函〔2021〕182号" and all(r.pharmacy for r in p.categories.values())


@pytest.mark.parametrize("region, source", [
    ("jiangxi", "赣医保发〔2022〕2号"), ("chongqing", "渝医保发〔2021〕12号"), ("jilin", "吉医保发〔2023〕29号"),
    ("shanxi", "晋医保发〔2022〕4号"), ("national", "医保函〔2021〕182号")])
def test_each_file_names_its_source_document(region, source):
    assert load_region(region).source == source
    assert re.fullmatch(r"\d{6}", load_region(region).admdvs)
