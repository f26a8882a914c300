"""Identify a patient (1101) and read their dual-channel filings (5301).

The answer hands the POS a `patient_ref` instead of the ID number so later calls never carry personal data; the
unmasked identity stays in the local ledger, where 2101/2102 need it.
"""
from __future__ import annotations

import json
import secrets
from datetime import date
from decimal import Decimal
from typing import Any

from plugin.api.errors import RxlaneError
from plugin.api.models import IdentifyIn
from plugin.ledger import Ledger
from plugin.privacy import mask_card, mask_certno, mask_name, mask_psn_no, mask_token
from plugin.upstream import Upstream

PATIENT_NOT_FOUND_INFCODES = {-1}


def identify(ledger: Ledger, upstream: Upstream, req: IdentifyIn) -> dict[str, Any]:
    data = {"mdtrt_cert_type": req.mdtrt_cert_type, "mdtrt_cert_no": req.cert_no, "card_sn": req.card_sn,
            "begntime": "", "psn_cert_type": "01" if req.mdtrt_cert_type == "02" else "",
            "certno": req.cert_no if req.mdtrt_cert_type == "02" else "", "psn_name": req.psn_name}
    try:
        out = upstream.query("1101", {"data": data})
    except RxlaneError as exc:
        if exc.code == "UPSTREAM_REFUSED":
            raise RxlaneError("PATIENT_NOT_FOUND", details={"insurer": exc.details.get("err_msg")}) from None
        raise
    person = _person(out)
    filings_out = upstream.query("5301", {"data": {"psn_no": person["psn_no"]}},
                                 insuplc_admdvs=person["insuplc_admdvs"])
    filings = [_filing(f) for f in filings_out.get("feedetail") or []]
    ref = "P" + secrets.token_hex(12)
    ledger.save_patient(ref, person["psn_no"], req.mdtrt_cert_type, req.cert_no, req.card_sn, person, filings)
    return view(ref, person, filings, cert_type=req.mdtrt_cert_type, cert_no=req.cert_no)


def load(ledger: Ledger, ref: str) -> tuple[dict, list[dict], Any]:
    row = ledger.patient(ref)
    if row is None:
        raise RxlaneError("PATIENT_NOT_FOUND", message="Unknown patient_ref; identify the patient first.",
                          message_zh="未找到该患者，请先读卡或扫码识别患者。", details={"patient_ref": ref})
    return json.loads(row["person_json"]), json.loads(row["filings_json"]), row


def view(ref: str, person: dict, filings: list[dict], *, cert_type: str, cert_no: str,
         pii: bool = False, today: date | None = None) -> dict[str, Any]:
    today = today or date.today()
    masker = {"01": mask_token, "02": mask_certno, "03": mask_card}[cert_type]
    return {
        "patient_ref": ref,
        "person": {
            "psn_no": person["psn_no"] if pii else mask_psn_no(person["psn_no"]),
            "psn_name": person["psn_name"] if pii else mask_name(person["psn_name"]),
            "certno": person["certno"] if pii else mask_certno(person["certno"]),
            "gend": person.get("gend", ""), "age": person.get("age", ""),
        },
        "cert_type": cert_type,
        "cert_no": cert_no if pii else masker(cert_no),
        "insutype": person["insutype"],
        "psn_type": person.get("psn_type", ""),
        "insuplc_admdvs": person["insuplc_admdvs"],
        "balc": f"{Decimal(person['balc']):.2f}",
        "filings": [dict(f, valid_today=f["begin"] <= today.isoformat() <= f["end"]) for f in filings],
    }


def _person(out: dict) -> dict[str, Any]:
    base = out.get("baseinfo") or {}
    insu = out.get("insuinfo") or []
    if not base.get("psn_no") or not insu:
        raise RxlaneError("PATIENT_NOT_FOUND")
    # The dual-channel settlement uses the basic medical insurance: employees (310) before residents (390).
    insu = sorted(insu, key=lambda i: (str(i.get("insutype")) not in ("310", "390"), str(i.get("insutype"))))
    chosen = insu[0]
    ytd = chosen.get("ytd") or {}
    return {
        "psn_no": str(base["psn_no"]), "psn_name": str(base.get("psn_name", "")),
        "certno": str(base.get("certno", "")), "gend": str(base.get("gend", "")), "age": str(base.get("age", "")),
        "insutype": str(chosen.get("insutype")), "psn_type": str(chosen.get("psn_type", "")),
        "insuplc_admdvs": str(chosen.get("insuplc_admdvs", "")),
        "balc": str(Decimal(str(chosen.get("balc", "0")))),
        "ytd": {k: str(ytd.get(k, "0")) for k in ("deductible_paid", "fund_paid", "selfpay", "supplementary_paid")},
    }


def _filing(row: dict) -> dict[str, Any]:
    """5301 feedetail row with the sandbox's dual-channel fields → the Filing mapping of plugin.eligibility."""
    def day(value: Any) -> str:
        return str(value or "")[:10]
    review = row.get("review_stas") or row.get("review") or "none"
    return {
        "generic_name": row.get("drug_genname") or row.get("generic_name") or "",
        "institution_code": row.get("fixmedins_code") or row.get("institution_code") or "",
        "institution_name": row.get("fixmedins_name") or "",
        "hosp_lv": str(row.get("hosp_lv") or ""),
        "physicians": list(row.get("dr_codes") or row.get("physicians") or []),
        "begin": day(row.get("begndate") or row.get("begin")),
        "end": day(row.get("enddate") or row.get("end")),
        "review": review,
        "cross_region_approved": bool(row.get("cross_region_approved")),
        "opsp_dise_name": row.get("opsp_dise_name") or "",
    }
