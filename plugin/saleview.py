"""A sale as the POS sees it: lines with eligibility reasons in both languages, the split, the journal, links."""
from __future__ import annotations

from typing import Any

from plugin.errors import reason
from plugin.outbox import sale_uploads
from plugin.privacy import mask_name, mask_psn_no
from plugin.sales import UNCONFIRMABLE
from plugin.store import Ledger

_RX_FIELDS = ("hi_rxno", "institution_code", "institution_name", "physician_code", "physician_name", "issued_at",
              "valid_days", "status")


def sale_view(ledger: Ledger, sale_id: str, *, pii: bool = False) -> dict[str, Any]:
    sale = ledger.sales.get(sale_id)
    codes = ledger.trace_codes.for_sale(sale_id)
    prow = ledger.patients.get(sale.patient_ref)
    person = prow.person if prow else {}
    split = sale.split.to_dict() if sale.split else None
    return {
        "id": sale.id, "state": sale.state.value, "created_at": sale.created_at, "updated_at": sale.updated_at,
        "biz_date": sale.biz_date, "patient_ref": sale.patient_ref,
        "patient": {"psn_no": sale.psn_no if pii else mask_psn_no(sale.psn_no),
                    "psn_name": person.get("psn_name", "") if pii else mask_name(person.get("psn_name", "")),
                    "insutype": sale.insutype},
        "hi_rxno": sale.hi_rxno,
        "prescription": {k: sale.rx[k] for k in _RX_FIELDS if k in sale.rx} if sale.rx else None,
        "acct_used": sale.acct_used, "confirm_selfpay": sale.confirm_selfpay,
        "medfee_sumamt": f"{sale.medfee_sumamt:.2f}",
        "lines": [{
            "line_no": ln.line_no, "med_list_codg": ln.med_list_codg, "generic_name": ln.generic_name,
            "drug_name": ln.drug_name, "spec": ln.spec, "category": ln.category, "qty": str(ln.qty),
            "price": f"{ln.price:.2f}", "payment_standard": f"{ln.payment_standard:.2f}",
            "line_total": f"{ln.line_total:.2f}", "donated": ln.donated, "trdn_flag": int(ln.trdn),
            "eligible": ln.eligible, "reasons": [reason(c) for c in ln.reasons],
            "unknown": [reason(c) for c in ln.unknown],      # rules the insurer decides at settlement
            # an ineligible line may be sold wholly self-paid (全自费) on the pharmacist's confirmation, unless a
            # reason forbids dispensing at all (plugin/sales.py UNCONFIRMABLE: the prescription is unusable …)
            "confirmable": ln.eligible or ln.donated or not (UNCONFIRMABLE & set(ln.reasons)),
            "trace_codes": [c.code for c in codes if c.line_no == ln.line_no and not c.released],
        } for ln in sale.lines],
        "presettle": sale.presettle,
        "setl_id": sale.setl_id, "mdtrt_id": sale.mdtrt_id, "setl_time": sale.setl_time,
        "split": split,
        "estimate": sale.estimate.to_dict() if sale.estimate else None,
        "mismatch": sale.mismatch,
        "psn_cash_pay": split["psn_cash_pay"] if split else None,
        "refund": sale.refund,
        "last_error": sale.last_error,
        "journal": ledger.journal.for_sale(sale_id),
        "uploads": sale_uploads(ledger, sale_id),
        "links": {"self": f"/v1/sales/{sale_id}", "slip_txt": f"/v1/sales/{sale_id}/slip.txt",
                  "slip_png": f"/v1/sales/{sale_id}/slip.png"},
    }


def day_sales(ledger: Ledger, day: str) -> list[dict[str, Any]]:
    out = []
    for s in ledger.sales.of_day(day):
        split = s.split
        out.append({"id": s.id, "state": s.state.value, "created_at": s.created_at,
                    "medfee_sumamt": f"{s.medfee_sumamt:.2f}", "setl_id": s.setl_id, "hi_rxno": s.hi_rxno,
                    "fund_pay_sumamt": f"{split.fund_pay_sumamt:.2f}" if split else None,
                    "psn_cash_pay": f"{split.psn_cash_pay:.2f}" if split else None})
    return out
