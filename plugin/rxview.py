"""A circulated prescription as the counter sees it: each line judged by the 三定 rules before anything is sold —
``reasons`` certain, ``unknown`` left to the insurer at settlement (shown as 医保中心结算时核验)."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from plugin.errors import reason
from plugin.prescriptions import kept_status


def prescription_view(svc, person: dict, filings: list[dict], rx: dict) -> dict[str, Any]:
    lines = []
    rx = kept_status(svc.ledger, rx)
    judge = svc.sales.judge_for(person=person, filings=filings, rx=rx)
    for line in rx["lines"]:
        entry = svc.catalog.entry(line["med_list_codg"])
        verdict = judge(entry=entry, price=Decimal(entry["payment_standard"]) if entry else Decimal("0"),
                        donated=False)
        lines.append({**line, "generic_name": entry["generic_name"] if entry else line.get("drug_genname", ""),
                      "drug_name": entry["drug_name"] if entry else line.get("drug_prodname", ""),
                      "spec": entry["spec"] if entry else line.get("drug_spec", ""),
                      "category": entry["category"] if entry else "",
                      "payment_standard": entry["payment_standard"] if entry else None,
                      "eligible": verdict.eligible, "reasons": [reason(c) for c in verdict.reasons],
                      "unknown": [reason(c) for c in verdict.unknown]})
    return {**{k: rx.get(k) for k in ("hi_rxno", "institution_code", "institution_name", "physician_code",
                                      "physician_name", "issued_at", "valid_days", "valid_end_time", "status",
                                      "disease_code", "disease_name", "diag_name")},
            "lines": lines}
