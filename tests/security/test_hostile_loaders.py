"""The configuration loader (docs/configuration.md) and the policy loader read files people write by hand and JSON that
`PUT /sandbox/policy` receives: any text, any values, must end in a `Settings`/`Policy` or `InvalidInput` naming
the place — never a KeyError, TypeError, OverflowError or decimal.InvalidOperation escaping to `rxlane config check`.
"""
from __future__ import annotations

import copy
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plugin.errors import InvalidInput
from plugin.config import Settings, load_settings
from plugin.policy.load import load_policy, policy_from_mapping
from plugin.policy.model import Policy

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
POLICY_DIR = Path(__file__).resolve().parents[2] / "config" / "policies"
JIANGXI = tomllib.loads((POLICY_DIR / "jiangxi.toml").read_text("utf-8"), parse_float=Decimal)

# Values TOML (and JSON) can carry, including the awkward ones.
toml_scalar = st.one_of(
    st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(), st.decimals(allow_nan=True),
    st.text(max_size=20), st.sampled_from(["", "0", "-0", "1e400", "NaN", "inf", "0.10", "300000", "1_0",
                                           " 1", "０.1", "1.005", "99999999999999999999999999999999.99"]),
)
toml_value = st.recursive(toml_scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)), max_leaves=8)


def only_invalid_input(call, *args, **kw) -> Any:
    try:
        return call(*args, **kw)
    except InvalidInput as exc:
        assert exc.code == "INVALID_INPUT" and exc.message and exc.message_zh
        return exc


# -- configuration -----------------------------------------------------------------------------------------------
def _settings_or_refusal(result) -> None:
    assert isinstance(result, (Settings, InvalidInput)), type(result)


@SETTINGS
@given(text=st.text(max_size=400))
def test_any_config_text_loads_or_is_invalid_input(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("cfg") / "store.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    _settings_or_refusal(only_invalid_input(load_settings, path, environ={}))


@SETTINGS
@given(data=st.binary(max_size=200))
def test_any_config_bytes_load_or_are_invalid_input(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("cfg") / "store.toml"
    path.write_bytes(data)
    _settings_or_refusal(only_invalid_input(load_settings, path, environ={}))


SECTIONS = {"store": ["fixmedins_code", "fixmedins_name", "region", "admdvs", "policy_file", "trace_prefix_len"],
            "server": ["host", "port", "data_dir", "workers", "max_body_bytes"],
            "nhsa": ["url", "path", "timeout_s", "verify_tls", "secret_file", "paasid", "ca_bundle"],
            "sandbox": ["host", "port", "demo"], "devices": [], "nope": ["x"]}


@SETTINGS
@given(layer=st.dictionaries(st.sampled_from(sorted(SECTIONS)),
                             st.one_of(toml_value, st.lists(st.dictionaries(
                                 st.sampled_from(["name", "kind", "url", "framing", "model", "baud"]), toml_scalar),
                                 max_size=2), st.dictionaries(st.sampled_from(
                                     [k for v in SECTIONS.values() for k in v] + ["zzz"]), toml_scalar)),
                             max_size=3))
def test_any_config_values_load_or_are_invalid_input(layer):
    _settings_or_refusal(only_invalid_input(load_settings, None, environ={}, overrides=layer))


@SETTINGS
@given(env=st.dictionaries(st.sampled_from(["RXLANE_STORE__REGION", "RXLANE_SERVER__PORT", "RXLANE_NHSA__TIMEOUT_S",
                                            "RXLANE_NHSA__URL", "RXLANE_STORE__TRACE_PREFIX_LEN",
                                            "RXLANE_SERVER__MAX_BODY_BYTES", "RXLANE_NOPE__X", "RXLANE_STORE__",
                                            "RXLANE___", "RXLANE_DEVICES__X", "RXLANE_CHAIN",
                                            "RXLANE_NHSA__SECRET_FILE", "RXLANE_STORE__FIXMEDINS_CODE"]),
                           st.one_of(st.text(max_size=30).filter(lambda s: "\x00" not in s),
                                     st.sampled_from(["[1, 2]", "{a = 1}", "1e999", "nan", "true", '"x"', "''",
                                                      "2026-01-01", "/dev/null", "/", "."])),
                           max_size=3))
def test_any_environment_variables_load_or_are_invalid_input(env):
    _settings_or_refusal(only_invalid_input(load_settings, None, environ=env))


@pytest.mark.parametrize("text", [
    "[store]\nfixmedins_code = 1e400", "[server]\nport = 1e999", "[server]\nport = nan",
    "[nhsa]\ntimeout_s = inf", "[nhsa]\ntimeout_s = nan", "[server]\nport = 99999999999999999999",
    "[[devices]]\nname = 'a'\nkind = 'scanner'\nurl = 'loop://'\n[[devices]]\nname = 'a'\nkind = 'scanner'\nurl = 'x'",
    "[[devices]]\nname = 'a'", "devices = 3", "devices = [1, 2]", "[devices]\nx = 1", "store = 'x'",
    "[store]\n[store.region]\nx = 1", "[nhsa]\nsecret_file = '/proc/self/mem'", "[nhsa]\nsecret_file = '/'",
    "[nhsa]\nsecret_file = '\\u0000'", "\ufeff[store]\nregion = 'jiangxi'", "a = 'x'\na = 'y'",
])
def test_hostile_config_files_are_invalid_input(tmp_path, text):
    path = tmp_path / "store.toml"
    path.write_text(text, encoding="utf-8")
    _settings_or_refusal(only_invalid_input(load_settings, path, environ={}))


def test_config_file_that_is_a_directory_or_a_fifo_is_invalid_input(tmp_path):
    import os
    _settings_or_refusal(only_invalid_input(load_settings, tmp_path, environ={}))
    (tmp_path / "noperm.toml").write_text("[store]\n")
    (tmp_path / "noperm.toml").chmod(0)
    if os.geteuid() != 0:
        _settings_or_refusal(only_invalid_input(load_settings, tmp_path / "noperm.toml", environ={}))


# -- policy ------------------------------------------------------------------------------------------------------
def _policy_or_refusal(result) -> None:
    assert isinstance(result, (Policy, InvalidInput)), type(result)


@SETTINGS
@given(mapping=toml_value)
def test_any_policy_mapping_is_a_policy_or_invalid_input(mapping):
    _policy_or_refusal(only_invalid_input(policy_from_mapping, mapping, source="fuzz.toml"))


def _paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, prefix + (k,))
    return out


JIANGXI_PATHS = _paths(JIANGXI)


@st.composite
def mutated_policy(draw) -> dict:
    """A real policy with one to three keys replaced, deleted, or given a sibling — deep in the tree."""
    policy = copy.deepcopy(JIANGXI)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(JIANGXI_PATHS))
        parent = policy
        for k in path[:-1]:
            parent = parent.get(k) if isinstance(parent, dict) else None
            if not isinstance(parent, dict):
                break
        if not isinstance(parent, dict):
            continue
        action = draw(st.sampled_from(["replace", "delete", "sibling"]))
        if action == "replace":
            parent[path[-1]] = draw(toml_value)
        elif action == "delete":
            parent.pop(path[-1], None)
        else:
            parent[draw(st.text(max_size=8))] = draw(toml_value)
    return policy


@SETTINGS
@given(mapping=mutated_policy())
def test_a_real_policy_with_hostile_edits_is_a_policy_or_invalid_input(mapping):
    _policy_or_refusal(only_invalid_input(policy_from_mapping, mapping, source="jiangxi.toml"))


@SETTINGS
@given(text=st.text(max_size=300))
def test_any_policy_file_text_is_a_policy_or_invalid_input(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("pol") / "fuzz.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    _policy_or_refusal(only_invalid_input(load_policy, path))


@pytest.mark.parametrize("edit", [
    {"ratio": {"310": "1e400"}}, {"ratio": {"310": 1e400}}, {"ratio": {"310": float("nan")}},
    {"annual_cap": {"310": Decimal("Infinity"), "390": "1"}}, {"annual_cap": {"310": "9" * 400, "390": "1"}},
    {"exit_transition_days": 10**30}, {"exit_transition_days": -1}, {"categories": {"": {"pharmacy": True}}},
    {"categories": {"B": {"pharmacy": True, "prepay_ratio": "0.1", "x": 1}}}, {"categories": []},
    {"deductible": {"by_level": {}}}, {"deductible": {"by_level": {"1": [1]}}},
    {"supplementary": {"310": {"kind": ["after_fund_cap"]}}}, {"supplementary": {"310": {"kind": {}}}},
    {"supplementary": {"999": {"kind": "after_fund_cap"}}}, {"supplementary": []}, {"ratio": {}},
    {"region": ["jiangxi"]}, {"admdvs": 360000}, {"price_above_standard": ["reject"]},
    {"account_covers": {"all": 1}},
])
def test_hostile_policy_edits_are_invalid_input(edit):
    mapping = {**copy.deepcopy(JIANGXI), **edit}
    _policy_or_refusal(only_invalid_input(policy_from_mapping, mapping, source="jiangxi.toml"))


def test_unhashable_choice_values_are_invalid_input_not_type_error():
    """`value not in ("reject", "selfpay")` is fine for a list, but a dict key lookup would not be."""
    for key in ("price_above_standard", "account_covers"):
        for value in ([1], {"a": 1}, None, 1.5):
            mapping = {**copy.deepcopy(JIANGXI), key: value}
            result = only_invalid_input(policy_from_mapping, mapping, source="jiangxi.toml")
            assert isinstance(result, InvalidInput) and result.details["field"] == key
