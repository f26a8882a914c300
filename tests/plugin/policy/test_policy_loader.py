"""Loading policy files and mappings: strict, and every error names the file (or source) and the exact key."""
from __future__ import annotations

import json
from decimal import Decimal as D

import pytest

from plugin.errors import InvalidInput
from plugin.policy import load_policy, load_region, policy_from_mapping
from plugin.policy.load import policies_dir

JIANGXI = (policies_dir() / "jiangxi.toml").read_text(encoding="utf-8")


def write(tmp_path, text, name="jiangxi.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("old, new, message", [
    ('prepay_ratio = "0.10"', 'prepay_ratio = "1.10"',
     "jiangxi.toml: categories.B.prepay_ratio: must be a decimal between 0 and 1"),
    ('prepay_ratio = "0.10"', 'prepay_ratio = "ten"',
     "jiangxi.toml: categories.B.prepay_ratio: must be a decimal between 0 and 1"),
    ('prepay_ratio = "0.10"', 'prepay_ration = "0.10"', "jiangxi.toml: categories.B.prepay_ration: unknown key"),
    ('prepay_ratio = "0.10"', '', "jiangxi.toml: categories.B.prepay_ratio: is required when pharmacy = true"),
    ('pharmacy = false', 'pharmacy = "no"', "jiangxi.toml: categories.C.pharmacy: must be true or false"),
    ('account_covers = "all"', 'account_covers = "everything"', "jiangxi.toml: account_covers: must be one of"),
    ('price_above_standard = "reject"', 'price_above_standard = "refuse"',
     "jiangxi.toml: price_above_standard: must be one of"),
    ('admdvs = "360000"', 'admdvs = "36"', "jiangxi.toml: admdvs: must be a 6-digit"),
    ('admdvs = "360000"', '', "jiangxi.toml: admdvs: is required"),
    ('source = "赣医保发〔2022〕2号"', 'source = ""', "jiangxi.toml: source: must be a non-empty string"),
    ('exit_transition_days = 0', 'exit_transition_days = -1', "jiangxi.toml: exit_transition_days: must be"),
    ('exit_transition_days = 0', 'exit_transition_days = "0"', "jiangxi.toml: exit_transition_days: must be"),
    ('exit_transition_days = 0', 'exit_transition_days = true', "jiangxi.toml: exit_transition_days: must be"),
    ('"310" = "0.80"', '"310" = "0.8x"', "jiangxi.toml: ratio.310: must be a decimal between 0 and 1"),
    ('"310" = "300000"', '"310" = "-1"', "jiangxi.toml: annual_cap.310: must not be negative"),
    ('"390" = "200000"', '', "jiangxi.toml: annual_cap.390: is required"),
    ('"390" = "200000"', '"390" = "200000"\n"391" = "1"', "jiangxi.toml: annual_cap.391: unknown key"),
    ('amount = "0"', 'amount = "0.001"', "jiangxi.toml: deductible.amount: must have at most 2 decimals"),
    ('amount = "0"', 'amout = "0"', "jiangxi.toml: deductible.amout: unknown key"),
    ('threshold = "15000"', '', "jiangxi.toml: supplementary.390.threshold: is required"),
    ('kind = "after_fund_cap"', 'kind = "after_cap"', "jiangxi.toml: supplementary.310.kind: must be one of"),
    ('kind = "after_fund_cap"', 'kind = "after_fund_cap"\nthreshold = "1"',
     "jiangxi.toml: supplementary.310.threshold: unknown key"),
    ('[supplementary."390"]', '[supplementary."391"]', "jiangxi.toml: supplementary.391: unknown key"),
    ('region = "jiangxi"', 'region = "jiangxi"\nregoin = "x"', "jiangxi.toml: regoin: unknown key"),
])
def test_a_wrong_value_names_the_file_and_the_exact_key(tmp_path, old, new, message):
    assert old in JIANGXI
    with pytest.raises(InvalidInput) as exc:
        load_policy(write(tmp_path, JIANGXI.replace(old, new, 1)))
    assert exc.value.message.startswith(message), exc.value.message
    assert exc.value.code == "INVALID_INPUT"
    assert exc.value.details["source"] == "jiangxi.toml"


def test_numbers_may_be_toml_numbers_and_stay_exact(tmp_path):
    text = JIANGXI.replace('prepay_ratio = "0.10"', "prepay_ratio = 0.10").replace('"310" = "300000"',
                                                                                 '"310" = 300000')
    p = load_policy(write(tmp_path, text))
    assert p.categories["B"].prepay_ratio == D("0.10") and str(p.categories["B"].prepay_ratio) == "0.10"
    assert p.annual_cap["310"] == D("300000")
    assert p == load_region("jiangxi")


def test_a_file_that_is_not_toml_names_the_file(tmp_path):
    with pytest.raises(InvalidInput) as exc:
        load_policy(write(tmp_path, "region = ", name="broken.toml"))
    assert exc.value.message.startswith("broken.toml: not valid TOML")


def test_a_missing_file_is_invalid_input_naming_it(tmp_path):
    with pytest.raises(InvalidInput) as exc:
        load_policy(tmp_path / "absent.toml")
    assert exc.value.message.startswith("absent.toml:")


def test_an_unknown_region_is_invalid_input_naming_region():
    with pytest.raises(InvalidInput) as exc:
        load_region("atlantis")
    assert exc.value.details["field"] == "region" and "jiangxi" in exc.value.message


def test_a_region_name_cannot_reach_outside_the_policies_folder():
    with pytest.raises(InvalidInput):
        load_region("../defaults")


def test_policy_json_as_put_to_the_sandbox_round_trips_with_json_numbers():
    mapping = json.loads(json.dumps(load_region("chongqing").to_mapping(), ensure_ascii=False))
    mapping["ratio"]["310"] = 0.8            # a JSON number, parsed by a plain json.loads as float
    p = policy_from_mapping(mapping)
    assert p.ratio["310"] == D("0.8")
    assert p.deductible.by_level == load_region("chongqing").deductible.by_level


def test_mapping_errors_name_the_given_source():
    mapping = load_region("jiangxi").to_mapping()
    mapping["categories"]["B"]["prepay_ratio"] = "-0.1"
    with pytest.raises(InvalidInput) as exc:
        policy_from_mapping(mapping, source="PUT /sandbox/policy")
    assert exc.value.message == "PUT /sandbox/policy: categories.B.prepay_ratio: must be a decimal between 0 and 1"
    assert exc.value.details["field"] == "categories.B.prepay_ratio"


@pytest.mark.parametrize("mapping, key", [
    ([], "policy"),
    ({"categories": {}}, "region"),
])
def test_mapping_shape_errors_name_a_key(mapping, key):
    with pytest.raises(InvalidInput) as exc:
        policy_from_mapping(mapping)
    assert exc.value.message.startswith(f"<mapping>: {key}:")


def test_empty_categories_are_refused():
    mapping = load_region("jiangxi").to_mapping()
    mapping["categories"] = {}
    with pytest.raises(InvalidInput) as exc:
        policy_from_mapping(mapping)
    assert exc.value.details["field"] == "categories"


def test_by_level_replaces_amount_and_needs_a_level():
    mapping = load_region("jiangxi").to_mapping()
    mapping["deductible"] = {"by_level": {}}
    with pytest.raises(InvalidInput) as exc:
        policy_from_mapping(mapping)
    assert exc.value.details["field"] == "deductible.by_level"
    mapping["deductible"] = {}
    with pytest.raises(InvalidInput) as exc:
        policy_from_mapping(mapping)
    assert exc.value.details["field"] == "deductible.amount"
