"""Properties of the split that must hold for every accepted input (docs/policies.md §3, STYLE "Pure rules"):
the money invariant to the fen, the fund share equal to the sum of the funds, nothing negative, the fund never
above the in-scope amount, the account never above the balance, and hifp monotone in the basic-fund ratio."""
from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from plugin.errors import RxlaneError
from plugin.policy import QuoteLine, QuoteRequest, Ytd, policy_from_mapping, split
from plugin.policy.model import SPLIT_FIELDS


def money(max_fen: int = 5_000_000) -> st.SearchStrategy[D]:
    return st.integers(0, max_fen).map(lambda f: D(f).scaleb(-2))


ratios = st.integers(0, 100).map(lambda n: D(n).scaleb(-2))
qtys = st.integers(1, 5000).map(lambda n: D(n).scaleb(-3))


@st.composite
def policies(draw):
    kind = draw(st.sampled_from([None, "after_fund_cap", "after_selfpay_threshold"]))
    sup = {}
    if kind:
        sup = {"310": {"kind": kind, "ratio": str(draw(ratios)), "cap": str(draw(money()))}}
        if kind == "after_selfpay_threshold":
            sup["310"]["threshold"] = str(draw(money()))
    deductible = ({"by_level": {"1": str(draw(money(100_000))), "2": str(draw(money(100_000)))}}
                  if draw(st.booleans()) else {"amount": str(draw(money(100_000)))})
    return policy_from_mapping({
        "region": "prop", "name": "p", "source": "hypothesis", "admdvs": "990000",
        "price_above_standard": draw(st.sampled_from(["reject", "selfpay"])),
        "account_covers": draw(st.sampled_from(["all", "in_scope"])), "exit_transition_days": 0,
        "categories": {"A": {"pharmacy": True, "prepay_ratio": str(draw(ratios))},
                       "B": {"pharmacy": True, "prepay_ratio": str(draw(ratios))},
                       "C": {"pharmacy": False}},
        "deductible": deductible,
        "ratio": {"310": str(draw(ratios))},
        "annual_cap": {"310": str(draw(money()))},
        "supplementary": sup,
    })


lines = st.builds(
    QuoteLine, med_list_codg=st.just("X"), category=st.sampled_from(["A", "B", "C"]), price=money(2_000_000),
    qty=qtys, payment_standard=money(2_000_000), eligible=st.booleans(), donated=st.booleans(),
    reasons=st.just(()))

requests = st.builds(
    QuoteRequest, insutype=st.just("310"), lines=st.lists(lines, min_size=1, max_size=6),
    acct_used=st.booleans(), balc=money(), hosp_lv=st.sampled_from(["1", "2"]),
    ytd=st.builds(Ytd, deductible_paid=money(100_000), fund_paid=money(), selfpay=money(),
                  supplementary_paid=money()))


def split_or_refusal(policy, request):
    try:
        return split(policy, request)
    except RxlaneError as err:
        # the only refusal an accepted request may meet: a reject policy and a paid line above its standard
        assert err.code == "PRICE_ABOVE_STANDARD" and policy.price_above_standard == "reject"
        return None


@settings(max_examples=400, deadline=None)
@given(policies(), requests)
def test_split_invariants_hold_for_every_accepted_input(policy, request):
    s = split_or_refusal(policy, request)
    if s is None:
        return
    assert s.fund_pay_sumamt + s.acct_pay + s.psn_cash_pay == s.medfee_sumamt
    assert s.fund_pay_sumamt == s.hifp_pay + s.hifmi_pay + s.hifob_pay + s.maf_pay + s.oth_pay
    for name in SPLIT_FIELDS:
        value = getattr(s, name)
        assert value >= 0, name
        assert value == value.quantize(D("0.01")), name
    assert s.fund_pay_sumamt <= s.inscp_scp_amt
    assert s.act_pay_dedc <= s.inscp_scp_amt
    assert s.acct_pay <= request.balc
    assert s.balc == request.balc - s.acct_pay
    assert s.medfee_sumamt == s.fulamt_ownpay_amt + s.overlmt_selfpay + s.preselfpay_amt + s.inscp_scp_amt
    for ln in s.lines:
        assert ln.line_total == ln.fulamt_ownpay_amt + ln.overlmt_selfpay + ln.preselfpay_amt + ln.inscp_scp_amt
    if policy.account_covers == "in_scope":
        assert s.acct_pay <= s.psn_part_amt - s.fulamt_ownpay_amt - s.overlmt_selfpay
    if not request.acct_used:
        assert s.acct_pay == 0


@settings(max_examples=300, deadline=None)
@given(policies(), requests, ratios, ratios)
def test_basic_fund_share_never_falls_when_the_ratio_rises(policy, request, r1, r2):
    low, high = sorted((r1, r2))
    s_low = split_or_refusal(replace(policy, ratio={"310": low}), request)
    s_high = split_or_refusal(replace(policy, ratio={"310": high}), request)
    if s_low is None:
        return
    assert s_low.hifp_pay <= s_high.hifp_pay


@settings(max_examples=200, deadline=None)
@given(policies(), requests)
def test_to_dict_is_the_split_in_two_decimal_strings(policy, request):
    s = split_or_refusal(policy, request)
    if s is None:
        return
    body = s.to_dict()
    assert list(body) == [*SPLIT_FIELDS, "lines"]
    for name in SPLIT_FIELDS:
        assert D(body[name]) == getattr(s, name) and body[name].split(".")[1].__len__() == 2
