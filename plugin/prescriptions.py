"""Circulated e-prescriptions (处方流转, docs/gateway.md 7202/7203): fetch by number or list a patient's.

The platform's answer is mapped to the `Prescription` mapping of plugin.eligibility, so the same rules judge it
here and in the sandbox.
"""
from __future__ import annotations

from typing import Any

from adapters.nhsa import transactions as tx
from plugin import eligibility as rules
from plugin.upstream import Upstream, insurer_data


def download(upstream: Upstream, *, hi_rxno: str = "", auth_rxno: str = "", epc_token: str = "",
             insuplc_admdvs: str = "") -> dict[str, Any]:
    out = upstream.query("7203", tx.rx_download_input(hi_rxno=hi_rxno, auth_rxno=auth_rxno, epc_token=epc_token),
                         insuplc_admdvs=insuplc_admdvs)
    with insurer_data("7203"):
        rx = as_mapping(tx.parse_rx(out))
        rules.Prescription.from_mapping(rx)   # judged later by the same rules: refuse a malformed one here
    return rx


def for_patient(upstream: Upstream, person: dict, cert_type: str, cert_no: str, card_sn: str) -> list[dict]:
    admdvs = person["insuplc_admdvs"]
    out = upstream.query("7202", tx.rx_query_input(cert_type, cert_no, card_sn, admdvs), insuplc_admdvs=admdvs)
    with insurer_data("7202"):
        rows = [(str(row.get("auth_rxno") or ""), str(row.get("hi_rxno") or "")) for row in tx.parse_rx_list(out)]
    return [download(upstream, auth_rxno=auth, hi_rxno=rxno, insuplc_admdvs=admdvs) for auth, rxno in rows
            if auth or rxno]


def as_mapping(rx: tx.Rx) -> dict[str, Any]:
    return {
        "hi_rxno": rx.hi_rxno, "psn_no": rx.psn_no, "institution_code": rx.fixmedins_code,
        "institution_name": rx.fixmedins_name, "physician_code": rx.prsc_dr_code,
        "physician_name": rx.prsc_dr_name, "issued_at": rx.prsc_time, "valid_days": rx.valid_days,
        "valid_end_time": rx.valid_end_time, "status": rx.rx_stas_codg or "valid",
        "lines": [{"med_list_codg": l.med_list_codg, "qty": str(l.drug_cnt.normalize()),
                   "drug_genname": l.drug_genname, "drug_spec": l.drug_spec, "unit": l.drug_cnt_unit}
                  for l in rx.lines],
    }
