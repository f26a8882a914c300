"""Identify a patient (1101) and read their dual-channel filings (5301).

The answer hands the POS a `patient_ref` instead of the ID number so later calls never carry personal data; the
unmasked identity stays in the local ledger, where 2101/2102 need it.
"""
from __future__ import annotations

import json
import re
import secrets
from datetime import date
from decimal import Decimal
from typing import Any

from adapters.nhsa import transactions as tx
from plugin import eligibility as rules
from plugin.errors import RxlaneError
from plugin.api.models import IdentifyIn
from plugin.ledger import Ledger
from plugin.privacy import mask_card, mask_certno, mask_middle, mask_name, mask_psn_no, mask_token
from plugin.upstream import Upstream, insurer_data

REF_RE = re.compile(r"P[0-9a-f]{24}")


def identify(ledger: Ledger, upstream: Upstream, req: IdentifyIn, *, pii: bool = False) -> dict[str, Any]:
    try:
        out = upstream.query("1101", tx.person_info_input(req.mdtrt_cert_type, req.cert_no, req.card_sn,
                                                         req.psn_name))
    except RxlaneError as exc:
        if exc.code == "UPSTREAM_REFUSED":
            raise RxlaneError("PATIENT_NOT_FOUND", details={"insurer": exc.details.get("err_msg")}) from None
        raise
    with insurer_data("1101"):
        person = _person(out)
    filings_out = upstream.query("5301", tx.filing_query_input(person["psn_no"]),
                                 insuplc_admdvs=person["insuplc_admdvs"])
    with insurer_data("5301"):
        filings = [_filing(f) for f in tx.parse_filings(filings_out)]
        for f in filings:
            rules.Filing.from_mapping(f)   # judged later by the same rules: refuse a malformed one here
    ref = ledger.save_patient("P" + secrets.token_hex(12), person["psn_no"], req.mdtrt_cert_type, req.cert_no,
                              req.card_sn, person, filings)
    return view(ref, person, filings, cert_type=req.mdtrt_cert_type, cert_no=req.cert_no, pii=pii)


def load(ledger: Ledger, ref: str) -> tuple[dict, list[dict], Any]:
    row = ledger.patient(ref)
    if row is None:
        # echo the reference only when it looks like one: an ID number typed into the wrong field must not come back
        shown = ref if REF_RE.fullmatch(ref) else mask_middle(ref[:64], 2, 2)
        raise RxlaneError("PATIENT_NOT_FOUND", message="Unknown patient_ref; identify the patient first.",
                          message_zh="未找到该患者，请先读卡或扫码识别患者。", details={"patient_ref": shown})
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
    base = out.get("baseinfo") if isinstance(out, dict) else None
    if not isinstance(base, dict) or not base.get("psn_no"):
        raise RxlaneError("PATIENT_NOT_FOUND")
    parsed = tx.parse_person(out)
    # The dual-channel settlement uses basic medical insurance: employees (310) before residents (390).
    insured = sorted(parsed.insuinfo, key=lambda i: (i.insutype not in ("310", "390"), i.insutype))
    if not insured:
        raise RxlaneError("PATIENT_NOT_FOUND")
    chosen = insured[0]
    raw = next((r for r in out.get("insuinfo") or [] if str(r.get("insutype")) == chosen.insutype), {})
    ytd = raw.get("ytd") if isinstance(raw.get("ytd"), dict) else {}
    return {
        "psn_no": parsed.psn_no, "psn_name": parsed.psn_name, "certno": parsed.certno, "gend": parsed.gend,
        "age": parsed.age, "insutype": chosen.insutype, "psn_type": chosen.psn_type,
        "insuplc_admdvs": chosen.insuplc_admdvs, "balc": str(chosen.balc),
        "ytd": {k: str(tx.money(ytd.get(k))) for k in ("deductible_paid", "fund_paid", "selfpay",
                                                       "supplementary_paid")},
    }


def _filing(row: tx.FilingRecord) -> dict[str, Any]:
    """5301 record with the sandbox's dual-channel fields → the Filing mapping of plugin.eligibility."""
    return {
        "generic_name": row.drug_genname, "institution_code": row.fixmedins_code,
        "institution_name": row.fixmedins_name, "hosp_lv": row.hosp_lv, "physicians": list(row.dr_codes),
        "begin": row.begndate[:10], "end": row.enddate[:10], "review": row.review_stas,
        "cross_region_approved": row.cross_region_approved, "opsp_dise_name": row.opsp_dise_name,
    }
