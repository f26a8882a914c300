"""The sandbox insurer's verdict on a 2101/2102: the ONLY place the sandbox calls the pure rule modules.

For each ``drugdetail`` line: the catalogue entry, the person's filings and the circulated prescription are run
through ``plugin.eligibility.check_line``; then ``plugin.policy.split`` divides the money with the person's
year-to-date accumulators (docs/policies.md §2, §3). Keeping every call here means a drift of those interfaces is
fixed in one file. A line the pharmacy flagged as wholly self-paid (``fulamt_ownpay_flag: "1"``, sandbox field:
the pharmacist confirmed) is passed to the split as not eligible with its reasons; an ineligible line that is not
flagged refuses the whole message, as does a price above the payment standard under ``reject``.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from plugin.errors import REASONS, RxlaneError
from plugin.eligibility import Patient, check_line, find_filing
from plugin.policy import Policy, QuoteLine, QuoteRequest, Ytd, load_region, policy_from_mapping, split

from adapters.nhsa.money import LINE_MONEY, SETL_MONEY
from adapters.sandbox.books import Books, Person
from adapters.sandbox.messages import Refusal

__all__ = ["Adjudication", "adjudicate", "resolve_policy", "Policy", "SETL_MONEY"]

#: Not a refusal: the line is recorded for traceability and the fund pays nothing for it (Jilin §二).
NON_BLOCKING = {"DONATED_SUPPLY"}


def resolve_policy(policy: Any) -> Any:
    """A Policy object, a region name, or a mapping in the TOML schema (docs/configuration.md)."""
    if policy is None:
        return load_region("jiangxi")
    if isinstance(policy, str):
        return load_region(policy)
    if isinstance(policy, dict):
        return policy_from_mapping(policy)
    return policy


@dataclass
class DrugLine:
    """One parsed ``drugdetail`` item (validated by settle.py)."""
    feedetl_sn: str
    med_list_codg: str
    cnt: Decimal
    pric: Decimal
    det_item_fee_sumamt: Decimal
    rxno: str
    flagged: bool
    donated: bool


@dataclass
class Adjudication:
    split: dict[str, Decimal]               # setlinfo money fields
    lines: list[dict[str, Any]]             # per line: feedetl_sn, med_list_codg, eligible, reasons, amounts
    hi_rxno: str
    institution_code: str


def _short(code: str) -> str:
    spec = REASONS.get(code)
    if spec is None:
        return code
    return spec.message_zh.split("，")[0].rstrip("。")


def _line_reasons(books: Books, person: Person, line: DrugLine, pharmacy_admdvs: str) -> tuple[list[str], Any]:
    entry = books.catalog.get(line.med_list_codg)
    if entry is None:
        raise Refusal(f"药品{line.med_list_codg}：{_short('NOT_IN_CATALOG')}")
    prescription = None
    if line.rxno:
        rx = books.prescriptions.get(line.rxno)
        if rx is None:
            raise Refusal(f"药品{line.med_list_codg}：处方{line.rxno}不存在")
        prescription = replace(rx, status=books.rx_status(rx))
    elif not line.flagged:
        raise Refusal(f"药品{line.med_list_codg}：缺少医保电子处方编号[rxno]")
    reasons = check_line(patient=Patient(person.psn_no, person.insuplc_admdvs),
                         filings=books.filings_of(person.psn_no), prescription=prescription, entry=entry,
                         policy=books.policy, price=line.pric, donated=line.donated, today=books.today(),
                         pharmacy_admdvs=pharmacy_admdvs or None)
    if "PRICE_ABOVE_STANDARD" in reasons:
        raise Refusal(f"药品{line.med_list_codg}：{_short('PRICE_ABOVE_STANDARD')}（支付标准{entry.payment_standard}）")
    blocking = [r for r in reasons if r not in NON_BLOCKING]
    if blocking and not line.flagged:
        raise Refusal(f"药品{line.med_list_codg}：{_short(blocking[0])}")
    if line.flagged and not blocking:
        reasons = reasons + ["NOT_ELIGIBLE"]
    return reasons, entry


def adjudicate(books: Books, person: Person, *, insutype: str, acct_used: bool, lines: list[DrugLine],
               pharmacy_admdvs: str = "") -> Adjudication:
    quote_lines, hosp_levels, rx = [], [], None
    for line in lines:
        reasons, entry = _line_reasons(books, person, line, pharmacy_admdvs)
        filing = find_filing(books.filings_of(person.psn_no), entry.generic_name, books.today())
        if filing is not None:
            hosp_levels.append(filing.hosp_lv)
        if line.rxno and rx is None:
            rx = books.prescriptions[line.rxno]
        blocking = [r for r in reasons if r not in NON_BLOCKING]
        quote_lines.append(QuoteLine(med_list_codg=line.med_list_codg, category=entry.category, price=line.pric,
                                     qty=line.cnt, payment_standard=entry.payment_standard,
                                     eligible=not blocking, donated=line.donated, reasons=tuple(reasons)))
    ytd = Ytd(**{k: v for k, v in person.ytd.items()})
    request = QuoteRequest(insutype=insutype, hosp_lv=max(hosp_levels, default=None), acct_used=acct_used,
                           balc=person.balc, ytd=ytd, lines=quote_lines)
    try:
        result = split(books.policy, request)
    except RxlaneError as exc:
        raise Refusal(f"结算计算失败：{exc.message_zh}") from None
    money = {name: Decimal(str(getattr(result, name))) for name in SETL_MONEY}
    out_lines = []
    for line, quoted in zip(lines, _split_lines(result)):
        row = {"feedetl_sn": line.feedetl_sn, "med_list_codg": line.med_list_codg, "rxno": line.rxno,
               "cnt": str(line.cnt), "pric": str(line.pric), "det_item_fee_sumamt": str(line.det_item_fee_sumamt),
               "eligible": bool(_get(quoted, "eligible")), "reasons": _reason_codes(_get(quoted, "reasons")),
               "hi_nego_drug_flag": "1"}
        for name in LINE_MONEY:
            row[name] = str(Decimal(str(_get(quoted, name))))
        out_lines.append(row)
    return Adjudication(split=money, lines=out_lines, hi_rxno=rx.hi_rxno if rx else "",
                        institution_code=rx.institution_code if rx else "")


def _split_lines(result: Any) -> list[Any]:
    lines = getattr(result, "lines", None)
    if lines is None:
        lines = result.to_dict().get("lines", [])
    return list(lines)


def _get(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name)


def _reason_codes(reasons: Any) -> list[str]:
    return [r.get("code") if isinstance(r, dict) else getattr(r, "code", r) for r in (reasons or ())]
