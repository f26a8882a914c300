"""Circulated e-prescriptions (处方流转, nhsa.md 7202/7203): fetch by number or list a patient's.

The platform's answer is mapped to the `Prescription` mapping of plugin.eligibility, so the same rules judge it
here and in the sandbox.
"""
from __future__ import annotations

from typing import Any

from plugin.upstream import Upstream


def download(upstream: Upstream, *, hi_rxno: str = "", auth_rxno: str = "", epc_token: str = "",
             insuplc_admdvs: str = "") -> dict[str, Any]:
    data = {k: v for k, v in {"hi_rxno": hi_rxno, "auth_rxno": auth_rxno, "epc_token": epc_token}.items() if v}
    out = upstream.query("7203", {"data": data}, insuplc_admdvs=insuplc_admdvs)
    return from_7203(out["data"] if isinstance(out.get("data"), dict) else out)


def for_patient(upstream: Upstream, person: dict, cert_type: str, cert_no: str, card_sn: str) -> list[dict]:
    out = upstream.query("7202", {"data": {"mdtrt_cert_type": cert_type, "mdtrt_cert_no": cert_no,
                                           "card_sn": card_sn, "insuplc_admdvs": person["insuplc_admdvs"]}},
                         insuplc_admdvs=person["insuplc_admdvs"])
    rows = out.get("rxlist") or (out.get("data") if isinstance(out.get("data"), list) else [])
    found = []
    for row in rows:
        if row.get("auth_rxno") or row.get("hi_rxno"):
            found.append(download(upstream, auth_rxno=row.get("auth_rxno", ""), hi_rxno=row.get("hi_rxno", ""),
                                  insuplc_admdvs=person["insuplc_admdvs"]))
    return found


def from_7203(out: dict[str, Any]) -> dict[str, Any]:
    info = out.get("mdtrtinfo") or {}
    return {
        "hi_rxno": str(out.get("hi_rxno", "")),
        "psn_no": str(info.get("psn_no") or out.get("psn_no") or ""),
        "institution_code": str(out.get("fixmedins_code", "")),
        "institution_name": str(out.get("fixmedins_name", "")),
        "physician_code": str(info.get("prsc_dr_code") or out.get("prsc_dr_code") or ""),
        "physician_name": str(info.get("prsc_dr_name") or out.get("prsc_dr_name") or ""),
        "issued_at": str(out.get("prsc_time", "")),
        "valid_days": int(out.get("valid_days") or 0),
        "valid_end_time": str(out.get("valid_end_time", "")),
        "status": str(out.get("rx_stas_codg") or out.get("status") or "valid"),
        "lines": [{"med_list_codg": str(d.get("med_list_codg")), "qty": str(d.get("drug_cnt", "0")),
                   "drug_genname": d.get("drug_genname", ""), "drug_spec": d.get("drug_spec", "")}
                  for d in out.get("rxdrugdetail") or []],
        "diagnoses": [d.get("dise_name") or d.get("diag_name", "") for d in out.get("diseinfo") or []],
    }
