"""The sandbox insurer's refusal texts (adapters/sandbox/refusals.py) are read back by the national gateway profile's
``[refusals]`` pattern table as the reason code they stand for, so the pharmacist sees the same reason whether rxlane
decided the rule or the insurer refused (docs/sandbox.md "Refusal texts")."""
import json
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.nhsa.profile import load_profile
from adapters.sandbox.refusals import TEXTS, refusal_text
from adapters.sandbox.rxplatform import STATUS_ZH
from plugin.errors import REASONS

NATIONAL = load_profile("national")
WIRE = Path(__file__).resolve().parent / "wire"


def test_there_is_one_text_for_every_reason_code():
    assert set(TEXTS) == set(REASONS) - {"NOT_ELIGIBLE"}


def test_the_national_profile_has_a_pattern_for_every_reason_code():
    assert set(NATIONAL.refusals.values()) == set(TEXTS)


@pytest.mark.parametrize("code", sorted(TEXTS))
def test_the_national_profile_maps_each_text_back_to_its_code(code):
    text = refusal_text(code, "XL04ACS251B002010100702", payment_standard=Decimal("598.00"))
    assert text.startswith("药品XL04ACS251B002010100702：")
    assert NATIONAL.refusal_reason(text) == code
    assert not NATIONAL.sign_in_invalid(text)


@pytest.mark.parametrize("text", [
    *(json.loads((WIRE / f"{name}.answer.refused.json").read_text("utf-8"))["err_msg"]
      for name in ("1101", "2102", "2601")),      # the wire samples: e-voucher lapsed, account short, reversal refused
    "未查询到人员信息",
    "未签到或签到已失效，请重新签到",
])
def test_insurer_texts_that_are_no_eligibility_reason_are_not_mistaken_for_one(text):
    assert NATIONAL.refusal_reason(text) is None


@pytest.mark.parametrize("status,code", [("dispensed", "RX_ALREADY_DISPENSED"), ("revoked", "RX_REVOKED")])
def test_the_prescription_platforms_refusals_map_too(status, code):
    assert NATIONAL.refusal_reason(f"处方{STATUS_ZH[status]}") == code
