"""The local estimate beside the insurer's split (issue 4), end to end.

Presettle (2101) and settle (2102) answers carry `split` (the insurer's numbers), `estimate` (rxlane's own
computation with the same policy engine, docs/policies.md §3) and `mismatch` (the fields that differ, both
values). When the two disagree the insurer's numbers are what is settled and collected — never silently
corrected — and the disagreement is written to the audit table (`estimate_mismatch`).
"""
from __future__ import annotations

import json
from decimal import Decimal

import pytest
from click.testing import CliRunner

from plugin.cli import main as rxlane
from plugin.money import SPLIT_FIELDS
from plugin.policy import load_region
from tests.e2e.conftest import assert_invariant
from tests.e2e.seeding import create_sale, identify, running_counter, sale_body, seed_case, settlements_of

LINE_MONEY = ("line_total", "fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt")
# 奥希替尼-like class A box and a 司库奇尤单抗-like class B injection ×2 (prices are the demo catalogue's)
A_AND_B = [({"category": "A", "payment_standard": "4837.00"}, "1"),
           ({"category": "B", "payment_standard": "598.00"}, "2")]


@pytest.fixture(scope="module")
def counter(tmp_path_factory):
    """Sandbox and rxlane both on the shipped Jiangxi policy (the same policy: estimates must agree)."""
    with running_counter(tmp_path_factory.mktemp("estimate")) as c:
        yield c


def test_estimate_equals_the_insurer_split_when_both_use_the_same_policy(counter):
    """Same policy, same accumulators: every split field and every line amount agrees at presettle and at settle,
    and no estimate_mismatch is audited (class A no pre-pay, class B 10 % pre-pay, 赣医保发〔2022〕2号 §二(三)3)."""
    c = counter
    case = seed_case(c.sandbox, lines=A_AND_B, person={"balc": "300.00"}, store=c.svc)
    sale = create_sale(c.http, sale_body(identify(c.http, case.person), case))
    for step in ("presettle", "settle"):
        r = c.http.post(f"/v1/sales/{sale['id']}/{step}")
        assert r.status_code == 200, r.text
        answer = r.json()
        assert answer["mismatch"] == []
        assert {k: answer["split"][k] for k in SPLIT_FIELDS} == {k: answer["estimate"][k] for k in SPLIT_FIELDS}
        assert [{k: ln[k] for k in LINE_MONEY} for ln in answer["split"]["lines"]] == \
               [{k: ln[k] for k in LINE_MONEY} for ln in answer["estimate"]["lines"]]
        assert answer["split"]["preselfpay_amt"] == "119.60"      # 10 % of 2 × 598.00 (class B only)
        assert_invariant(answer["split"])
    assert c.svc.ledger.query("SELECT * FROM audit WHERE kind = 'estimate_mismatch' AND sale_id = ?",
                              (sale["id"],)) == []


def test_insurer_on_another_ratio_is_flagged_audited_and_its_numbers_are_settled(service_factory, sandbox_http):
    """The insurer adjudicates employees (310) at 0.70 while the store's Jiangxi policy file says 0.80: presettle
    and settle both list the differing fields with both values, each step writes an estimate_mismatch audit row,
    and what is settled — and what the POS collects — is the insurer's split, to the fen, as in its books."""
    mapping = load_region("jiangxi").to_mapping()
    mapping["ratio"]["310"] = "0.70"
    assert sandbox_http.put("/sandbox/policy", mapping).status_code == 200
    svc, http = service_factory()
    case = seed_case(sandbox_http, person={"balc": "100.00"}, store=svc)       # class A, 1000.00, account 100.00
    sale = create_sale(http, sale_body(identify(http, case.person), case))
    # insurer: fund 700.00, account 100.00, cash 200.00 — estimate (0.80): fund 800.00, account 100.00, cash 100.00
    expected = {"hifp_pay": ("700.00", "800.00"), "fund_pay_sumamt": ("700.00", "800.00"),
                "psn_part_amt": ("300.00", "200.00"), "psn_cash_pay": ("200.00", "100.00")}
    for step in ("presettle", "settle"):
        r = http.post(f"/v1/sales/{sale['id']}/{step}")
        assert r.status_code == 200, r.text
        answer = r.json()
        assert {m["field"]: (m["insurer"], m["estimate"]) for m in answer["mismatch"]} == expected
        assert all(answer["split"][f] == ins and answer["estimate"][f] == est for f, (ins, est) in expected.items())
        assert_invariant(answer["split"])
        assert_invariant(answer["estimate"])
    done = answer
    assert done["state"] == "settled" and done["psn_cash_pay"] == "200.00"
    [theirs] = settlements_of(sandbox_http, case.person["psn_no"])
    assert {k: theirs[k] for k in SPLIT_FIELDS} == {k: done["split"][k] for k in SPLIT_FIELDS}
    stored = http.get(f"/v1/sales/{sale['id']}").json()
    assert stored["split"]["hifp_pay"] == "700.00" and stored["psn_cash_pay"] == "200.00"
    assert stored["estimate"]["hifp_pay"] == "800.00" and stored["mismatch"] == done["mismatch"]
    audited = svc.ledger.query("SELECT * FROM audit WHERE kind = 'estimate_mismatch'")
    assert [r["sale_id"] for r in audited] == [sale["id"], sale["id"]]
    details = [json.loads(r["detail_json"]) for r in audited]
    assert [d["step"] for d in details] == ["2101", "2102"]
    assert all({m["field"] for m in d["mismatch"]} == set(expected) for d in details)


def _quote(case, insutype: str) -> dict:
    """`rxlane policy quote` for the same sale: same person (balance, insurer's year-to-date), same lines."""
    p = case.person
    body = {"insutype": insutype, "hosp_lv": "3", "acct_used": True, "balc": p["balc"], "ytd": p["ytd"],
            "lines": [{"med_list_codg": d["med_list_codg"], "category": d["category"], "price": d["payment_standard"],
                       "qty": q, "payment_standard": d["payment_standard"]}
                      for d, q in zip(case.drugs, case.qtys, strict=True)]}
    result = CliRunner().invoke(rxlane, ["policy", "quote", "--region", "jiangxi"], input=json.dumps(body))
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.mark.parametrize("insutype, ytd, tier", [
    # employee near the basic fund's annual cap (300000): the rest goes to 大额医保 (docs/policies.md §3 step 9)
    ("310", {"deductible_paid": "0", "fund_paid": "299000.00", "selfpay": "0", "supplementary_paid": "0"},
     "hifob_pay"),
    # resident near the 大病 threshold (15000): the personal share above it goes to 大病保险
    # (赣医保发〔2022〕2号 §二(三)3)
    ("390", {"deductible_paid": "0", "fund_paid": "0", "selfpay": "14500.00", "supplementary_paid": "0"},
     "hifmi_pay"),
])
def test_sandbox_settlement_equals_policy_quote_for_a_mixed_a_b_sale(counter, insutype, ytd, tier):
    """The insurer's books for a class A + class B sale equal `rxlane policy quote --region jiangxi` on the same
    input, field by field and line by line — the sandbox, the local estimate and the offline quote are one rule
    set (docs/policies.md §3). Each person is seeded near a supplementary tier so step 9 is exercised too."""
    c = counter
    case = seed_case(c.sandbox, lines=A_AND_B, person={"insutype": insutype, "balc": "300.00", "ytd": ytd},
                     store=c.svc)
    sale = create_sale(c.http, sale_body(identify(c.http, case.person), case))
    r = c.http.post(f"/v1/sales/{sale['id']}/settle")
    assert r.status_code == 200, r.text
    quoted = _quote(case, insutype)
    assert Decimal(quoted[tier]) > 0
    [theirs] = settlements_of(c.sandbox, case.person["psn_no"])
    assert {k: theirs[k] for k in SPLIT_FIELDS} == {k: quoted[k] for k in SPLIT_FIELDS}
    assert [{k: ln[k] for k in LINE_MONEY} for ln in theirs["lines"]] == \
           [{k: ln[k] for k in LINE_MONEY} for ln in quoted["lines"]]
    assert {k: r.json()["split"][k] for k in SPLIT_FIELDS} == {k: quoted[k] for k in SPLIT_FIELDS}
    assert r.json()["mismatch"] == []


LEVEL_2_HOSPITAL = "H36010400201"     # the demo register's level-2 hospital (1201 answers 医院等级 "05", 二级甲等)


@pytest.mark.parametrize("asks_1201", [True, False])
def test_chongqing_deductible_by_the_prescribing_hospitals_level_from_1201(tmp_path, asks_1201):
    """渝医保发〔2021〕12号 §二(四)1: the deductible is the designated hospital's 门诊特病 deductible by its level,
    which no pharmacy transaction carries. rxlane asks 1201 for the prescribing institution's 医院等级 and maps it
    through the gateway profile's ``[hosp_lv]``: the estimate then equals the insurer's split and is complete. Where the
    profile does not ask, the highest level is assumed and the estimate says ``hosp_lv`` is incomplete — the patient
    pays the insurer's split either way."""
    from plugin.institutions import InstitutionLevels
    with running_counter(tmp_path, policy="chongqing",
                         store={"region": "chongqing", "admdvs": "500103", "fixmedins_code": "P50010300001",
                                "fixmedins_name": "示例大药房（渝中店）"}) as c:
        if not asks_1201:
            c.svc.sales.levels = InstitutionLevels(c.svc.upstream, {})
        case = seed_case(c.sandbox, store=c.svc, person={"insuplc_admdvs": "500103"}, drug={"category": "TB"},
                         filing={"institution_code": LEVEL_2_HOSPITAL, "hosp_lv": "2"},
                         rx={"institution_code": LEVEL_2_HOSPITAL})
        sale = create_sale(c.http, sale_body(identify(c.http, case.person), case))
        answer = c.http.post(f"/v1/sales/{sale['id']}/presettle").json()
        by_level = load_region("chongqing").deductible.by_level
        if asks_1201:
            assert "hosp_lv" not in answer["estimate"]["incomplete"]
            assert answer["mismatch"] == []
            assert Decimal(answer["split"]["fund_pay_sumamt"]) == Decimal(answer["estimate"]["fund_pay_sumamt"])
            c.http.post(f"/v1/sales/{sale['id']}/presettle")
            asked = [m for m in c.sandbox.get("/sandbox/messages").json()["messages"] if m["infno"] == "1201"]
            assert len(asked) == 1                          # the level is kept: asked once, not per sale
        else:
            assert "hosp_lv" in answer["estimate"]["incomplete"]
            assert by_level["3"] > by_level["2"]            # assumed the highest: the estimate asks for more
            assert Decimal(answer["estimate"]["fund_pay_sumamt"]) < Decimal(answer["split"]["fund_pay_sumamt"])
        assert_invariant(answer["split"])
