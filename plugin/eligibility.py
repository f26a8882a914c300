"""The "three fixed" (三定) eligibility checks: may the fund pay for this dual-channel line today?

Implements docs/policies.md §2. Chongqing manages 定用药资质、定医院、定责任医师 (渝医保发〔2021〕12号 §四),
Jilin 定机构、定医师、定药品 by generic name (吉医保发〔2023〕29号 §一, §四(三)); a first filing is recognised across
the whole province (赣医保发〔2022〕2号 §二(四)5 "首次备案，全省互认"). Every failure is a stable reason code from
``plugin/errors.py`` ``REASONS``; an empty list means the line is eligible.

Pure: values in, values out. No clock (``today`` is passed), no I/O, no Flask, no SQLite, so the plug-in (before
settling) and the sandbox (adjudicating as the insurer) reach the same verdict from the same facts.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable, Literal, Mapping, Protocol

from plugin.errors import InvalidInput, reason

__all__ = [
    "Patient", "Filing", "RxLine", "Prescription", "CatalogEntry", "PolicyView", "REASON_ORDER",
    "check_line", "check_prescription", "find_filing", "describe", "last_settlement_day", "last_valid_day",
]

#: The order in which ``check_line`` reports reasons: catalogue facts first (nothing the patient can fix), then the
#: filing (三定), then the prescription, then the sale itself. Callers may show ``reasons[0]`` as the headline.
REASON_ORDER: tuple[str, ...] = (
    "NOT_IN_CATALOG",
    "CATEGORY_EXCLUDED",
    "AGREEMENT_EXPIRED",
    "NO_FILING",
    "FILING_NOT_STARTED",
    "FILING_EXPIRED",
    "INSTITUTION_MISMATCH",
    "PHYSICIAN_NOT_RESPONSIBLE",
    "REVIEW_PENDING",
    "CROSS_REGION_REVIEW_PENDING",
    "NOT_ON_PRESCRIPTION",
    "RX_PATIENT_MISMATCH",
    "RX_REVOKED",
    "RX_ALREADY_DISPENSED",
    "RX_EXPIRED",
    "PRICE_ABOVE_STANDARD",
    "DONATED_SUPPLY",
)

Review = Literal["none", "pending", "approved"]
RxStatus = Literal["valid", "dispensed", "revoked", "expired"]
_REVIEWS = ("none", "pending", "approved")
_RX_STATUSES = ("valid", "dispensed", "revoked", "expired")


class _CategoryView(Protocol):
    pharmacy: bool


class PolicyView(Protocol):
    """The few attributes of ``plugin.policy`` ``Policy`` these checks read (kept structural so this module does
    not depend on the policy engine's internals)."""

    admdvs: str
    exit_transition_days: int
    price_above_standard: str  # "reject" | "selfpay"
    categories: Mapping[str, _CategoryView]


# --- reading JSON -------------------------------------------------------------------------------------------------
# The shapes are the sandbox admin API's bodies (docs/sandbox.md). Every refusal names the field so a POS developer or
# a tester seeding the sandbox sees at once which value is wrong.

_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ADMDVS_RE = re.compile(r"\d{6}")
_MISSING = object()


def _bad(field: str, en: str, zh: str) -> InvalidInput:
    return InvalidInput(f"{field}: {en}", f"字段 {field}：{zh}", field=field)


def _get(d: Mapping[str, Any], key: str, prefix: str, default: Any = _MISSING) -> Any:
    value = d.get(key, _MISSING) if isinstance(d, Mapping) else _MISSING
    if value is _MISSING or value is None:
        if default is _MISSING:
            raise _bad(prefix + key, "is required.", "为必填项。")
        return default
    return value


def _text(d: Mapping[str, Any], key: str, prefix: str = "") -> str:
    value = _get(d, key, prefix)
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
        raise _bad(prefix + key, "must be a non-empty string.", "必须是非空字符串。")
    return str(value).strip()


def _date(value: Any, field: str) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _DATE_RE.fullmatch(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise _bad(field, "must be a date YYYY-MM-DD.", "必须是日期，格式 YYYY-MM-DD。")


def _optional_date(d: Mapping[str, Any], key: str, prefix: str = "") -> date | None:
    value = _get(d, key, prefix, None)
    return None if value is None or value == "" else _date(value, prefix + key)


def _datetime(value: Any, field: str) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            return datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
        except ValueError:
            pass
    raise _bad(field, "must be a date-time YYYY-MM-DD HH:MM:SS.", "必须是日期时间，格式 YYYY-MM-DD HH:MM:SS。")


def _decimal(value: Any, field: str, *, positive: bool = False) -> Decimal:
    """Money and quantities arrive as strings or JSON numbers; a float goes through ``str`` so 0.1 stays 0.1."""
    try:
        if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
            raise InvalidOperation
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise _bad(field, "must be a decimal number.", "必须是数字。") from None
    if not number.is_finite() or number < 0 or (positive and number == 0):
        raise _bad(field, "must be a positive number." if positive else "must not be negative.",
                   "必须大于零。" if positive else "不能为负数。")
    return number


def _int(value: Any, field: str, minimum: int) -> int:
    if isinstance(value, bool):
        value = None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or value < minimum:
        raise _bad(field, f"must be a whole number of at least {minimum}.", f"必须是不小于 {minimum} 的整数。")
    return value


def _strings(d: Mapping[str, Any], key: str, prefix: str = "", *, required: bool = True) -> tuple[str, ...]:
    value = _get(d, key, prefix, _MISSING if required else [])
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v.strip() for v in value):
        raise _bad(prefix + key, "must be a list of non-empty strings.", "必须是非空字符串列表。")
    return tuple(v.strip() for v in value)


def _choice(value: Any, field: str, allowed: tuple[str, ...]) -> Any:
    if value not in allowed:
        raise _bad(field, f"must be one of {', '.join(allowed)}.", f"必须是 {'、'.join(allowed)} 之一。")
    return value


def _flag(d: Mapping[str, Any], key: str) -> bool:
    value = _get(d, key, "", False)
    if not isinstance(value, bool):
        raise _bad(key, "must be true or false.", "必须是 true 或 false。")
    return value


def _mapping(d: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(d, Mapping):
        raise InvalidInput(f"{what} must be a JSON object.", f"{what} 必须是 JSON 对象。", field=what)
    return d


# --- the facts ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Patient:
    """The insured person as the insurer's 1101 answer names them."""

    psn_no: str
    insuplc_admdvs: str  # insured-place division, 6 digits; the first two are the province

    @classmethod
    def from_mapping(cls, d: dict) -> Patient:
        """Accepts ``{psn_no, insuplc_admdvs}`` or a 1101 output ``{baseinfo:{psn_no}, insuinfo:[{insuplc_admdvs}]}``."""
        d = _mapping(d, "patient")
        if "baseinfo" in d:
            psn_no = _text(_mapping(d["baseinfo"], "baseinfo"), "psn_no", "baseinfo.")
            insuinfo = d.get("insuinfo")
            if not isinstance(insuinfo, list) or not insuinfo:
                raise _bad("insuinfo", "must list the person's insurance.", "必须包含参保信息。")
            field = "insuinfo[0].insuplc_admdvs"
            admdvs = _text(_mapping(insuinfo[0], "insuinfo[0]"), "insuplc_admdvs", "insuinfo[0].")
        else:
            psn_no, admdvs, field = _text(d, "psn_no"), _text(d, "insuplc_admdvs"), "insuplc_admdvs"
        if not _ADMDVS_RE.fullmatch(admdvs):
            raise _bad(field, "must be a 6-digit division code.", "必须是 6 位行政区划代码。")
        return cls(psn_no, admdvs)


@dataclass(frozen=True)
class Filing:
    """One dual-channel filing (备案 / 用药资质) of the patient: drug by generic name, designated institution,
    responsible physicians and the validity window (待遇有效期, Jilin §二). ``review == "pending"`` means the
    hospital insurance office's review is required and not yet given (Jilin §四(一), attachment 2 drugs)."""

    generic_name: str
    institution_code: str
    hosp_lv: str
    physicians: tuple[str, ...]
    begin: date
    end: date
    review: Review
    cross_region_approved: bool = False

    @classmethod
    def from_mapping(cls, d: dict) -> Filing:
        """The body of ``POST /sandbox/filings`` (its ``psn_no`` is the caller's business and is ignored here).

        ``hosp_lv`` may be absent (the insurer's 5301 answer does not carry it): it is then "". ``physicians`` may
        be empty — an insurer's record without responsible physicians is a fact to refuse per line
        (PHYSICIAN_NOT_RESPONSIBLE), not a request to reject; no upper bound either (Chongqing allows 1–2,
        other regions differ)."""
        d = _mapping(d, "filing")
        begin, end = _date(_get(d, "begin", ""), "begin"), _date(_get(d, "end", ""), "end")
        if end < begin:
            raise _bad("end", "must not be before begin.", "不能早于开始日期。")
        return cls(
            generic_name=_text(d, "generic_name"),
            institution_code=_text(d, "institution_code"),
            hosp_lv=str(_get(d, "hosp_lv", "", "")).strip(),
            physicians=_strings(d, "physicians"),
            begin=begin,
            end=end,
            review=_choice(_get(d, "review", ""), "review", _REVIEWS),
            cross_region_approved=_flag(d, "cross_region_approved"),
        )


@dataclass(frozen=True)
class RxLine:
    med_list_codg: str
    qty: Decimal

    @classmethod
    def from_mapping(cls, d: dict, prefix: str = "") -> RxLine:
        d = _mapping(d, prefix.rstrip(".") or "line")
        return cls(_text(d, "med_list_codg", prefix), _decimal(_get(d, "qty", prefix), prefix + "qty", positive=True))


@dataclass(frozen=True)
class Prescription:
    """A circulated e-prescription (处方流转, national §5) as the platform holds it."""

    hi_rxno: str
    psn_no: str
    institution_code: str
    physician_code: str
    issued_at: datetime
    valid_days: int
    lines: tuple[RxLine, ...]
    status: RxStatus = "valid"

    @classmethod
    def from_mapping(cls, d: dict) -> Prescription:
        """The body of ``POST /sandbox/prescriptions``; ``status`` defaults to ``"valid"``.

        When ``valid_days`` is absent or 0 but the platform's ``valid_end_time`` (7203) is given, the days are
        counted from it, issue day included, so :func:`last_valid_day` is that end day. ``physician_code`` may be
        absent (7203 ``prsc_dr_code`` is optional): an unknown prescriber cannot be shown to be a responsible
        physician, so the line is refused per line (PHYSICIAN_NOT_RESPONSIBLE) rather than the request."""
        d = _mapping(d, "prescription")
        lines = _get(d, "lines", "")
        if not isinstance(lines, list) or not lines:
            raise _bad("lines", "must list at least one drug.", "至少需要一行药品。")
        issued_at = _datetime(_get(d, "issued_at", ""), "issued_at")
        valid_days = _get(d, "valid_days", "", 0)
        if valid_days in (0, "0", "") and d.get("valid_end_time"):
            valid_end = _datetime(d["valid_end_time"], "valid_end_time").date()
            valid_days = (valid_end - issued_at.date()).days + 1
        return cls(
            hi_rxno=_text(d, "hi_rxno"),
            psn_no=_text(d, "psn_no"),
            institution_code=_text(d, "institution_code"),
            physician_code=str(_get(d, "physician_code", "", "")).strip(),
            issued_at=issued_at,
            valid_days=_int(valid_days, "valid_days", 1),
            lines=tuple(RxLine.from_mapping(line, f"lines[{i}].") for i, line in enumerate(lines)),
            status=_choice(_get(d, "status", "", "valid"), "status", _RX_STATUSES),
        )

    def prescribes(self, med_list_codg: str) -> bool:
        return any(line.med_list_codg == med_list_codg for line in self.lines)


@dataclass(frozen=True)
class CatalogEntry:
    """A dual-channel drug in the insurer's catalogue: its negotiated payment standard (支付标准), category and
    negotiation agreement period, plus what identifies its packs (traceability-code prefixes, GTINs)."""

    med_list_codg: str
    generic_name: str
    drug_name: str
    spec: str
    category: str
    payment_standard: Decimal
    agreement_end: date | None
    transition_end: date | None
    trace_prefixes: tuple[str, ...]
    gtins: tuple[str, ...]
    split_units: int | None

    @classmethod
    def from_mapping(cls, d: dict) -> CatalogEntry:
        """The body of ``POST /sandbox/catalog`` plus optional ``gtins``. A ``transition_end`` needs an
        ``agreement_end`` and may not precede it: the transition only ever extends the agreement period."""
        d = _mapping(d, "catalog entry")
        agreement_end = _optional_date(d, "agreement_end")
        transition_end = _optional_date(d, "transition_end")
        if transition_end is not None and (agreement_end is None or transition_end < agreement_end):
            raise _bad("transition_end", "must follow an agreement_end.", "必须晚于协议到期日 agreement_end。")
        split_units = _get(d, "split_units", "", None)
        return cls(
            med_list_codg=_text(d, "med_list_codg"),
            generic_name=_text(d, "generic_name"),
            drug_name=_text(d, "drug_name"),
            spec=_text(d, "spec"),
            category=_text(d, "category"),
            payment_standard=_decimal(_get(d, "payment_standard", ""), "payment_standard"),
            agreement_end=agreement_end,
            transition_end=transition_end,
            trace_prefixes=_strings(d, "trace_prefixes"),
            gtins=_strings(d, "gtins", required=False),
            split_units=None if split_units is None else _int(split_units, "split_units", 1),
        )


# --- the checks ---------------------------------------------------------------------------------------------------

def last_valid_day(prescription: Prescription) -> date:
    """The last day a prescription may be dispensed: the issue day counts as day 1, so a 3-day prescription
    issued on the 1st is valid on the 1st, 2nd and 3rd (``issued_at.date() + valid_days − 1``)."""
    return prescription.issued_at.date() + timedelta(days=prescription.valid_days - 1)


def last_settlement_day(entry: CatalogEntry, policy: PolicyView) -> date | None:
    """The last day the fund pays for this drug, or None when its agreement has no end.

    The agreement period is covered (Chongqing §二(六)); after it a withdrawn drug keeps an exit transition
    (Shanxi §一(三) "3个月左右的过渡期"): the catalogue's own ``transition_end`` when given, else
    ``agreement_end + policy.exit_transition_days`` (0 in Chongqing, where cover stops with the agreement).
    The transition never shortens the agreement itself, whatever the data says."""
    if entry.agreement_end is None:
        return entry.transition_end
    if entry.transition_end is not None:
        return max(entry.agreement_end, entry.transition_end)
    return entry.agreement_end + timedelta(days=max(0, policy.exit_transition_days))


def _generic_key(name: str) -> str:
    # Full-width and half-width brackets/letters and stray spaces must not split one generic name in two.
    return "".join(unicodedata.normalize("NFKC", name).split()).casefold()


def find_filing(filings: Iterable[Filing], generic_name: str, today: date) -> Filing | None:
    """The patient's filing for this generic name (通用名管理, Jilin §一), or None.

    The filing is the patient's, not the pharmacy's: a first filing at any institution is recognised across the
    province (Jiangxi §二(四)5 "首次备案，全省互认"), so no pharmacy is matched here. When several match, one valid
    today wins (the latest begun, i.e. after a change of designated hospital, Chongqing §四(三)); else the next one
    to start (the pharmacist can tell the patient when to come back); else the one that ended last."""
    key = _generic_key(generic_name)
    matching = [f for f in filings if _generic_key(f.generic_name) == key]
    current = [f for f in matching if f.begin <= today <= f.end]
    if current:
        return max(current, key=lambda f: (f.begin, f.end))
    upcoming = [f for f in matching if today < f.begin]
    if upcoming:
        return min(upcoming, key=lambda f: (f.begin, f.end))
    return max(matching, key=lambda f: (f.end, f.begin), default=None)


def check_prescription(patient: Patient, prescription: Prescription, today: date) -> list[str]:
    """Reasons the prescription cannot be dispensed to this patient today (national §5 处方流转, Jilin §四(三)).

    ``RX_EXPIRED`` when the platform says so or today is past :func:`last_valid_day`. A prescription dated after
    today (a clock difference between systems) is not refused here."""
    reasons = []
    if prescription.psn_no != patient.psn_no:
        reasons.append("RX_PATIENT_MISMATCH")
    if prescription.status == "revoked":
        reasons.append("RX_REVOKED")
    if prescription.status == "dispensed":
        reasons.append("RX_ALREADY_DISPENSED")
    if prescription.status == "expired" or today > last_valid_day(prescription):
        reasons.append("RX_EXPIRED")
    return reasons


def _province(admdvs: str) -> str:
    return admdvs.strip()[:2]


def _filing_reasons(patient: Patient, filing: Filing, prescription: Prescription | None, policy: PolicyView,
                    today: date, pharmacy_admdvs: str | None) -> list[str]:
    reasons = []
    if today < filing.begin:
        reasons.append("FILING_NOT_STARTED")
    elif today > filing.end:
        reasons.append("FILING_EXPIRED")
    if prescription is not None:
        if prescription.institution_code != filing.institution_code:
            reasons.append("INSTITUTION_MISMATCH")  # 定医院, Chongqing §四(三)
        if prescription.physician_code not in filing.physicians:
            reasons.append("PHYSICIAN_NOT_RESPONSIBLE")  # Chongqing §四(四) 其余医师开具的相关药品处方不予报销
    if filing.review == "pending":
        reasons.append("REVIEW_PENDING")  # Jilin §四(一), attachment 2
    here = _province(pharmacy_admdvs or policy.admdvs)
    if _province(patient.insuplc_admdvs) != here and not filing.cross_region_approved:
        reasons.append("CROSS_REGION_REVIEW_PENDING")  # Jilin §四(一) 跨省异地 需由医保经办部门审核确定
    return reasons


def check_line(*, patient: Patient, filings: Iterable[Filing], prescription: Prescription | None,
               entry: CatalogEntry | None, policy: PolicyView, price: Decimal, donated: bool, today: date,
               pharmacy_admdvs: str | None = None) -> list[str]:
    """Reason codes why the fund may not pay for this line today, in :data:`REASON_ORDER`; [] = eligible.

    Without a catalogue entry nothing else can be judged (only ``NOT_IN_CATALOG``). Without a filing only
    ``NO_FILING`` is said of the filing; without a prescription the prescription checks are skipped (the caller
    decides whether a prescription is required). ``PRICE_ABOVE_STANDARD`` is a reason only under
    ``price_above_standard = "reject"`` (Chongqing §五(一)); under ``"selfpay"`` the split makes the excess
    self-paid. ``pharmacy_admdvs`` defaults to the region policy's division."""
    if entry is None:
        return ["NOT_IN_CATALOG"]
    reasons = []
    category = policy.categories.get(entry.category)
    if category is None or not category.pharmacy:
        reasons.append("CATEGORY_EXCLUDED")  # Jiangxi §二(三)1: class C is not settled at pharmacies
    last_day = last_settlement_day(entry, policy)
    if last_day is not None and today > last_day:
        reasons.append("AGREEMENT_EXPIRED")
    filing = find_filing(filings, entry.generic_name, today)
    if filing is None:
        reasons.append("NO_FILING")
    else:
        reasons += _filing_reasons(patient, filing, prescription, policy, today, pharmacy_admdvs)
    if prescription is not None:
        if not prescription.prescribes(entry.med_list_codg):
            reasons.append("NOT_ON_PRESCRIPTION")
        reasons += check_prescription(patient, prescription, today)
    if policy.price_above_standard == "reject" and price > entry.payment_standard:
        reasons.append("PRICE_ABOVE_STANDARD")
    if donated:
        reasons.append("DONATED_SUPPLY")  # Jilin §二: 无偿供药的费用，医保基金不予支付
    return sorted(reasons, key=REASON_ORDER.index)


def describe(codes: Iterable[str]) -> list[dict]:
    """The per-line reason objects of the API (code, English and Chinese message) for these codes."""
    return [reason(code) for code in codes]
