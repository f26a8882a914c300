"""The "three fixed" (三定) eligibility checks: may the fund pay for this dual-channel line today?

Each rule is decided from facts where the facts exist, and reported *unknown* where they do not: the gateway does
not send a filing's drug, designated hospital or responsible physicians, nor a drug's category or payment standard
(docs/data-sources.md). The counter decides what it can from real data — the province's imported list, the 5301
filings (disease and dates), the 5302 registrations, the downloaded prescription, its own ledger — and leaves the
rest to the insurer, whose refusal is mapped back to the same reason codes (the gateway profile's pattern table).
The insurer's double in the sandbox holds every fact and so decides every rule with the same function.

Implements docs/policies.md §2. Chongqing manages 定用药资质、定医院、定责任医师 (渝医保发〔2021〕12号 §四),
Jilin 定机构、定医师、定药品 by generic name (吉医保发〔2023〕29号 §一, §四(三)); a first filing is recognised across
the whole province (赣医保发〔2022〕2号 §二(四)5 "首次备案，全省互认"). Every failure is a stable reason code from
``plugin/errors.py`` ``REASONS``; an empty list means the line is eligible.

``judge_line`` returns a ``Verdict``: the reasons that are certain and the rules left unknown; ``check_line`` is
its certain reasons alone. Pure: values in, values out. No clock (``today`` is passed), no I/O, no Flask, no SQLite, so
the plug-in (before settling) and the sandbox (adjudicating as the insurer) reach the same verdict from the same facts.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, Protocol
from collections.abc import Iterable, Mapping

from plugin.errors import InvalidInput, reason

__all__ = [
    "Patient", "Filing", "RxLine", "Prescription", "CatalogEntry", "PolicyView", "REASON_ORDER", "Verdict",
    "judge_line", "check_line", "check_prescription", "find_filing", "describe", "last_settlement_day",
    "last_valid_day",
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
    @property
    def pharmacy(self) -> bool: ...


class _GatesView(Protocol):
    @property
    def hospital_review(self) -> bool: ...
    @property
    def cross_region_review(self) -> bool: ...


class PolicyView(Protocol):
    """The few attributes of ``plugin.policy`` ``Policy`` these checks read (kept structural so this module does
    not depend on the policy engine's internals)."""

    @property
    def admdvs(self) -> str: ...
    @property
    def exit_transition_days(self) -> int: ...
    @property
    def price_above_standard(self) -> str: ...   # "reject" | "selfpay"
    @property
    def categories(self) -> Mapping[str, _CategoryView]: ...


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
# A field that is None is a fact the source did not give: the rule that needs it is "unknown", never failed.

@dataclass(frozen=True)
class Patient:
    """The insured person as the insurer's 1101 answer names them."""

    psn_no: str
    insuplc_admdvs: str  # insured-place division, 6 digits; the first two are the province

    @classmethod
    def from_mapping(cls, d: Any) -> Patient:
        """Accepts ``{psn_no, insuplc_admdvs}`` or a 1101 output
        ``{baseinfo:{psn_no}, insuinfo:[{insuplc_admdvs}]}``."""
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
    """One filing (备案 / 用药资质) of the patient and its validity window (待遇有效期, Jilin §二).

    What the gateway's 5301 gives: the disease (``disease_code``/``disease_name``) and the dates. What only the
    insurer knows (the sandbox holds it): the drug by generic name, the designated institution, the responsible
    physicians, the hospital's level, the review state (``"pending"``: the hospital insurance office's review is
    required and not yet given, Jilin §四(一)) and a cross-province approval. None = not known."""

    begin: date
    end: date
    disease_code: str = ""
    disease_name: str = ""
    generic_name: str | None = None
    institution_code: str | None = None
    hosp_lv: str | None = None
    physicians: tuple[str, ...] | None = None
    review: Review | None = None
    cross_region_approved: bool | None = None

    @classmethod
    def from_mapping(cls, d: Any) -> Filing:
        """A filing as JSON. Either the insurer's full record (the sandbox's ``POST /sandbox/filings`` facts:
        ``generic_name, institution_code, physicians, begin, end, review``…) or a 5301 row as rxlane keeps it
        (``opsp_dise_code, opsp_dise_name, begin, end``). In the insurer's record an absent review, approval or
        physician list means none; in a 5301 row those facts are unknown. ``end`` may be empty (open-ended)."""
        d = _mapping(d, "filing")
        begin = _date(_get(d, "begin", ""), "begin")
        end_raw = _get(d, "end", "", "")
        end = date.max if end_raw in ("", None) else _date(end_raw, "end")
        if end < begin:
            raise _bad("end", "must not be before begin.", "不能早于开始日期。")
        insurers = d.get("generic_name") is not None   # the insurer's own record: what it does not say is "no"
        physicians = d.get("physicians", [] if insurers else None)
        review = d.get("review", "none" if insurers else None)
        approved = d.get("cross_region_approved", False if insurers else None)
        if approved is not None and not isinstance(approved, bool):
            raise _bad("cross_region_approved", "must be true or false.", "必须是 true 或 false。")
        return cls(
            begin=begin, end=end,
            disease_code=str(d.get("opsp_dise_code") or d.get("disease_code") or "").strip(),
            disease_name=str(d.get("opsp_dise_name") or d.get("disease_name") or "").strip(),
            generic_name=_text(d, "generic_name") if d.get("generic_name") is not None else None,
            institution_code=_text(d, "institution_code") if d.get("institution_code") is not None else None,
            hosp_lv=str(d["hosp_lv"]).strip() or None if d.get("hosp_lv") is not None else None,
            physicians=_strings({"physicians": physicians}, "physicians") if physicians is not None else None,
            review=_choice(review, "review", _REVIEWS) if review is not None else None,
            cross_region_approved=approved,
        )


@dataclass(frozen=True)
class RxLine:
    med_list_codg: str
    qty: Decimal

    @classmethod
    def from_mapping(cls, d: Any, prefix: str = "") -> RxLine:
        d = _mapping(d, prefix.rstrip(".") or "line")
        return cls(_text(d, "med_list_codg", prefix), _decimal(_get(d, "qty", prefix), prefix + "qty", positive=True))


@dataclass(frozen=True)
class Prescription:
    """A circulated e-prescription (处方流转, national §5). ``physician_code`` is the prescriber's national
    physician code where known (the platform's answer names the prescriber; a code only for the diagnosing
    physician); ``disease_code`` the diagnosis the prescription is for. ``status`` None = the platform did not
    say (its download answer carries no status; a dispensed or revoked prescription is refused by the platform)."""

    hi_rxno: str
    psn_no: str
    institution_code: str
    issued_at: datetime
    valid_days: int
    lines: tuple[RxLine, ...]
    physician_code: str | None = None
    disease_code: str = ""
    status: RxStatus | None = "valid"

    @classmethod
    def from_mapping(cls, d: Any) -> Prescription:
        """A prescription as JSON (``POST /sandbox/prescriptions`` wave-1 body, or rxlane's downloaded copy).

        When the platform's ``valid_end_time`` (7203) is given it decides: the days are counted from it, issue day
        included, so :func:`last_valid_day` is that end day (``valid_days`` may disagree with it by a day).
        ``physician_code`` may be absent: the responsible-physician rule is then unknown."""
        d = _mapping(d, "prescription")
        lines = _get(d, "lines", "")
        if not isinstance(lines, list) or not lines:
            raise _bad("lines", "must list at least one drug.", "至少需要一行药品。")
        issued_at = _datetime(_get(d, "issued_at", ""), "issued_at")
        valid_days = _get(d, "valid_days", "", 0)
        if d.get("valid_end_time"):
            valid_end = _datetime(d["valid_end_time"], "valid_end_time").date()
            valid_days = (valid_end - issued_at.date()).days + 1
        code = d.get("physician_code")
        status = d.get("status", "valid")
        return cls(
            hi_rxno=_text(d, "hi_rxno"),
            psn_no=_text(d, "psn_no"),
            institution_code=_text(d, "institution_code"),
            issued_at=issued_at,
            valid_days=_int(valid_days, "valid_days", 1),
            lines=tuple(RxLine.from_mapping(line, f"lines[{i}].") for i, line in enumerate(lines)),
            physician_code=str(code).strip() or None if code is not None else None,
            disease_code=str(d.get("disease_code") or "").strip(),
            status=_choice(status, "status", _RX_STATUSES) if status is not None else None,
        )

    def prescribes(self, med_list_codg: str) -> bool:
        return any(line.med_list_codg == med_list_codg for line in self.lines)


@dataclass(frozen=True)
class CatalogEntry:
    """A dual-channel drug as the province's published list gives it: its negotiated payment standard (支付标准),
    category and negotiation agreement period, plus what identifies its packs (traceability-code prefixes,
    GTINs)."""

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
    def from_mapping(cls, d: Any) -> CatalogEntry:
        """The body of ``POST /sandbox/catalog`` (wave 1) or a list entry. A ``transition_end`` needs an
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
            trace_prefixes=_strings(d, "trace_prefixes", required=False),
            gtins=_strings(d, "gtins", required=False),
            split_units=None if split_units is None else _int(split_units, "split_units", 1),
        )


@dataclass(frozen=True)
class Verdict:
    """What the rules say of one line: ``reasons`` certain (the fund will not pay; in :data:`REASON_ORDER`) and
    ``unknown`` the rules that need facts rxlane does not have (left to the insurer at settlement)."""

    reasons: tuple[str, ...] = ()
    unknown: tuple[str, ...] = ()

    @property
    def eligible(self) -> bool:
        return not self.reasons


# --- the checks ---------------------------------------------------------------------------------------------------

def last_valid_day(prescription: Prescription) -> date:
    """The last day a prescription may be dispensed: the issue day counts as day 1, so a 3-day prescription
    issued on the 1st is valid on the 1st, 2nd and 3rd (``issued_at.date() + valid_days − 1``)."""
    return prescription.issued_at.date() + timedelta(days=prescription.valid_days - 1)


def last_settlement_day(entry: CatalogEntry, policy: PolicyView) -> date | None:
    """The last day the fund pays for this drug, or None when its agreement has no end.

    The agreement period is covered (Chongqing §二(六)); after it a withdrawn drug keeps an exit transition
    (Shanxi §一(三) "3个月左右的过渡期"): the list's own ``transition_end`` when given, else
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


def _pick(matching: list[Filing], today: date) -> Filing | None:
    """Of several matching filings: one valid today wins (the latest begun, i.e. after a change of designated
    hospital, Chongqing §四(三)); else the next one to start (the pharmacist can tell the patient when to come
    back); else the one that ended last."""
    current = [f for f in matching if f.begin <= today <= f.end]
    if current:
        return max(current, key=lambda f: (f.begin, f.end))
    upcoming = [f for f in matching if today < f.begin]
    if upcoming:
        return min(upcoming, key=lambda f: (f.begin, f.end))
    return max(matching, key=lambda f: (f.end, f.begin), default=None)


def find_filing(filings: Iterable[Filing], generic_name: str, today: date) -> Filing | None:
    """The patient's filing for this generic name (通用名管理, Jilin §一), or None. The filing is the patient's,
    not the pharmacy's: a first filing is recognised across the province (Jiangxi §二(四)5 "首次备案，全省互认")."""
    key = _generic_key(generic_name)
    return _pick([f for f in filings if f.generic_name is not None and _generic_key(f.generic_name) == key], today)


def _filing_for(filings: list[Filing], entry: CatalogEntry | None, prescription: Prescription | None,
                today: date) -> tuple[Filing | None, bool]:
    """(the filing this line is judged against, whether that is known). Filings that name their drug (the
    insurer's) are matched by generic name; filings as 5301 answers them (a disease, no drug) by the
    prescription's disease code. No filing at all is a fact: the patient has none."""
    if not filings:
        return None, True
    if any(f.generic_name is not None for f in filings):
        if entry is None:
            return None, False
        return find_filing(filings, entry.generic_name, today), True
    disease = prescription.disease_code if prescription is not None else ""
    if not disease:
        return None, False
    return _pick([f for f in filings if f.disease_code == disease], today), True


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


class _Tally:
    def __init__(self) -> None:
        self.reasons: list[str] = []
        self.unknown: list[str] = []

    def rule(self, code: str, failed: bool | None) -> None:
        """``failed`` True: the reason holds; False: the rule passes; None: the facts are missing."""
        if failed is None:
            self.unknown.append(code)
        elif failed:
            self.reasons.append(code)

    def verdict(self) -> Verdict:
        order = REASON_ORDER.index
        return Verdict(tuple(sorted(set(self.reasons), key=order)),
                       tuple(sorted(set(self.unknown) - set(self.reasons), key=order)))


def _filing_rules(t: _Tally, patient: Patient, filing: Filing, prescription: Prescription | None,
                  policy: PolicyView, today: date, pharmacy_admdvs: str | None,
                  registrations: tuple[str, ...] | None) -> None:
    t.rule("FILING_NOT_STARTED", today < filing.begin)
    t.rule("FILING_EXPIRED", filing.begin <= today and today > filing.end)
    if prescription is not None:
        # 定医院 (Chongqing §四(三)): the filing's designated institution, else the 5302 registrations
        if filing.institution_code is not None:
            t.rule("INSTITUTION_MISMATCH", prescription.institution_code != filing.institution_code)
        elif registrations:
            t.rule("INSTITUTION_MISMATCH", prescription.institution_code not in registrations)
        else:
            t.rule("INSTITUTION_MISMATCH", None)
        # Chongqing §四(四) 其余医师开具的相关药品处方不予报销
        if filing.physicians is None or prescription.physician_code is None:
            t.rule("PHYSICIAN_NOT_RESPONSIBLE", None)
        else:
            t.rule("PHYSICIAN_NOT_RESPONSIBLE", prescription.physician_code not in filing.physicians)
    gates = getattr(policy, "gates", None)
    if gates is not None and gates.hospital_review:   # Jilin §四(一), attachment 2
        t.rule("REVIEW_PENDING", None if filing.review is None else filing.review == "pending")
    here = _province(pharmacy_admdvs or policy.admdvs)
    if gates is not None and gates.cross_region_review and _province(patient.insuplc_admdvs) != here:
        # Jilin §四(一) 跨省异地 需由医保经办部门审核确定
        approved = filing.cross_region_approved
        t.rule("CROSS_REGION_REVIEW_PENDING", None if approved is None else not approved)


def judge_line(*, patient: Patient, filings: Iterable[Filing] | None, prescription: Prescription | None,
               entry: CatalogEntry | None, policy: PolicyView, price: Decimal, donated: bool, today: date,
               pharmacy_admdvs: str | None = None, list_known: bool = True,
               registrations: tuple[str, ...] | None = None) -> Verdict:
    """The verdict on one line today (docs/policies.md §2).

    ``entry`` None: the drug is not in the dual-channel list (``NOT_IN_CATALOG``) when the list is known
    (``list_known``), else the catalogue rules are unknown. ``filings`` None: the insurer was not asked; [] it has
    none. Without a prescription the prescription checks are skipped (the caller decides whether one is
    required). ``PRICE_ABOVE_STANDARD`` is a reason only under ``price_above_standard = "reject"`` (Chongqing
    §五(一)); under ``"selfpay"`` the split makes the excess self-paid. ``pharmacy_admdvs`` defaults to the region
    policy's division."""
    t = _Tally()
    if entry is None and list_known:
        return Verdict(("NOT_IN_CATALOG",))
    if entry is None:
        for code in ("CATEGORY_EXCLUDED", "AGREEMENT_EXPIRED"):
            t.rule(code, None)
        if policy.price_above_standard == "reject":
            t.rule("PRICE_ABOVE_STANDARD", None)
    else:
        category = policy.categories.get(entry.category)
        t.rule("CATEGORY_EXCLUDED", category is None or not category.pharmacy)  # Jiangxi §二(三)1: class C
        last_day = last_settlement_day(entry, policy)
        t.rule("AGREEMENT_EXPIRED", last_day is not None and today > last_day)
        if policy.price_above_standard == "reject":
            t.rule("PRICE_ABOVE_STANDARD", price > entry.payment_standard)
    if filings is None:
        t.rule("NO_FILING", None)
    else:
        filing, known = _filing_for(list(filings), entry, prescription, today)
        if not known:
            t.rule("NO_FILING", None)
        elif filing is None:
            t.rule("NO_FILING", True)
        else:
            _filing_rules(t, patient, filing, prescription, policy, today, pharmacy_admdvs, registrations)
    if prescription is not None:
        if entry is not None:
            t.rule("NOT_ON_PRESCRIPTION", not prescription.prescribes(entry.med_list_codg))
        for reason_code in check_prescription(patient, prescription, today):
            t.rule(reason_code, True)
    t.rule("DONATED_SUPPLY", donated)  # Jilin §二: 无偿供药的费用，医保基金不予支付
    return t.verdict()


def check_line(**kwargs: Any) -> list[str]:
    """The certain reasons of :func:`judge_line` (for callers that hold every fact, like the insurer's double)."""
    return list(judge_line(**kwargs).reasons)


def describe(codes: Iterable[str]) -> list[dict]:
    """The per-line reason objects of the API (code, English and Chinese message) for these codes."""
    return [reason(code) for code in codes]
