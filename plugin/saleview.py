"""A sale as the POS sees it: lines with eligibility reasons in both languages, the split, the journal, links."""
from __future__ import annotations

import json
from typing import Any

from plugin.errors import reason
from plugin.ledger import Ledger
from plugin.privacy import mask_name, mask_psn_no


def sale_view(ledger: Ledger, sale_id: str, *, pii: bool = False) -> dict[str, Any]:
    row = ledger.query_one("SELECT * FROM sales WHERE id = ?", (sale_id,))
    lines = ledger.query("SELECT * FROM sale_lines WHERE sale_id = ? ORDER BY line_no", (sale_id,))
    codes = ledger.query("SELECT line_no, code, raw, kind, expiry, released FROM trace_codes WHERE sale_id = ? "
                         "ORDER BY id", (sale_id,))
    patient = ledger.patient(row["patient_ref"])
    person = json.loads(patient["person_json"]) if patient else {}
    split = json.loads(row["split_json"]) if row["split_json"] else None
    rx = json.loads(row["rx_json"]) if row["rx_json"] else None
    return {
        "id": row["id"], "state": row["state"], "created_at": row["created_at"], "updated_at": row["updated_at"],
        "biz_date": row["biz_date"], "patient_ref": row["patient_ref"],
        "patient": {"psn_no": row["psn_no"] if pii else mask_psn_no(row["psn_no"]),
                    "psn_name": person.get("psn_name", "") if pii else mask_name(person.get("psn_name", "")),
                    "insutype": row["insutype"]},
        "hi_rxno": row["hi_rxno"],
        "prescription": ({k: rx[k] for k in ("hi_rxno", "institution_code", "institution_name", "physician_code",
                                            "physician_name", "issued_at", "valid_days", "status") if k in rx}
                         if rx else None),
        "acct_used": bool(row["acct_used"]), "confirm_selfpay": bool(row["confirm_selfpay"]),
        "medfee_sumamt": row["medfee_sumamt"],
        "lines": [{
            "line_no": l["line_no"], "med_list_codg": l["med_list_codg"], "generic_name": l["generic_name"],
            "drug_name": l["drug_name"], "spec": l["spec"], "category": l["category"], "qty": l["qty"],
            "price": l["price"], "payment_standard": l["payment_standard"], "line_total": l["line_total"],
            "donated": bool(l["donated"]), "trdn_flag": l["trdn_flag"], "eligible": bool(l["eligible"]),
            "reasons": [reason(c) for c in json.loads(l["reasons_json"])],
            "trace_codes": [c["code"] for c in codes if c["line_no"] == l["line_no"] and not c["released"]],
        } for l in lines],
        "presettle": json.loads(row["presettle_json"]) if row["presettle_json"] else None,
        "setl_id": row["setl_id"], "mdtrt_id": row["mdtrt_id"], "setl_time": row["setl_time"],
        "split": split,
        "estimate": json.loads(row["estimate_json"]) if row["estimate_json"] else None,
        "mismatch": json.loads(row["mismatch_json"]) if row["mismatch_json"] else [],
        "psn_cash_pay": split["psn_cash_pay"] if split else None,
        "refund": json.loads(row["refund_json"]) if row["refund_json"] else None,
        "last_error": json.loads(row["last_error_json"]) if row["last_error_json"] else None,
        "journal": ledger.journal_for(sale_id),
        "links": {"self": f"/v1/sales/{sale_id}", "slip_txt": f"/v1/sales/{sale_id}/slip.txt",
                  "slip_png": f"/v1/sales/{sale_id}/slip.png"},
    }


def day_sales(ledger: Ledger, day: str) -> list[dict[str, Any]]:
    rows = ledger.query("SELECT id, state, created_at, medfee_sumamt, setl_id, split_json, hi_rxno FROM sales "
                        "WHERE biz_date = ? ORDER BY created_at, id", (day,))
    out = []
    for r in rows:
        split = json.loads(r["split_json"]) if r["split_json"] else None
        out.append({"id": r["id"], "state": r["state"], "created_at": r["created_at"],
                    "medfee_sumamt": r["medfee_sumamt"], "setl_id": r["setl_id"], "hi_rxno": r["hi_rxno"],
                    "fund_pay_sumamt": split["fund_pay_sumamt"] if split else None,
                    "psn_cash_pay": split["psn_cash_pay"] if split else None})
    return out
