"""The 三定 eligibility checks (docs/policies.md §2), each reason seeded against an all-good baseline.

Seeds: 000 Jiangxi 赣医保发〔2022〕2号, 001 Chongqing 渝医保发〔2021〕12号, 002 Jilin 吉医保发〔2023〕29号,
003 Shanxi 晋医保发〔2022〕4号, 004 national 医保函〔2021〕182号.
"""
from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plugin.errors import REASONS, InvalidInput
from plugin.eligibility import (
    REASON_ORDER, CatalogEntry, Filing, Patient, Prescription, RxLine, check_line, check_prescription, describe,
    find_filing, judge_line,
)

TODAY = date(2024, 6, 15)
CHONGQING = "500103"
SHANXI_YUNCHENG = "140802"


JILIN_GATES = SimpleNamespace(hospital_review=True, cross_region_review=True)   # 吉医保发〔2023〕29号 §四(一)
NO_GATES = SimpleNamespace(hospital_review=False, cross_region_review=False)


def make_policy(*, admdvs=CHONGQING, exit_transition_days=0, price_above_standard="reject", gates=JILIN_GATES):
    """A stand-in for plugin.policy.Policy with only the attributes eligibility reads. The baseline turns on
    Jilin's two gates so that every reason can be provoked; the regions without them are tested apart."""
    return SimpleNamespace(
        admdvs=admdvs,
        exit_transition_days=exit_transition_days,
        price_above_standard=price_above_standard,
        categories={"A": SimpleNamespace(pharmacy=True), "B": SimpleNamespace(pharmacy=True),
                    "C": SimpleNamespace(pharmacy=False)},
        gates=gates,
    )


PATIENT = Patient.from_mapping({"psn_no": "50000000000000000001", "insuplc_admdvs": CHONGQING})
FILING = Filing.from_mapping({
    "psn_no": PATIENT.psn_no, "generic_name": "曲妥珠单抗", "institution_code": "H50010300001", "hosp_lv": "3",
    "physicians": ["D500001", "D500002"], "begin": "2024-01-01", "end": "2024-12-31", "review": "approved",
})
ENTRY = CatalogEntry.from_mapping({
    "med_list_codg": "XL01XC032B001010101445", "generic_name": "曲妥珠单抗", "drug_name": "赫赛汀",
    "spec": "440mg", "category": "A", "payment_standard": "5500.00", "agreement_end": "2024-12-31",
    "trace_prefixes": ["8312345"],
})
RX = Prescription.from_mapping({
    "hi_rxno": "RX0001", "psn_no": PATIENT.psn_no, "institution_code": "H50010300001",
    "physician_code": "D500001", "issued_at": "2024-06-14 09:30:00", "valid_days": 3,
    "lines": [{"med_list_codg": ENTRY.med_list_codg, "qty": "1"}],
})


def check(**changes):
    """check_line on the all-good baseline with exactly the given arguments changed."""
    args = dict(patient=PATIENT, filings=[FILING], prescription=RX, entry=ENTRY, policy=make_policy(),
                price=Decimal("5500.00"), donated=False, today=TODAY)
    args.update(changes)
    return check_line(**args)


def judge(**changes):
    args = dict(patient=PATIENT, filings=[FILING], prescription=RX, entry=ENTRY, policy=make_policy(),
                price=Decimal("5500.00"), donated=False, today=TODAY)
    args.update(changes)
    return judge_line(**args)


def filing(**changes):
    return dataclasses.replace(FILING, **changes)


def rx(**changes):
    return dataclasses.replace(RX, **changes)


def entry(**changes):
    return dataclasses.replace(ENTRY, **changes)


# --- one reason at a time -----------------------------------------------------------------------------------------

def test_all_good_line_is_eligible_chongqing_4_5():
    assert check() == []


def test_drug_missing_from_catalog_says_only_not_in_catalog():
    assert check(entry=None, donated=True, filings=[]) == ["NOT_IN_CATALOG"]


def test_class_c_is_not_settled_at_pharmacy_jiangxi_2_3_1():
    assert check(entry=entry(category="C")) == ["CATEGORY_EXCLUDED"]


def test_category_unknown_to_policy_is_excluded_jiangxi_2_3_1():
    assert check(entry=entry(category="Z")) == ["CATEGORY_EXCLUDED"]


def test_agreement_ended_without_transition_is_refused_chongqing_2_6():
    assert check(entry=entry(agreement_end=date(2024, 6, 14))) == ["AGREEMENT_EXPIRED"]


def test_no_filing_for_the_generic_name_chongqing_4_1_jilin_1():
    assert check(filings=[filing(generic_name="贝伐珠单抗")]) == ["NO_FILING"]


def test_no_filing_skips_the_filing_dependent_checks_chongqing_4_5():
    assert check(filings=[], prescription=rx(physician_code="D999", institution_code="H999")) == ["NO_FILING"]


def test_filing_not_yet_valid_jilin_2():
    assert check(filings=[filing(begin=date(2024, 6, 16))]) == ["FILING_NOT_STARTED"]


def test_filing_past_its_validity_jilin_2():
    assert check(filings=[filing(end=date(2024, 6, 14))]) == ["FILING_EXPIRED"]


def test_prescription_from_another_institution_chongqing_4_3():
    assert check(prescription=rx(institution_code="H50010300999")) == ["INSTITUTION_MISMATCH"]


def test_prescriber_not_a_responsible_physician_chongqing_4_4():
    """Chongqing §四(四): 其余医师开具的相关药品处方不予报销."""
    assert check(prescription=rx(physician_code="D500999")) == ["PHYSICIAN_NOT_RESPONSIBLE"]


def test_second_responsible_physician_may_prescribe_chongqing_4_4():
    assert check(prescription=rx(physician_code="D500002")) == []


def test_attachment_2_drug_awaits_hospital_review_jilin_4_1():
    assert check(filings=[filing(review="pending")]) == ["REVIEW_PENDING"]


def test_review_not_required_is_eligible_jilin_4_1_attachment_1():
    assert check(filings=[filing(review="none")]) == []


def test_cross_province_patient_without_agency_approval_jilin_4_1():
    sichuan = Patient(PATIENT.psn_no, "510104")
    assert check(patient=sichuan) == ["CROSS_REGION_REVIEW_PENDING"]


def test_cross_province_patient_with_agency_approval_is_eligible_jilin_4_1():
    sichuan = Patient(PATIENT.psn_no, "510104")
    assert check(patient=sichuan, filings=[filing(cross_region_approved=True)]) == []


def test_patient_from_another_city_of_the_province_needs_no_approval_jilin_4_1():
    """跨省 (cross-province) needs approval; another prefecture of the same province does not."""
    patient = Patient(PATIENT.psn_no, "140802")
    assert check(patient=patient, policy=make_policy(admdvs="140100")) == []


def test_pharmacy_division_overrides_policy_division_for_cross_region_jilin_4_1():
    assert check(pharmacy_admdvs="220102") == ["CROSS_REGION_REVIEW_PENDING"]


def test_regions_without_jilins_gates_neither_wait_for_review_nor_for_cross_province_approval_chongqing():
    """Only 吉医保发〔2023〕29号 §四(一) makes these two checks; 渝医保发〔2021〕12号 and 赣医保发〔2022〕2号 do not."""
    sichuan = Patient(PATIENT.psn_no, "510104")
    assert check(policy=make_policy(gates=NO_GATES), patient=sichuan, filings=[filing(review="pending")]) == []
    assert judge_line(patient=sichuan, filings=[filing(review=None, cross_region_approved=None)], prescription=RX,
                      entry=ENTRY, policy=make_policy(gates=NO_GATES), price=Decimal("5500.00"), donated=False,
                      today=TODAY).unknown == ()


def test_drug_not_on_the_prescription_national_5():
    assert check(prescription=rx(lines=(RxLine("XOTHER000", Decimal("1")),))) == ["NOT_ON_PRESCRIPTION"]


def test_prescription_of_another_patient_national_5():
    assert check(prescription=rx(psn_no="50000000000000000002")) == ["RX_PATIENT_MISMATCH"]


def test_revoked_prescription_national_5():
    assert check(prescription=rx(status="revoked")) == ["RX_REVOKED"]


def test_prescription_dispensed_already_is_not_reused_jilin_4_3():
    """Jilin §四(三) 电子处方流转 … 可追溯: one circulated prescription is dispensed once."""
    assert check(prescription=rx(status="dispensed")) == ["RX_ALREADY_DISPENSED"]


def test_prescription_marked_expired_by_platform_national_5():
    assert check(prescription=rx(status="expired")) == ["RX_EXPIRED"]


def test_price_above_payment_standard_is_refused_chongqing_5_1():
    """Chongqing §五(一): 不得以超过国家谈判约定的支付标准销售."""
    assert check(price=Decimal("5500.01")) == ["PRICE_ABOVE_STANDARD"]


def test_price_at_payment_standard_is_allowed_chongqing_5_1():
    assert check(price=Decimal("5500.00")) == [] and check(price=Decimal("5000")) == []


def test_price_above_standard_under_selfpay_is_left_to_the_split():
    assert check(price=Decimal("6000.00"), policy=make_policy(price_above_standard="selfpay")) == []


def test_donated_supply_is_not_paid_by_the_fund_jilin_2():
    """Jilin §二: 已由基金会、慈善总会等慈善机构或企业提供无偿供药的费用，医保基金不予支付."""
    assert check(donated=True) == ["DONATED_SUPPLY"]


def test_no_prescription_skips_prescription_checks():
    assert check(prescription=None) == []


def test_every_reason_in_the_order_has_a_catalogued_message():
    assert set(REASON_ORDER) <= set(REASONS)
    described = describe(["NO_FILING", "RX_EXPIRED"])
    assert [d["code"] for d in described] == ["NO_FILING", "RX_EXPIRED"]
    assert described[0]["message_zh"] == REASONS["NO_FILING"].message_zh


def test_many_faults_come_in_the_documented_order():
    codes = check(entry=entry(category="C", agreement_end=date(2024, 1, 1)),
                  filings=[filing(end=date(2024, 6, 1), review="pending")],
                  prescription=rx(institution_code="X", physician_code="Y", psn_no="Z", status="revoked",
                                  lines=(RxLine("OTHER", Decimal(1)),)),
                  patient=Patient(PATIENT.psn_no, "510104"), price=Decimal("9999"), donated=True)
    assert codes == ["CATEGORY_EXCLUDED", "AGREEMENT_EXPIRED", "FILING_EXPIRED", "INSTITUTION_MISMATCH",
                     "PHYSICIAN_NOT_RESPONSIBLE", "REVIEW_PENDING", "CROSS_REGION_REVIEW_PENDING",
                     "NOT_ON_PRESCRIPTION", "RX_PATIENT_MISMATCH", "RX_REVOKED", "PRICE_ABOVE_STANDARD",
                     "DONATED_SUPPLY"]
    assert codes == sorted(codes, key=REASON_ORDER.index)


# --- boundaries ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("today, expected", [
    (date(2024, 2, 29), ["FILING_NOT_STARTED"]),
    (date(2024, 3, 1), []),
    (date(2024, 3, 31), []),
    (date(2024, 4, 1), ["FILING_EXPIRED"]),
])
def test_filing_begin_and_end_days_are_inclusive_jilin_2(today, expected):
    one_month = filing(begin=date(2024, 3, 1), end=date(2024, 3, 31))
    assert check(filings=[one_month], today=today, prescription=None) == expected


@pytest.mark.parametrize("days_after, expected", [(0, []), (89, []), (90, []), (91, ["AGREEMENT_EXPIRED"])])
def test_shanxi_exit_transition_of_90_days_still_settles_on_day_90_shanxi_1_3(days_after, expected):
    """Shanxi §一(三): 退出的特药设置3个月左右的过渡期 (90 days in the Shanxi policy file)."""
    end = date(2024, 3, 31)
    today = end + timedelta(days=days_after)
    wide = filing(begin=date(2024, 1, 1), end=date(2025, 12, 31))
    shanxi = make_policy(admdvs=SHANXI_YUNCHENG, exit_transition_days=90)
    patient = Patient(PATIENT.psn_no, SHANXI_YUNCHENG)
    assert check(entry=entry(agreement_end=end), policy=shanxi, patient=patient, filings=[wide], today=today,
                 prescription=None) == expected


@pytest.mark.parametrize("today, expected", [(date(2024, 6, 15), []), (date(2024, 6, 16), ["AGREEMENT_EXPIRED"])])
def test_chongqing_cover_stops_the_day_after_the_agreement_ends_chongqing_2_6(today, expected):
    """Chongqing §二(六): 未成功续约 … 则停止其国谈门诊保障用药机制 — no transition."""
    assert check(entry=entry(agreement_end=date(2024, 6, 15)), today=today, prescription=None) == expected


@pytest.mark.parametrize("today, expected", [(date(2024, 7, 31), []), (date(2024, 8, 1), ["AGREEMENT_EXPIRED"])])
def test_catalogue_transition_end_overrides_policy_days_shanxi_1_3(today, expected):
    with_end = entry(agreement_end=date(2024, 6, 30), transition_end=date(2024, 7, 31))
    long_policy = make_policy(exit_transition_days=365)
    assert check(entry=with_end, policy=long_policy, today=today, prescription=None) == expected


def test_agreement_without_end_date_never_expires():
    assert check(entry=entry(agreement_end=None), today=date(2099, 1, 1),
                 filings=[filing(end=date(2099, 12, 31))], prescription=None) == []


@pytest.mark.parametrize("today, expected", [
    (date(2024, 6, 1), []), (date(2024, 6, 3), []), (date(2024, 6, 4), ["RX_EXPIRED"]),
])
def test_three_day_prescription_is_valid_on_issue_day_and_two_more_national_5(today, expected):
    three_day = rx(issued_at=datetime(2024, 6, 1, 23, 59, 59), valid_days=3)
    assert check_prescription(PATIENT, three_day, today) == expected


def test_one_day_prescription_is_valid_only_on_its_issue_day_national_5():
    one_day = rx(issued_at=datetime(2024, 6, 1, 8, 0), valid_days=1)
    assert check_prescription(PATIENT, one_day, date(2024, 6, 1)) == []
    assert check_prescription(PATIENT, one_day, date(2024, 6, 2)) == ["RX_EXPIRED"]


# --- finding the filing -------------------------------------------------------------------------------------------

def test_first_filing_is_recognised_province_wide_jiangxi_2_4_5():
    """Jiangxi §二(四)5 "首次备案，全省互认": a filing made at a Nanchang hospital serves a Ganzhou pharmacy."""
    nanchang = filing(institution_code="H36010200001")
    patient = Patient(PATIENT.psn_no, "360102")
    ganzhou = make_policy(admdvs="360702")
    prescription = rx(institution_code="H36010200001")
    assert find_filing([nanchang], "曲妥珠单抗", TODAY) == nanchang
    assert check(filings=[nanchang], patient=patient, policy=ganzhou, prescription=prescription,
                 pharmacy_admdvs="360703") == []


def test_filing_matches_by_generic_name_not_brand_jilin_1():
    """Jilin §一 通用名管理: a biosimilar with another brand name is covered by the same filing."""
    biosimilar = entry(med_list_codg="XL01XC032B002", drug_name="汉曲优")
    assert check(entry=biosimilar, prescription=None) == []


def test_generic_name_match_ignores_full_width_and_spaces():
    bracketed = filing(generic_name="注射用 曲妥珠单抗（Ⅱ）")
    assert find_filing([bracketed], "注射用曲妥珠单抗(Ⅱ)", TODAY) == bracketed


def test_valid_filing_is_preferred_to_an_expired_one():
    old = filing(begin=date(2023, 1, 1), end=date(2023, 12, 31), institution_code="OLD")
    assert find_filing([old, FILING], "曲妥珠单抗", TODAY) == FILING
    assert find_filing([FILING, old], "曲妥珠单抗", TODAY) == FILING


def test_after_a_change_of_hospital_the_latest_filing_wins_chongqing_4_3():
    new = filing(begin=date(2024, 6, 1), institution_code="NEW")
    assert find_filing([FILING, new], "曲妥珠单抗", TODAY) == new


def test_without_a_current_filing_the_upcoming_one_explains_the_refusal():
    old = filing(begin=date(2023, 1, 1), end=date(2023, 12, 31))
    upcoming = filing(begin=date(2024, 7, 1), end=date(2025, 6, 30))
    assert find_filing([old, upcoming], "曲妥珠单抗", TODAY) == upcoming
    assert find_filing([old], "曲妥珠单抗", TODAY) == old
    assert check(filings=[old, upcoming]) == ["FILING_NOT_STARTED"]


def test_of_two_upcoming_filings_the_sooner_one_is_named():
    sooner = filing(begin=date(2024, 7, 1), end=date(2024, 12, 31))
    later = filing(begin=date(2024, 9, 1), end=date(2025, 6, 30))
    assert find_filing([later, sooner], "曲妥珠单抗", TODAY) == sooner


def test_no_filing_of_that_name_is_none():
    assert find_filing([FILING], "贝伐珠单抗", TODAY) is None
    assert find_filing([], "曲妥珠单抗", TODAY) is None


# --- reading JSON -------------------------------------------------------------------------------------------------

def _field(excinfo) -> str:
    return excinfo.value.details["field"]


FILING_JSON = {"psn_no": "P1", "generic_name": "曲妥珠单抗", "institution_code": "H1", "hosp_lv": "3",
               "physicians": ["D1"], "begin": "2024-01-01", "end": "2024-12-31", "review": "none"}
RX_JSON = {"hi_rxno": "R1", "psn_no": "P1", "institution_code": "H1", "physician_code": "D1",
           "issued_at": "2024-06-14T09:30:00+08:00", "valid_days": 3, "lines": [{"med_list_codg": "X", "qty": 2}]}
CATALOG_JSON = {"med_list_codg": "X", "generic_name": "g", "drug_name": "d", "spec": "s", "category": "A",
                "payment_standard": 5500, "agreement_end": "2024-12-31", "trace_prefixes": ["8312345"]}


def test_from_mapping_reads_the_sandbox_shapes():
    f = Filing.from_mapping(FILING_JSON)
    assert (f.begin, f.end, f.physicians, f.cross_region_approved) == (date(2024, 1, 1), date(2024, 12, 31),
                                                                      ("D1",), False)
    p = Prescription.from_mapping(RX_JSON)
    assert p.status == "valid" and p.lines == (RxLine("X", Decimal("2")),) and p.issued_at.date() == date(2024, 6, 14)
    assert Prescription.from_mapping({**RX_JSON, "issued_at": "2024-06-14 09:30:00"}).issued_at == \
        datetime(2024, 6, 14, 9, 30)
    c = CatalogEntry.from_mapping({**CATALOG_JSON, "payment_standard": 0.1, "split_units": 10})
    assert c.payment_standard == Decimal("0.1") and c.transition_end is None and c.gtins == () and c.split_units == 10
    assert isinstance(CatalogEntry.from_mapping(CATALOG_JSON).payment_standard, Decimal)


def test_filing_from_the_insurer_without_level_or_physicians_is_read_not_rejected_chongqing_4_4():
    """5301 carries no hosp_lv; a filing naming no responsible physician refuses every prescriber per line."""
    bare = Filing.from_mapping({**{k: v for k, v in FILING_JSON.items() if k != "hosp_lv"}, "physicians": []})
    assert bare.hosp_lv is None and bare.physicians == ()
    assert check(filings=[dataclasses.replace(bare, generic_name="曲妥珠单抗", institution_code=RX.institution_code)]) \
        == ["PHYSICIAN_NOT_RESPONSIBLE"]


def test_prescription_validity_counted_from_platform_end_time_when_days_missing_national_5():
    p = Prescription.from_mapping({**RX_JSON, "valid_days": 0, "issued_at": "2024-06-01 10:00:00",
                                   "valid_end_time": "2024-06-03 23:59:59"})
    assert p.valid_days == 3
    assert check_prescription(Patient("P1", CHONGQING), p, date(2024, 6, 3)) == []
    assert check_prescription(Patient("P1", CHONGQING), p, date(2024, 6, 4)) == ["RX_EXPIRED"]


def test_prescription_without_prescriber_code_leaves_the_physician_rule_to_the_insurer_chongqing_4_4():
    """7203 names the prescriber but carries no prescriber code: the responsible-physician rule (渝医保发〔2021〕12号
    §四(四)) cannot be decided at the counter, so it is unknown — never a refusal for missing data."""
    unnamed = Prescription.from_mapping({k: v for k, v in RX_JSON.items() if k != "physician_code"})
    assert unnamed.physician_code is None
    line = dict(prescription=dataclasses.replace(unnamed, psn_no=PATIENT.psn_no, institution_code=RX.institution_code,
                                                 lines=RX.lines, issued_at=RX.issued_at))
    assert check(**line) == []
    assert "PHYSICIAN_NOT_RESPONSIBLE" in judge(**line).unknown


def test_patient_reads_a_1101_answer():
    answer = {"baseinfo": {"psn_no": "P9", "psn_name": "张三"},
              "insuinfo": [{"insutype": "310", "insuplc_admdvs": "500103", "balc": "50.00"}]}
    assert Patient.from_mapping(answer) == Patient("P9", "500103")


@pytest.mark.parametrize("cls, good, key, bad", [
    (Filing, FILING_JSON, "begin", "2024-02-30"),
    (Filing, FILING_JSON, "end", "31/12/2024"),
    (Filing, FILING_JSON, "end", "2023-12-31"),  # before begin
    (Filing, FILING_JSON, "review", "maybe"),
    (Filing, FILING_JSON, "physicians", ["D1", ""]),
    (Filing, FILING_JSON, "cross_region_approved", "yes"),
    (Prescription, RX_JSON, "issued_at", "yesterday"),
    (Prescription, RX_JSON, "valid_days", 0),
    (Prescription, RX_JSON, "status", "used"),
    (Prescription, RX_JSON, "lines", []),
    (CatalogEntry, CATALOG_JSON, "payment_standard", "abc"),
    (CatalogEntry, CATALOG_JSON, "payment_standard", "-1"),
    (CatalogEntry, CATALOG_JSON, "agreement_end", "2024-13-01"),
    (CatalogEntry, CATALOG_JSON, "transition_end", "2024-01-01"),  # before agreement_end
    (Patient, {"psn_no": "P1", "insuplc_admdvs": "500103"}, "insuplc_admdvs", "5001"),
])
def test_from_mapping_rejects_bad_values_naming_the_field(cls, good, key, bad):
    with pytest.raises(InvalidInput) as excinfo:
        cls.from_mapping({**good, key: bad})
    assert _field(excinfo) == key and excinfo.value.code == "INVALID_INPUT"


@pytest.mark.parametrize("cls, good, key", [
    (Filing, FILING_JSON, "begin"), (Prescription, RX_JSON, "issued_at"), (Prescription, RX_JSON, "psn_no"),
    (CatalogEntry, CATALOG_JSON, "payment_standard"),
    (Patient, {"psn_no": "P1", "insuplc_admdvs": "500103"}, "psn_no"),
])
def test_from_mapping_names_a_missing_field(cls, good, key):
    with pytest.raises(InvalidInput) as excinfo:
        cls.from_mapping({k: v for k, v in good.items() if k != key})
    assert _field(excinfo) == key


def test_bad_prescription_line_is_named_by_index():
    with pytest.raises(InvalidInput) as excinfo:
        Prescription.from_mapping({**RX_JSON, "lines": [{"med_list_codg": "X", "qty": 1},
                                                         {"med_list_codg": "Y", "qty": "0"}]})
    assert _field(excinfo) == "lines[1].qty"


def test_from_mapping_rejects_a_non_object():
    with pytest.raises(InvalidInput):
        Filing.from_mapping(["not", "an", "object"])


# --- property -----------------------------------------------------------------------------------------------------

dates = st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31))


@settings(max_examples=300, deadline=None)
@given(today=dates, begin=dates, end=dates, agreement_end=st.none() | dates, transition_end=st.none() | dates,
       issued=dates, valid_days=st.integers(0, 400), transition_days=st.integers(0, 400),
       with_rx=st.booleans(), price=st.decimals(min_value=0, max_value=100000, places=2),
       donated=st.booleans(), review=st.sampled_from(["none", "pending", "approved"]),
       admdvs=st.sampled_from([CHONGQING, "510104", "360102"]))
def test_check_line_never_raises_and_reports_in_order(today, begin, end, agreement_end, transition_end, issued,
                                                      valid_days, transition_days, with_rx, price, donated,
                                                      review, admdvs):
    prescription = rx(issued_at=datetime.combine(issued, datetime.min.time()), valid_days=valid_days) \
        if with_rx else None
    codes = check(today=today, filings=[filing(begin=begin, end=end, review=review)], prescription=prescription,
                  entry=entry(agreement_end=agreement_end, transition_end=transition_end), price=price,
                  donated=donated, patient=Patient(PATIENT.psn_no, admdvs),
                  policy=make_policy(exit_transition_days=transition_days))
    assert codes == sorted(set(codes), key=REASON_ORDER.index)
    assert ("FILING_NOT_STARTED" in codes) == (today < begin)
    assert ("FILING_EXPIRED" in codes) == (begin <= today and today > end)
    assert ("DONATED_SUPPLY" in codes) == donated


# --- what the counter can decide from real data, and what it leaves to the insurer ---------------------------------
# The gateway's 5301 answers a filing's disease and dates only; 7203 names the prescriber without a code; the
# drug's category and payment standard come from the province's list (docs/data-sources.md).

FILING_5301 = Filing.from_mapping({"opsp_dise_code": "M00500", "opsp_dise_name": "恶性肿瘤门诊治疗",
                                   "begin": "2024-01-01", "end": "2024-12-31"})
RX_FOR_M00500 = dataclasses.replace(RX, physician_code=None, disease_code="M00500")


def test_a_5301_filing_for_the_prescriptions_disease_is_matched_and_the_rest_left_to_the_insurer_chongqing_4():
    verdict = judge(filings=[FILING_5301], prescription=RX_FOR_M00500)
    assert verdict.reasons == ()
    assert verdict.unknown == ("INSTITUTION_MISMATCH", "PHYSICIAN_NOT_RESPONSIBLE", "REVIEW_PENDING")


def test_no_filing_for_the_prescriptions_disease_is_certain_chongqing_4_1():
    other = dataclasses.replace(FILING_5301, disease_code="M03900")
    assert judge(filings=[other], prescription=RX_FOR_M00500).reasons == ("NO_FILING",)
    assert judge(filings=[], prescription=RX_FOR_M00500).reasons == ("NO_FILING",)


def test_an_expired_5301_filing_is_certain_jilin_2():
    assert judge(filings=[dataclasses.replace(FILING_5301, end=date(2024, 6, 1))],
                 prescription=RX_FOR_M00500).reasons == ("FILING_EXPIRED",)


def test_without_the_prescriptions_disease_the_filing_rule_is_unknown_not_refused():
    verdict = judge(filings=[FILING_5301], prescription=dataclasses.replace(RX_FOR_M00500, disease_code=""))
    assert verdict.reasons == () and "NO_FILING" in verdict.unknown


def test_the_5302_registrations_decide_the_designated_institution_chongqing_4_3():
    assert judge(filings=[FILING_5301], prescription=RX_FOR_M00500,
                 registrations=("H50010300001",)).unknown == ("PHYSICIAN_NOT_RESPONSIBLE", "REVIEW_PENDING")
    assert judge(filings=[FILING_5301], prescription=RX_FOR_M00500,
                 registrations=("H99999999999",)).reasons == ("INSTITUTION_MISMATCH",)


def test_a_drug_absent_from_the_imported_list_is_not_in_the_catalogue_and_without_a_list_left_to_the_insurer():
    assert judge(entry=None).reasons == ("NOT_IN_CATALOG",)
    verdict = judge(entry=None, list_known=False)
    assert verdict.reasons == () and {"CATEGORY_EXCLUDED", "AGREEMENT_EXPIRED", "PRICE_ABOVE_STANDARD"} <= \
        set(verdict.unknown)


def test_when_the_insurer_was_not_asked_for_filings_the_filing_rule_is_unknown():
    assert judge(filings=None).unknown == ("NO_FILING",)
