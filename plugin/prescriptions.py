"""Circulated e-prescriptions (处方流转, docs/gateway.md 7202/7203): list the patient's, download each once.

7202 lists a patient's prescriptions with single-use authorisation numbers (``auth_rxno``) and no prescription
number; 7203 downloads one by its ``auth_rxno`` — once. The downloaded copy is kept in the ledger and everything
later reads it: the sale, the eligibility checks, the review (7204) and dispensing (7206) uploads, which carry the
``auth_rxno`` as ``download_ide_code``. A listing that shows a prescription already kept (same institution and
prescription time) does not download it again.

The downloaded answer is mapped to the mapping ``plugin.eligibility.Prescription.from_mapping`` reads: the
prescriber is a name; the physician code is taken only where the diagnosing physician (the one code the answer has)
is the prescriber.
"""
from __future__ import annotations

from typing import Any

from adapters.nhsa import prescriptions as rxx
from plugin.eligibility import Prescription
from plugin.errors import RxlaneError, UpstreamRefused
from plugin.store import Ledger, PatientRow
from plugin.upstream import Upstream, insurer_data


def as_mapping(rx: rxx.Rx, download_ide_code: str) -> dict[str, Any]:
    """A downloaded prescription as rxlane keeps it."""
    physician_code = rx.dise_dor_no if rx.dise_dor_no and rx.dise_dor_name == rx.prsc_dr_name else None
    return {
        "hi_rxno": rx.hi_rxno, "psn_no": rx.psn_no, "institution_code": rx.fixmedins_code,
        "institution_name": rx.fixmedins_name, "physician_code": physician_code, "physician_name": rx.prsc_dr_name,
        "issued_at": rx.prsc_time, "valid_days": rx.valid_days, "valid_end_time": rx.valid_end_time,
        "disease_code": rx.dise_codg, "disease_name": rx.dise_name, "diag_name": rx.diag_name, "status": "valid",
        "download_ide_code": download_ide_code,
        "lines": [{"med_list_codg": ln.med_list_codg, "qty": str(ln.drug_cnt.normalize()),
                   "drug_genname": ln.drug_genname, "drug_prodname": ln.drug_prodname, "drug_spec": ln.drug_spec,
                   "drug_dosform": ln.drug_dosform, "prdr_name": ln.prdr_name, "unit": ln.drug_cnt_unit}
                  for ln in rx.lines],
    }


def download(upstream: Upstream, *, insuplc_admdvs: str, auth_rxno: str = "", epc_token: str = "") -> dict[str, Any]:
    """7203 by a single-use ``auth_rxno`` (or an ``epc_token``): the prescription as rxlane keeps it. A platform
    refusal (a dispensed or revoked prescription, a used authorisation) stays the insurer's refusal."""
    out = upstream.query("7203", rxx.rx_download_input(insuplc_admdvs=insuplc_admdvs, auth_rxno=auth_rxno,
                                                       epc_token=epc_token), insuplc_admdvs=insuplc_admdvs)
    with insurer_data("7203"):
        rx = as_mapping(rxx.parse_rx(out), auth_rxno or epc_token)
        # what the sale and the checks will read must be readable now: a copy kept unreadable (no psn_no, no
        # drugs, a bad time) would refuse every later listing of the patient's prescriptions as the POS's input
        Prescription.from_mapping(rx)
        return rx


def for_patient(ledger: Ledger, upstream: Upstream, row: PatientRow, *, terminal_ip: str, opter: str,
                opter_name: str, optins: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The patient's circulated prescriptions: (downloaded and kept, refused downloads). Each listed prescription
    is downloaded once; one already kept is read from the ledger."""
    admdvs = str(row.person.get("insuplc_admdvs", ""))
    out = upstream.query("7202", rxx.rx_query_input(
        mdtrt_cert_type=row.cert_type, mdtrt_cert_no=row.cert_no, card_sn=row.card_sn, insuplc_admdvs=admdvs,
        ip_info=terminal_ip, opter=opter, opter_name=opter_name, optins=optins), insuplc_admdvs=admdvs)
    with insurer_data("7202"):
        listed = rxx.parse_rx_list(out)
    kept = ledger.prescriptions.of_patient(row.patient_ref)
    found, refused = [], []
    for summary in listed:
        same = next((rx for rx in kept if rx["institution_code"] == summary.fixmedins_code
                     and rx["issued_at"] == summary.prsc_time), None)
        if same is not None:
            found.append(same)
            continue
        try:
            rx = download(upstream, insuplc_admdvs=admdvs, auth_rxno=summary.auth_rxno)
        except UpstreamRefused as exc:
            refused.append({"fixmedins_name": summary.fixmedins_name, "prsc_time": summary.prsc_time,
                            "err_msg": exc.err_msg})
            continue
        ledger.prescriptions.keep(rx["hi_rxno"], row.patient_ref, row.psn_no, summary.auth_rxno, rx)
        found.append(rx)
    return found, refused


def kept_status(ledger: Ledger, rx: dict[str, Any]) -> dict[str, Any]:
    """A kept prescription with its status as this store knows it: dispensed when one of its sales is settled (or
    on the way there)."""
    if ledger.sales.holding_prescription(rx["hi_rxno"]):
        return {**rx, "status": "dispensed"}
    return rx


def kept_for_sale(ledger: Ledger, hi_rxno: str, psn_no: str) -> dict[str, Any]:
    """The downloaded prescription a sale is made against (``kept_status``); ``RX_NOT_DOWNLOADED`` when it was
    never downloaded here."""
    rx = ledger.prescriptions.get(hi_rxno)
    if rx is None:
        raise RxlaneError("RX_NOT_DOWNLOADED", details={"hi_rxno": hi_rxno[:64]})
    return kept_status(ledger, rx)
