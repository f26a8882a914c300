"""The sandbox insurer's verdict on a 2101/2102: the ONLY place the sandbox calls the pure rule modules.

The insurer holds every fact, so each ``drugdetail`` line is judged with all of them through
``plugin.eligibility.check_line`` (docs/policies.md §2): the catalogue entry, the person's filings with their drug,
institution and responsible physicians, and the circulated prescription the line's ``rxno`` names (its
``hi_rxno``). The physician rule compares the line's ``bilg_dr_codg`` — or, when that is empty, ``bilg_dr_name`` —
with the filing's responsible physicians by code and name; a line naming neither is judged by the prescription's
own prescriber (the platform knows who prescribed). Any reason on any line refuses the whole message with the text
of refusals.py naming the drug. Otherwise ``plugin.policy.split`` divides the money with the person's year-to-date
accumulators (docs/policies.md §3). There is no self-paid or donated line: rxlane sends only insured lines.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from plugin.eligibility import REASON_ORDER, Patient, check_line, find_filing
from plugin.errors import RxlaneError
from plugin.policy import QuoteLine, QuoteRequest, Split, Ytd, load_region, policy_from_mapping, split

from adapters.sandbox.books import Books, CatalogRecord, Person, RxRecord
from adapters.sandbox.messages import Refusal
from adapters.sandbox.refusals import refusal_text


def resolve_policy(policy: Any) -> Any:
    """A Policy object, a region name, or a mapping in the TOML schema (docs/configuration.md)."""
    if policy is None:
        return load_region("jiangxi")
    if isinstance(policy, str):
        return load_region(policy)
    if isinstance(policy, dict):
        return policy_from_mapping(policy)
    return policy


@dataclass(frozen=True)
class DrugLine:
    """One ``drugdetail`` item as the sandbox read it (settle.py validated it)."""
    feedetl_sn: str
    med_list_codg: str
    cnt: Decimal
    pric: Decimal
    det_item_fee_sumamt: Decimal
    rxno: str
    bilg_dr_codg: str = ""
    bilg_dr_name: str = ""


@dataclass
class Adjudication:
    split: Split
    records: list[CatalogRecord]      # per line, the catalogue record it was judged against
    prescription: RxRecord | None     # the (first) prescription of the message
    hosp_lv: str | None


def _prescription(books: Books, line: DrugLine) -> RxRecord:
    if not line.rxno:
        raise Refusal(f"药品{line.med_list_codg}：处方号[rxno]不能为空（双通道药品须凭医保电子处方结算）")
    rx = books.prescriptions.get(line.rxno)
    if rx is None:
        raise Refusal(f"药品{line.med_list_codg}：未查询到处方[rxno]{line.rxno}")
    return rx


def _reasons(books: Books, person: Person, line: DrugLine, insutype: str, pharmacy_admdvs: str) -> list[str]:
    record = books.catalog.get(line.med_list_codg)
    rx = _prescription(books, line)
    prescriber = line.bilg_dr_codg or line.bilg_dr_name or rx.rule.physician_code
    prescription = replace(rx.rule, status=books.rx_status(rx), physician_code=prescriber or None)
    row = person.insurance(insutype)
    return check_line(patient=Patient(person.psn_no, str(row.get("insuplc_admdvs") or "")),
                      filings=[r.filing for r in books.filings_of(person.psn_no)], prescription=prescription,
                      entry=record.entry if record else None, policy=books.policy, price=line.pric, donated=False,
                      today=books.today(), pharmacy_admdvs=pharmacy_admdvs or None)


def adjudicate(books: Books, person: Person, *, insutype: str, acct_used: bool, lines: list[DrugLine],
               pharmacy_admdvs: str = "") -> Adjudication:
    """Judge every line, then split; ``Refusal`` naming the first failing drug and its first reason."""
    for line in lines:
        reasons = _reasons(books, person, line, insutype, pharmacy_admdvs)
        if reasons:
            code = min(reasons, key=REASON_ORDER.index)
            record = books.catalog.get(line.med_list_codg)
            raise Refusal(refusal_text(code, line.med_list_codg,
                                       payment_standard=record.entry.payment_standard if record else None))
    records = [books.catalog[line.med_list_codg] for line in lines]
    filings = [r.filing for r in books.filings_of(person.psn_no)]
    levels = [f.hosp_lv for f in (find_filing(filings, r.entry.generic_name, books.today()) for r in records)
              if f is not None and f.hosp_lv]
    quote = [QuoteLine(med_list_codg=line.med_list_codg, category=r.entry.category, price=line.pric, qty=line.cnt,
                       payment_standard=r.entry.payment_standard) for line, r in zip(lines, records, strict=True)]
    row = person.insurance(insutype)
    request = QuoteRequest(insutype=insutype, hosp_lv=max(levels, default=None), acct_used=acct_used,
                           balc=Decimal(str(row.get("balc") or "0")), ytd=Ytd(**person.cum), lines=quote)
    try:
        result = split(books.policy, request)
    except RxlaneError as exc:
        raise Refusal(f"结算计算失败：{exc.message_zh}") from None
    return Adjudication(split=result, records=records, prescription=books.prescriptions[lines[0].rxno],
                        hosp_lv=request.hosp_lv)
