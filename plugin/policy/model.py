"""The values the settlement split works on: a region's policy, a quote request, and the split it produces.

The shapes are contracts: ``Policy`` mirrors the region policy file schema (docs/configuration.md), ``QuoteRequest`` the
quote JSON of ``rxlane policy quote`` (docs/configuration.md), and ``Split`` the split object every settlement answer
carries (docs/pos-integration.md), with the insurer's own field names so the code can be held against the interface
specification.

Plain frozen dataclasses, not pydantic: ``split`` runs on every scan-to-settle round trip and in the sandbox, and
validation belongs at the boundary (``QuoteRequest.from_mapping``, ``plugin.policy.load``), not inside the maths.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal
from collections.abc import Mapping

from plugin.errors import REASONS, InvalidInput
from adapters.nhsa.money import LINE_MONEY
from plugin.money import SPLIT_FIELDS, ZERO, BadValue, money_of, plain, qty_of, wire

PriceAboveStandard = Literal["reject", "selfpay"]
AccountCovers = Literal["all", "in_scope"]
SupplementaryKind = Literal["after_fund_cap", "after_selfpay_threshold"]


@dataclass(frozen=True, slots=True)
class CategoryRule:
    """One dual-channel drug category of a region (e.g. Jiangxi A/B/C, 赣医保发〔2022〕2号 §二(三)1)."""
    pharmacy: bool
    prepay_ratio: Decimal = Decimal("0")


@dataclass(frozen=True, slots=True)
class Deductible:
    """起付线, charged once per natural year; ``by_level`` (by the filing hospital's level) replaces ``amount``."""
    amount: Decimal
    by_level: dict[str, Decimal] | None = None


@dataclass(frozen=True, slots=True)
class Supplementary:
    """The tier above basic-fund cover: 大额医保 (``after_fund_cap`` → hifob_pay) or 大病保险
    (``after_selfpay_threshold`` → hifmi_pay); ``threshold`` only for the latter."""
    kind: SupplementaryKind
    ratio: Decimal
    cap: Decimal
    threshold: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Gates:
    """Checks only some regions make (docs/policies.md §2): a filing needing the hospital insurance office's review
    (Jilin §四(一), attachment 2 drugs) and a cross-province patient's filing needing the agency's approval (Jilin
    §四(一)). Off unless the region's file turns them on (``[gates]``)."""
    hospital_review: bool = False
    cross_region_review: bool = False


@dataclass(frozen=True)
class Policy:
    """A region's dual-channel settlement parameters, as read from ``config/policies/<region>.toml``."""
    region: str
    name: str
    source: str
    admdvs: str
    price_above_standard: PriceAboveStandard
    account_covers: AccountCovers
    exit_transition_days: int
    categories: dict[str, CategoryRule]
    deductible: Deductible
    ratio: dict[str, Decimal]
    annual_cap: dict[str, Decimal]
    supplementary: dict[str, Supplementary] = field(default_factory=dict)
    gates: Gates = field(default_factory=Gates)
    #: May the patient keep the personal account out of a sale (the 2102 ``acct_used_flag`` left 0)? Absent
    #: in a file: yes. A region whose rules pay the personal part from the account first says ``false``.
    account_optional: bool = True

    def to_mapping(self) -> dict[str, Any]:
        """The policy in the TOML schema as JSON-able data (decimals as strings), e.g. for ``PUT /sandbox/policy``;
        ``policy_from_mapping(p.to_mapping()) == p``."""
        deductible: dict[str, Any] = {"amount": plain(self.deductible.amount)}
        if self.deductible.by_level is not None:
            deductible["by_level"] = {k: plain(v) for k, v in self.deductible.by_level.items()}
        supplementary = {}
        for insutype, s in self.supplementary.items():
            entry = {"kind": s.kind, "ratio": plain(s.ratio), "cap": plain(s.cap)}
            if s.threshold is not None:
                entry["threshold"] = plain(s.threshold)
            supplementary[insutype] = entry
        return {
            "region": self.region, "name": self.name, "source": self.source, "admdvs": self.admdvs,
            "price_above_standard": self.price_above_standard, "account_covers": self.account_covers,
            "exit_transition_days": self.exit_transition_days,
            "categories": {k: {"pharmacy": r.pharmacy, "prepay_ratio": plain(r.prepay_ratio)}
                           for k, r in self.categories.items()},
            "deductible": deductible,
            "ratio": {k: plain(v) for k, v in self.ratio.items()},
            "annual_cap": {k: plain(v) for k, v in self.annual_cap.items()},
            "supplementary": supplementary,
            "gates": {"hospital_review": self.gates.hospital_review,
                      "cross_region_review": self.gates.cross_region_review},
            "account_optional": self.account_optional,
        }


# --- the quote request ---------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Ytd:
    """Year-to-date accumulators. They belong to the insurer: the plug-in reads them, never invents them."""
    deductible_paid: Decimal = ZERO
    fund_paid: Decimal = ZERO
    selfpay: Decimal = ZERO
    supplementary_paid: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class QuoteLine:
    med_list_codg: str
    category: str
    price: Decimal
    qty: Decimal
    payment_standard: Decimal
    eligible: bool = True
    donated: bool = False
    #: reason codes the caller already found (三定 checks); used when ``eligible`` is false
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class QuoteRequest:
    insutype: str
    lines: tuple[QuoteLine, ...] | list[QuoteLine]
    acct_used: bool = False
    balc: Decimal = ZERO
    ytd: Ytd = Ytd()
    hosp_lv: str | None = None

    @classmethod
    def from_mapping(cls, d: Any) -> QuoteRequest:
        """Parse and validate the quote JSON (docs/configuration.md); every refusal is ``InvalidInput`` naming the
        field."""
        return _parse_request(d)


_REQUEST_KEYS = {"insutype", "hosp_lv", "acct_used", "balc", "ytd", "lines"}
_YTD_KEYS = ("deductible_paid", "fund_paid", "selfpay", "supplementary_paid")
_LINE_KEYS = {"med_list_codg", "category", "price", "qty", "payment_standard", "eligible", "donated", "reasons"}
_MISSING = object()


def _bad(path: str, problem: str) -> InvalidInput:
    return InvalidInput(f"{path}: {problem}", f"字段 {path} 不正确：{problem}", field=path)


def _object(value: Any, path: str, allowed: set[str] | tuple[str, ...]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _bad(path or "body", "must be a JSON object")
    for key in value:
        if key not in allowed:
            name = f"{path}.{key}" if path else str(key)
            raise _bad(name, f"unknown field (expected one of: {', '.join(sorted(allowed))})")
    return value


def _take(d: Mapping[str, Any], key: str, path: str, reader, default: Any = _MISSING) -> Any:
    value = d.get(key, _MISSING)
    if value is _MISSING or value is None:
        if default is _MISSING:
            raise _bad(path, "is required")
        return default
    try:
        return reader(value)
    except BadValue as err:
        raise _bad(path, str(err)) from None


def _text(value: Any) -> str:
    # Codes such as insutype "310" or hosp_lv 3 are identifiers: a JSON integer is accepted and kept as text.
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise BadValue("must be a string")
    text = str(value).strip()
    if not text:
        raise BadValue("must not be empty")
    return text


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise BadValue("must be true or false")
    return value


def _reason_codes(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise BadValue("must be a list of reason codes")
    for code in value:
        if code not in REASONS:
            raise BadValue(f"unknown reason code {code!r}")
    return tuple(dict.fromkeys(value))


def _parse_line(raw: Any, path: str) -> QuoteLine:
    d = _object(raw, path, _LINE_KEYS)
    return QuoteLine(
        med_list_codg=_take(d, "med_list_codg", f"{path}.med_list_codg", _text),
        category=_take(d, "category", f"{path}.category", _text),
        price=_take(d, "price", f"{path}.price", money_of),
        qty=_take(d, "qty", f"{path}.qty", qty_of),
        payment_standard=_take(d, "payment_standard", f"{path}.payment_standard", money_of),
        eligible=_take(d, "eligible", f"{path}.eligible", _flag, True),
        donated=_take(d, "donated", f"{path}.donated", _flag, False),
        reasons=_take(d, "reasons", f"{path}.reasons", _reason_codes, ()),
    )


def _parse_request(raw: Any) -> QuoteRequest:
    d = _object(raw, "", _REQUEST_KEYS)
    ytd_raw = _object({} if d.get("ytd") is None else d["ytd"], "ytd", _YTD_KEYS)
    ytd = Ytd(**{k: _take(ytd_raw, k, f"ytd.{k}", money_of, ZERO) for k in _YTD_KEYS})
    lines_raw = d.get("lines")
    if not isinstance(lines_raw, list) or not lines_raw:
        raise _bad("lines", "must be a non-empty list of lines")
    return QuoteRequest(
        insutype=_take(d, "insutype", "insutype", _text),
        hosp_lv=_take(d, "hosp_lv", "hosp_lv", _text, None),
        acct_used=_take(d, "acct_used", "acct_used", _flag),
        balc=_take(d, "balc", "balc", money_of),
        ytd=ytd,
        lines=tuple(_parse_line(line, f"lines[{i}]") for i, line in enumerate(lines_raw)),
    )


# --- the split -----------------------------------------------------------------------------------------------------

@dataclass(slots=True)
class SplitLine:
    med_list_codg: str
    eligible: bool
    reasons: list[dict[str, Any]]
    line_total: Decimal
    fulamt_ownpay_amt: Decimal
    overlmt_selfpay: Decimal
    preselfpay_amt: Decimal
    inscp_scp_amt: Decimal

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SplitLine:
        """The inverse of ``to_dict`` (a split line as the ledger stores it)."""
        return cls(med_list_codg=str(d.get("med_list_codg") or ""), eligible=bool(d.get("eligible", True)),
                   reasons=list(d.get("reasons") or []),
                   **{k: Decimal(str(d.get(k) or "0")) for k in LINE_MONEY})

    def to_dict(self) -> dict[str, Any]:
        return {"med_list_codg": self.med_list_codg, "eligible": self.eligible,
                # copies: a decoded split is shared (plugin/store/sales.py)
                "reasons": [dict(r) if isinstance(r, dict) else r for r in self.reasons],
                "line_total": wire(self.line_total), "fulamt_ownpay_amt": wire(self.fulamt_ownpay_amt),
                "overlmt_selfpay": wire(self.overlmt_selfpay), "preselfpay_amt": wire(self.preselfpay_amt),
                "inscp_scp_amt": wire(self.inscp_scp_amt)}



@dataclass(slots=True)
class Split:
    """One settlement divided between the funds, the personal account and cash (docs/policies.md §3).
    ``balc`` is the account balance after this settlement; ``act_pay_dedc`` the deductible applied."""
    medfee_sumamt: Decimal
    fulamt_ownpay_amt: Decimal
    overlmt_selfpay: Decimal
    preselfpay_amt: Decimal
    inscp_scp_amt: Decimal
    act_pay_dedc: Decimal
    hifp_pay: Decimal
    hifmi_pay: Decimal
    hifob_pay: Decimal
    maf_pay: Decimal
    oth_pay: Decimal
    fund_pay_sumamt: Decimal
    psn_part_amt: Decimal
    acct_pay: Decimal
    psn_cash_pay: Decimal
    balc: Decimal
    lines: list[SplitLine]

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Split:
        """The inverse of ``to_dict``: a split as the ledger stores it (money as decimal strings)."""
        return cls(**{name: Decimal(str(d.get(name) or "0")) for name in SPLIT_FIELDS},
                   lines=[SplitLine.from_dict(line) for line in d.get("lines") or []])

    def to_dict(self) -> dict[str, Any]:
        """The split object of docs/pos-integration.md: money as two-decimal strings, reasons as ``reason(code)``
        objects."""
        out: dict[str, Any] = {name: wire(getattr(self, name)) for name in SPLIT_FIELDS}
        out["lines"] = [line.to_dict() for line in self.lines]
        return out
