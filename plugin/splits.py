"""The split the patient pays, from the insurer's answer, and where it differs from rxlane's own estimate.

The insurer settles the insured lines only (2101/2102 carry nothing else). A sale may also hold lines sold wholly
self-paid outside insurance (an ineligible line the pharmacist confirmed, a donated pack): the split shown for the
sale adds those to the insurer's settlement — as 全自费 (``fulamt_ownpay_amt``), personal part and cash — so that
fund + account + cash = the sale's total, always. Nothing of the insurer's is recomputed. The estimate uses the same
rules as the insurer; a difference is shown and audited, never silently corrected.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any
from collections.abc import Iterable

from adapters.nhsa.settlement import SetlInfo
from plugin.money import SPLIT_FIELDS, fen, wire
from plugin.sale import SaleLine

_ADDED_BY_SELFPAY = ("medfee_sumamt", "fulamt_ownpay_amt", "psn_part_amt", "psn_cash_pay")
_LINE_KEYS = ("fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt")


def feedetl_sn(sale_id: str, line_no: int) -> str:
    """The line serial 2101/2102 carry (unique within the sale) and the insurer's line detail echoes."""
    return f"{sale_id}-{line_no}"


def sale_split(setl: SetlInfo | None, sale_id: str, lines: Iterable[SaleLine],
               estimate: dict[str, Any]) -> dict[str, Any]:
    """The split object of the whole sale: the insurer's ``setl`` (None when no line went to the insurer) plus the
    self-paid lines. Per line: the insurer's detail (``detlcutinfo`` by ``feedetl_sn``) for insured lines, the
    whole line as 全自费 for the others; eligibility and reasons as the estimate has them."""
    lines = list(lines)
    split = {k: (setl.amounts[k] if setl is not None else Decimal("0")) for k in SPLIT_FIELDS}
    if setl is None:
        split["balc"] = Decimal(estimate.get("balc") or "0")
    outside = sum((ln.line_total for ln in lines if not ln.insured), Decimal("0"))
    for key in _ADDED_BY_SELFPAY:
        split[key] += outside
    out: dict[str, Any] = {k: wire(v) for k, v in split.items()}
    by_code = {line["med_list_codg"]: line for line in estimate.get("lines", [])}
    out["lines"] = []
    for ln in lines:
        shown = dict(by_code.get(ln.med_list_codg) or {"med_list_codg": ln.med_list_codg,
                                                       "eligible": ln.eligible, "reasons": []})
        shown["line_total"] = wire(ln.line_total)
        if not ln.insured:
            shown.update(fulamt_ownpay_amt=wire(ln.line_total), overlmt_selfpay="0.00", preselfpay_amt="0.00",
                         inscp_scp_amt="0.00")
        elif setl is not None:
            detail = setl.line(feedetl_sn(sale_id, ln.line_no)) or {}
            shown.update({k: wire(detail[k]) for k in _LINE_KEYS if k in detail})
        out["lines"].append(shown)
    return out


def compare(insurer: dict[str, Any], estimate: dict[str, Any]) -> list[dict[str, str]]:
    return [{"field": k, "insurer": insurer[k], "estimate": estimate[k]}
            for k in SPLIT_FIELDS if k in estimate and fen(insurer[k]) != fen(estimate[k])]
