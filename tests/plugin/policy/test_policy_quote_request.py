"""Parsing the quote JSON of docs/configuration.md (``QuoteRequest.from_mapping``): exact decimals, defaults, and a
refusal naming the field for every malformed value."""
from __future__ import annotations

import copy
import json
from decimal import Decimal as D

import pytest

from plugin.errors import InvalidInput
from plugin.policy import QuoteRequest, Ytd

GOOD = {"insutype": "310", "hosp_lv": "3", "acct_used": True, "balc": "50.00",
        "ytd": {"deductible_paid": "0", "fund_paid": "0", "selfpay": "0", "supplementary_paid": "0"},
        "lines": [{"med_list_codg": "XJ01", "category": "B", "price": "1000.00", "qty": "1",
                   "payment_standard": "1000.00", "eligible": True, "donated": False}]}


def body(**changes):
    b = copy.deepcopy(GOOD)
    for path, value in changes.items():
        target, *keys = path.split("__")
        holder = b if not keys else b["lines"][0] if target == "line" else b[target]
        key = keys[0] if keys else target
        if value is DELETE:
            holder.pop(key, None)
        else:
            holder[key] = value
    return b


DELETE = object()


def test_design_6_example_parses_to_exact_decimals():
    q = QuoteRequest.from_mapping(GOOD)
    assert (q.insutype, q.hosp_lv, q.acct_used, q.balc) == ("310", "3", True, D("50.00"))
    ln = q.lines[0]
    assert (ln.med_list_codg, ln.category, ln.price, ln.qty, ln.payment_standard, ln.eligible, ln.donated,
            ln.reasons) == ("XJ01", "B", D("1000.00"), D("1"), D("1000.00"), True, False, ())


def test_json_numbers_are_read_through_their_spelling_not_float_math():
    q = QuoteRequest.from_mapping(json.loads(
        '{"insutype": 310, "acct_used": false, "balc": 0.1, "lines": [{"med_list_codg": "X", "category": "A",'
        ' "price": 1000.1, "qty": 0.5, "payment_standard": 2000}]}'))
    assert (q.insutype, q.balc, q.lines[0].price, q.lines[0].qty, q.lines[0].payment_standard) == (
        "310", D("0.10"), D("1000.10"), D("0.5"), D("2000.00"))


def test_ytd_hosp_lv_eligible_donated_and_reasons_have_defaults():
    b = body(ytd=DELETE, hosp_lv=DELETE, line__eligible=DELETE, line__donated=DELETE)
    q = QuoteRequest.from_mapping(b)
    assert q.ytd == Ytd() and q.hosp_lv is None
    assert (q.lines[0].eligible, q.lines[0].donated, q.lines[0].reasons) == (True, False, ())


def test_partial_ytd_defaults_each_missing_key_to_zero():
    q = QuoteRequest.from_mapping(body(ytd={"fund_paid": "299900.50"}))
    assert q.ytd == Ytd(fund_paid=D("299900.50"))


def test_caller_reasons_are_kept_for_an_ineligible_line():
    q = QuoteRequest.from_mapping(body(line__eligible=False, line__reasons=["NO_FILING", "RX_EXPIRED"]))
    assert q.lines[0].reasons == ("NO_FILING", "RX_EXPIRED")


@pytest.mark.parametrize("qty", ["0.5", "0.25", "0.333", 0.5, 2])
def test_split_pack_quantities_are_accepted(qty):
    assert QuoteRequest.from_mapping(body(line__qty=qty)).lines[0].qty == D(str(qty))


@pytest.mark.parametrize("changes, field", [
    ({"line__price": "12.345"}, "lines[0].price"),            # more than 2 decimals
    ({"line__price": 12.345}, "lines[0].price"),
    ({"line__price": "-1.00"}, "lines[0].price"),
    ({"line__price": "NaN"}, "lines[0].price"),
    ({"line__price": float("inf")}, "lines[0].price"),
    ({"line__price": float("nan")}, "lines[0].price"),
    ({"line__price": True}, "lines[0].price"),                # a boolean where a number is expected
    ({"line__price": "1e3"}, "lines[0].price"),
    ({"line__price": " 10"}, "lines[0].price"),
    ({"line__price": "1_000"}, "lines[0].price"),
    ({"line__price": [1]}, "lines[0].price"),
    ({"line__price": "99999999999.00"}, "lines[0].price"),    # beyond any sale: refused, never overflows
    ({"line__price": DELETE}, "lines[0].price"),
    ({"line__payment_standard": "abc"}, "lines[0].payment_standard"),
    ({"line__qty": "0"}, "lines[0].qty"),
    ({"line__qty": "-1"}, "lines[0].qty"),
    ({"line__qty": "0.0005"}, "lines[0].qty"),                # more than 3 decimals
    ({"line__qty": False}, "lines[0].qty"),
    ({"line__qty": "Infinity"}, "lines[0].qty"),
    ({"line__category": ""}, "lines[0].category"),
    ({"line__med_list_codg": None}, "lines[0].med_list_codg"),
    ({"line__eligible": "yes"}, "lines[0].eligible"),
    ({"line__donated": 1}, "lines[0].donated"),
    ({"line__reasons": ["NOT_A_CODE"]}, "lines[0].reasons"),
    ({"line__reasons": "NO_FILING"}, "lines[0].reasons"),
    ({"line__donatd": True}, "lines[0].donatd"),              # a typo must not pass silently
    ({"insutype": DELETE}, "insutype"),
    ({"insutype": True}, "insutype"),
    ({"acct_used": DELETE}, "acct_used"),
    ({"acct_used": "true"}, "acct_used"),
    ({"balc": "-0.01"}, "balc"),
    ({"balc": DELETE}, "balc"),
    ({"ytd__fund_paid": "1.001"}, "ytd.fund_paid"),
    ({"ytd__selfpay": -5}, "ytd.selfpay"),
    ({"ytd": []}, "ytd"),
    ({"lines": []}, "lines"),
    ({"lines": DELETE}, "lines"),
    ({"lines": [3]}, "lines[0]"),
    ({"extra": 1}, "extra"),
])
def test_malformed_values_are_refused_naming_the_field(changes, field):
    with pytest.raises(InvalidInput) as exc:
        QuoteRequest.from_mapping(body(**changes))
    assert exc.value.code == "INVALID_INPUT"
    assert exc.value.details["field"] == field
    assert exc.value.message.startswith(field + ":")


@pytest.mark.parametrize("raw", [None, [], "text", 3])
def test_a_body_that_is_not_an_object_is_refused(raw):
    with pytest.raises(InvalidInput):
        QuoteRequest.from_mapping(raw)


def test_negative_zero_is_plain_zero():
    q = QuoteRequest.from_mapping(body(balc="-0.00"))
    assert str(q.balc) == "0.00"
