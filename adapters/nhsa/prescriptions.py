"""Electronic-prescription circulation, pharmacy side (docs/gateway.md 7201–7206, the Shenzhen numbering through the
gateway envelope): 7201 decodes an e-prescription QR into an ``epc_token``; 7202 lists a patient's circulated
prescriptions, each with a one-time authorisation number ``auth_rxno``; 7203 downloads one by ``auth_rxno`` or
``epc_token`` (never by ``hi_rxno``); 7204 uploads the pharmacist's review; 7206 the dispensing result.

The 7203 answer holds four sibling nodes: ``data`` (the prescription), ``rxdrugdetail`` (its drugs), ``mdtrtinfo``
(the visit: patient, prescriber's *name*) and ``diseinfo`` (diagnoses: the diagnosing physician's *code*
``dise_dor_no``). There is no prescription status: a dispensed or revoked prescription is refused by the platform
(its text says why), an expired one is past ``valid_end_time``.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from adapters.nhsa.errors import GatewayProtocolError
from adapters.nhsa.money import count, money
from adapters.nhsa.reading import as_object, as_rows, node, text


def qr_decode_input(epc_qrcd: str, *, app_chnl_id: str, app_chnl_user_id: str, dev_info: str, ip_info: str,
                    opter: str, opter_name: str, optins: str) -> dict[str, Any]:
    """【7201】 input: the e-prescription QR value and the terminal's identity."""
    return {"data": {"app_chnl_id": app_chnl_id, "app_chnl_user_id": app_chnl_user_id, "auth_code": "",
                     "dev_info": dev_info, "epc_qrcd": epc_qrcd, "ip_info": ip_info, "opter": opter,
                     "opter_name": opter_name, "optins": optins}}


@dataclass(frozen=True)
class RxToken:
    epc_token: str
    cert_type: str
    name: str
    certno: str
    insuplc_admdvs: str


def parse_qr_decode(output: dict[str, Any]) -> RxToken:
    d = as_object(node(output, "") if "epc_token" in output else node(output, "data"), "epc_token")
    return RxToken(epc_token=text(d, "epc_token"), cert_type=text(d, "cert_type"), name=text(d, "name"),
                   certno=text(d, "certno"), insuplc_admdvs=text(d, "insuplc_admdvs"))


def rx_query_input(*, mdtrt_cert_type: str, mdtrt_cert_no: str, card_sn: str, insuplc_admdvs: str, ip_info: str,
                   opter: str, opter_name: str, optins: str) -> dict[str, Any]:
    """【7202】 input: the patient's 就诊凭证 and insured place, and the terminal."""
    return {"data": {"mdtrt_cert_type": mdtrt_cert_type, "mdtrt_cert_no": mdtrt_cert_no, "card_sn": card_sn,
                     "insuplc_admdvs": insuplc_admdvs, "ip_info": ip_info, "opter": opter, "opter_name": opter_name,
                     "optins": optins}}


@dataclass(frozen=True)
class RxSummary:
    """One circulated prescription as 7202 lists it. ``auth_rxno`` is single use: it downloads the prescription
    once."""
    auth_rxno: str
    diag_name: str
    fixmedins_code: str
    fixmedins_name: str
    prsc_time: str
    dept_name: str
    valid_end_time: str


def parse_rx_list(output: dict[str, Any]) -> list[RxSummary]:
    """【7202】 output: one row as ``output`` itself, or rows under ``data``."""
    rows = [output] if "auth_rxno" in output else as_rows(node(output, "data"))
    return [RxSummary(auth_rxno=text(r, "auth_rxno"), diag_name=text(r, "diag_name"),
                      fixmedins_code=text(r, "fixmedins_code"), fixmedins_name=text(r, "fixmedins_name"),
                      prsc_time=text(r, "prsc_time"), dept_name=text(r, "dept_name"),
                      valid_end_time=text(r, "valid_end_time")) for r in rows if text(r, "auth_rxno")]


def rx_download_input(*, insuplc_admdvs: str, auth_rxno: str = "", epc_token: str = "") -> dict[str, Any]:
    """【7203】 input: ``auth_rxno`` (from 7202) or ``epc_token`` (from 7201), and the insured place."""
    return {"data": {"epc_token": epc_token, "auth_rxno": auth_rxno, "insuplc_admdvs": insuplc_admdvs}}


@dataclass(frozen=True)
class RxLine:
    med_list_codg: str
    drug_genname: str
    drug_prodname: str
    drug_dosform: str
    drug_spec: str
    prdr_name: str
    drug_cnt: Decimal
    drug_cnt_unit: str
    fixmedins_hilist_id: str = ""


@dataclass(frozen=True)
class Rx:
    """A downloaded prescription. The prescriber is a *name* (``mdtrtinfo.prsc_dr_name``); the only physician
    *code* in the answer is the diagnosing physician's (``diseinfo[].dise_dor_no``)."""
    hi_rxno: str
    fixmedins_code: str
    fixmedins_name: str
    prsc_time: str
    valid_days: int
    valid_end_time: str
    psn_no: str
    patn_name: str
    certno: str
    insuplc_admdvs: str
    insutype: str
    prsc_dr_name: str
    prsc_dept_name: str
    dise_codg: str
    dise_name: str
    diag_name: str
    dise_dor_no: str
    dise_dor_name: str
    lines: tuple[RxLine, ...]


def parse_rx(output: dict[str, Any]) -> Rx:
    """【7203】 output: ``data``, ``rxdrugdetail`` (list or one object), ``mdtrtinfo``, ``diseinfo``."""
    d = as_object(node(output, "data"), "data")
    if not text(d, "hi_rxno"):
        raise GatewayProtocolError("The prescription answer has no data.hi_rxno.", infno="7203")
    info = node(output, "mdtrtinfo")
    info = as_object(info, "mdtrtinfo") if info is not None else {}
    dise = as_rows(node(output, "diseinfo"))
    main = next((r for r in dise if text(r, "maindiag_flag") == "1"), dise[0] if dise else {})
    lines = tuple(RxLine(med_list_codg=text(r, "med_list_codg"), drug_genname=text(r, "drug_genname"),
                         drug_prodname=text(r, "drug_prodname"), drug_dosform=text(r, "drug_dosform"),
                         drug_spec=text(r, "drug_spec"), prdr_name=text(r, "prdr_name"),
                         drug_cnt=money(r.get("drug_cnt")), drug_cnt_unit=text(r, "drug_cnt_unit"),
                         fixmedins_hilist_id=text(r, "fixmedins_hilist_id"))
                  for r in as_rows(node(output, "rxdrugdetail")))
    return Rx(hi_rxno=text(d, "hi_rxno"), fixmedins_code=text(d, "fixmedins_code"),
              fixmedins_name=text(d, "fixmedins_name"), prsc_time=text(d, "prsc_time"),
              valid_days=count(d.get("valid_days")), valid_end_time=text(d, "valid_end_time"),
              psn_no=text(info, "psn_no"), patn_name=text(info, "patn_name"), certno=text(info, "certno"),
              insuplc_admdvs=text(info, "insuplc_admdvs"), insutype=text(info, "insutype"),
              prsc_dr_name=text(info, "prsc_dr_name"), prsc_dept_name=text(info, "prsc_dept_name"),
              dise_codg=text(info, "dise_codg"), dise_name=text(info, "dise_name"),
              diag_name=text(main, "diag_name") or text(info, "diag_name"),
              dise_dor_no=text(main, "dise_dor_no"), dise_dor_name=text(main, "dise_dor_name"), lines=lines)
