"""Identify a patient (1101) and read their dual-channel filings (5301).

The answer hands the POS a `patient_ref` instead of the ID number so later calls never carry personal data; the
unmasked identity stays in the local ledger, where 2101/2102 need it.
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from adapters.nhsa import transactions as tx
from adapters.nhsa.money import money as wire_money
from plugin import eligibility as rules
from plugin.errors import RxlaneError, UpstreamRefused
from plugin.store import Ledger, PatientRow
from plugin.privacy import mask_card, mask_certno, mask_middle, mask_name, mask_psn_no, mask_token
from plugin.upstream import Upstream, insurer_data

REF_RE = re.compile(r"P[0-9a-f]{24}")


@dataclass(frozen=True)
class Credential:
    """How the patient identifies: ``cert_type`` 01 e-voucher token, 02 ID number, 03 social-security card number
    (with the card's ``card_sn``)."""
    cert_type: str
    cert_no: str
    card_sn: str = ""
    psn_name: str = ""


def identify(ledger: Ledger, upstream: Upstream, cred: Credential, *, pii: bool = False) -> dict[str, Any]:
    try:
        out = upstream.query("1101", tx.person_info_input(cred.cert_type, cred.cert_no, cred.card_sn,
                                                         cred.psn_name))
    except UpstreamRefused as exc:
        raise RxlaneError("PATIENT_NOT_FOUND", details={"insurer": exc.err_msg}) from None
    with insurer_data("1101"):
        person = _person(out)
    filings_out = upstream.query("5301", tx.filing_query_input(person["psn_no"]),
                                 insuplc_admdvs=person["insuplc_admdvs"])
    with insurer_data("5301"):
        filings = [_filing(f) for f in tx.parse_filings(filings_out)]
        for f in filings:
            rules.Filing.from_mapping(f)   # judged later by the same rules: refuse a malformed one here
    ref = ledger.patients.save("P" + secrets.token_hex(12), person["psn_no"], cred.cert_type, cred.cert_no,
                               cred.card_sn, person, filings)
    return view(ref, person, filings, cert_type=cred.cert_type, cert_no=cred.cert_no, pii=pii)


def unknown_ref(ref: str) -> RxlaneError:
    # echo the reference only when it looks like one: an ID number typed into the wrong field must not come back
    shown = ref if REF_RE.fullmatch(ref) else mask_middle(ref[:64], 2, 2)
    return RxlaneError("PATIENT_NOT_FOUND", message="Unknown patient_ref; identify the patient first.",
                       message_zh="未找到该患者，请先读卡或扫码识别患者。", details={"patient_ref": shown})


def load(ledger: Ledger, ref: str) -> tuple[dict[str, Any], list[dict[str, Any]], PatientRow]:
    """The stored person, their filings and the row (with the credential) of a patient_ref."""
    row = ledger.patients.get(ref)
    if row is None:
        raise unknown_ref(ref)
    return row.person, row.filings, row


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
    raw = next((r for r in tx.as_rows(out.get("insuinfo")) if str(r.get("insutype")) == chosen.insutype), {})
    ytd = raw.get("ytd") if isinstance(raw.get("ytd"), dict) else {}
    return {
        "psn_no": parsed.psn_no, "psn_name": parsed.psn_name, "certno": parsed.certno, "gend": parsed.gend,
        "age": parsed.age, "insutype": chosen.insutype, "psn_type": chosen.psn_type,
        "insuplc_admdvs": chosen.insuplc_admdvs, "balc": str(chosen.balc),
        "ytd": {k: str(wire_money(ytd.get(k))) for k in ("deductible_paid", "fund_paid", "selfpay",
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
