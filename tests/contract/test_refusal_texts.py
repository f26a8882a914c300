"""The sandbox insurer's refusal texts (adapters/sandbox/refusals.py) are read back by the national gateway profile's
``[refusals]`` pattern table as the reason code they stand for, so the pharmacist sees the same reason whether rxlane
decided the rule or the insurer refused (docs/sandbox.md "Refusal texts")."""
from decimal import Decimal

import pytest

from adapters.nhsa.profile import load_profile
from adapters.sandbox.refusals import TEXTS, refusal_text
from adapters.sandbox.rxplatform import STATUS_ZH
from plugin.errors import REASONS

NATIONAL = load_profile("national")
#: reason codes the national profile has no pattern for: their text reaches the pharmacist as the insurer wrote it
UNMAPPED = {"NOT_IN_CATALOG", "NOT_ON_PRESCRIPTION", "DONATED_SUPPLY"}


def test_there_is_one_text_for_every_reason_code():
    assert set(TEXTS) == set(REASONS) - {"NOT_ELIGIBLE"}


@pytest.mark.parametrize("code", sorted(set(TEXTS) - UNMAPPED))
def test_the_national_profile_maps_each_text_back_to_its_code(code):
    text = refusal_text(code, "XL04ACS251B002010100702", payment_standard=Decimal("598.00"))
    assert text.startswith("药品XL04ACS251B002010100702：")
    assert NATIONAL.refusal_reason(text) == code
    assert not NATIONAL.sign_in_invalid(text)


@pytest.mark.parametrize("code", sorted(UNMAPPED))
def test_texts_without_a_pattern_are_not_mistaken_for_another_reason(code):
    assert NATIONAL.refusal_reason(refusal_text(code, "XL04ACS251B002010100702")) is None


@pytest.mark.parametrize("status,code", [("dispensed", "RX_ALREADY_DISPENSED"), ("revoked", "RX_REVOKED")])
def test_the_prescription_platforms_refusals_map_too(status, code):
    assert NATIONAL.refusal_reason(f"处方{STATUS_ZH[status]}") == code
