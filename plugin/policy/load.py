"""Reading and validating region policy files (``config/policies/<region>.toml``, schema: docs/configuration.md).

The schema is a contract that partners and tests write by hand, and a wrong number here moves patients' money, so
the reader is strict: every key is checked, unknown keys are errors (a typo such as ``prepay_ration`` must not
silently fall back to a default), and every error names the file and the exact key, e.g.
``jiangxi.toml: categories.B.prepay_ratio: must be a decimal between 0 and 1``. The same validation serves
``PUT /sandbox/policy`` JSON through ``policy_from_mapping``.
"""
from __future__ import annotations

import re
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any
from collections.abc import Callable, Mapping

import plugin
from plugin.errors import InvalidInput
from plugin.money import BadValue, money_of, ratio_of
from plugin.policy.model import CategoryRule, Deductible, Gates, Policy, Supplementary

_TOP_KEYS = ("region", "name", "source", "admdvs", "price_above_standard", "account_covers",
             "exit_transition_days", "categories", "deductible", "ratio", "annual_cap", "supplementary", "gates",
             "account_optional")
_OPTIONAL_TOP = {"supplementary", "gates", "account_optional"}
_REGION_RE = re.compile(r"[a-z0-9][a-z0-9_-]*")
_ADMDVS_RE = re.compile(r"\d{6}")
_MISSING = object()


def config_dir() -> Path:
    return Path(plugin.__file__).resolve().parent.parent / "config"


def policies_dir() -> Path:
    return config_dir() / "policies"


def list_regions() -> list[str]:
    """The regions shipped in ``config/policies/`` (file stems), sorted."""
    return sorted(p.stem for p in policies_dir().glob("*.toml"))


def load_region(name: str) -> Policy:
    """The shipped policy of one region; the file's ``region`` must equal its name."""
    if not isinstance(name, str) or not _REGION_RE.fullmatch(name):
        raise InvalidInput(f"region: {name!r} is not a region name", field="region")
    path = policies_dir() / f"{name}.toml"
    if not path.is_file():
        raise InvalidInput(f"region: no policy file for region {name!r} (available: {', '.join(list_regions())})",
                           f"未找到地区 {name} 的医保政策文件。", field="region", region=name)
    policy = load_policy(path)
    if policy.region != name:
        raise _Checker(path.name).error("region", f"must be {name!r} to match the file name")
    return policy


def load_policy(path: str | Path) -> Policy:
    """Read one policy TOML file. Numbers may be written as TOML strings or numbers; floats are read as Decimal."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise InvalidInput(f"{path.name}: cannot read policy file: {err.strerror or err}",
                           f"无法读取医保政策文件 {path.name}。", field="policy_file", source=str(path)) from None
    try:
        data = tomllib.loads(text, parse_float=Decimal)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise InvalidInput(f"{path.name}: not valid TOML: {err}", f"医保政策文件 {path.name} 不是有效的 TOML：{err}",
                           field="policy_file", source=path.name) from None
    return policy_from_mapping(data, source=path.name)


def policy_from_mapping(mapping: Any, source: str = "<mapping>") -> Policy:
    """Validate a policy given as data (a parsed TOML file, or the JSON of ``PUT /sandbox/policy``)."""
    return _Checker(source).policy(mapping)


class _Checker:
    """Walks one policy mapping; every error names ``source`` and the dotted key."""

    def __init__(self, source: str):
        self.source = source

    def error(self, key: str, problem: str) -> InvalidInput:
        return InvalidInput(f"{self.source}: {key}: {problem}", f"医保政策 {self.source} 的 {key} 不正确：{problem}",
                            field=key, source=self.source)

    def table(self, value: Any, key: str, allowed: tuple[str, ...] | None = None,
              required: tuple[str, ...] = ()) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.error(key or "policy", "must be a table")
        prefix = f"{key}." if key else ""
        for k in value:
            if not isinstance(k, str) or not k:
                raise self.error(f"{prefix}{k}", "keys must be non-empty strings")
            if allowed is not None and k not in allowed:
                raise self.error(f"{prefix}{k}", f"unknown key (expected one of: {', '.join(allowed)})")
        for k in required:
            if k not in value:
                raise self.error(f"{prefix}{k}", "is required")
        return value

    def read(self, value: Any, key: str, reader: Callable[[Any], Any]) -> Any:
        try:
            return reader(value)
        except BadValue as err:
            raise self.error(key, str(err)) from None

    def text(self, value: Any, key: str, pattern: re.Pattern[str] | None = None, hint: str = "") -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, "must be a non-empty string")
        if pattern is not None and not pattern.fullmatch(value):
            raise self.error(key, hint)
        return value

    def choice(self, value: Any, key: str, options: tuple[str, ...]) -> str:
        if value not in options:
            raise self.error(key, f"must be one of {', '.join(repr(o) for o in options)} (got {value!r})")
        return value

    def policy(self, m: Any) -> Policy:
        m = self.table(m, "", _TOP_KEYS, tuple(k for k in _TOP_KEYS if k not in _OPTIONAL_TOP))
        days = m["exit_transition_days"]
        if isinstance(days, bool) or not isinstance(days, int) or days < 0:
            raise self.error("exit_transition_days", "must be a whole number of days, 0 or more")
        ratio = self.rates(m["ratio"], "ratio")
        optional = m.get("account_optional", True)
        if not isinstance(optional, bool):
            raise self.error("account_optional", "must be true or false")
        return Policy(
            region=self.text(m["region"], "region", _REGION_RE, "must be lower-case letters, digits, '-' or '_'"),
            name=self.text(m["name"], "name"),
            source=self.text(m["source"], "source"),
            admdvs=self.text(m["admdvs"], "admdvs", _ADMDVS_RE, "must be a 6-digit administrative division code"),
            price_above_standard=self.choice(m["price_above_standard"], "price_above_standard",  # type: ignore[arg-type]
                                             ("reject", "selfpay")),
            account_covers=self.choice(m["account_covers"], "account_covers", ("all", "in_scope")),  # type: ignore[arg-type]
            exit_transition_days=days,
            categories=self.categories(m["categories"]),
            deductible=self.deductible(m["deductible"]),
            ratio=ratio,
            annual_cap=self.caps(m["annual_cap"], ratio),
            supplementary=self.supplementary(m.get("supplementary", {}), ratio),
            gates=self.gates(m.get("gates", {})),
            account_optional=optional,
        )

    def gates(self, value: Any) -> Gates:
        table = self.table(value, "gates", ("hospital_review", "cross_region_review"))
        for key, flag in table.items():
            if not isinstance(flag, bool):
                raise self.error(f"gates.{key}", "must be true or false")
        return Gates(hospital_review=table.get("hospital_review", False),
                     cross_region_review=table.get("cross_region_review", False))

    def categories(self, value: Any) -> dict[str, CategoryRule]:
        table = self.table(value, "categories")
        if not table:
            raise self.error("categories", "must name at least one category")
        out = {}
        for name, raw in table.items():
            key = f"categories.{name}"
            rule = self.table(raw, key, ("pharmacy", "prepay_ratio"), ("pharmacy",))
            if not isinstance(rule["pharmacy"], bool):
                raise self.error(f"{key}.pharmacy", "must be true or false")
            if rule["pharmacy"] and "prepay_ratio" not in rule:
                # A settled category without its 先行自付 share would silently mean 0; make the author say so.
                raise self.error(f"{key}.prepay_ratio", "is required when pharmacy = true")
            prepay = self.read(rule.get("prepay_ratio", "0"), f"{key}.prepay_ratio", ratio_of)
            out[name] = CategoryRule(pharmacy=rule["pharmacy"], prepay_ratio=prepay)
        return out

    def deductible(self, value: Any) -> Deductible:
        table = self.table(value, "deductible", ("amount", "by_level"))
        if "amount" not in table and "by_level" not in table:
            raise self.error("deductible.amount", "is required (or give deductible.by_level)")
        amount = self.read(table.get("amount", "0"), "deductible.amount", money_of)
        by_level = None
        if "by_level" in table:
            levels = self.table(table["by_level"], "deductible.by_level")
            if not levels:
                raise self.error("deductible.by_level", "must name at least one hospital level")
            by_level = {lv: self.read(v, f"deductible.by_level.{lv}", money_of) for lv, v in levels.items()}
        return Deductible(amount=amount, by_level=by_level)

    def rates(self, value: Any, key: str) -> dict[str, Decimal]:
        table = self.table(value, key)
        if not table:
            raise self.error(key, "must give a ratio for at least one insutype")
        return {insutype: self.read(v, f"{key}.{insutype}", ratio_of) for insutype, v in table.items()}

    def caps(self, value: Any, ratio: dict[str, Decimal]) -> dict[str, Decimal]:
        table = self.table(value, "annual_cap", tuple(ratio), tuple(ratio))
        return {insutype: self.read(v, f"annual_cap.{insutype}", money_of) for insutype, v in table.items()}

    def supplementary(self, value: Any, ratio: dict[str, Decimal]) -> dict[str, Supplementary]:
        table = self.table(value, "supplementary", tuple(ratio))
        out = {}
        for insutype, raw in table.items():
            key = f"supplementary.{insutype}"
            kind = self.choice(self.table(raw, key, None, ("kind",))["kind"], f"{key}.kind",
                               ("after_fund_cap", "after_selfpay_threshold"))
            needs = ("kind", "ratio", "cap") + (("threshold",) if kind == "after_selfpay_threshold" else ())
            entry = self.table(raw, key, needs, needs)
            out[insutype] = Supplementary(
                kind=kind,  # type: ignore[arg-type]
                ratio=self.read(entry["ratio"], f"{key}.ratio", ratio_of),
                cap=self.read(entry["cap"], f"{key}.cap", money_of),
                threshold=self.read(entry["threshold"], f"{key}.threshold", money_of) if "threshold" in entry
                else None)
        return out
