"""Who the patient is (【1101】), their chronic/special-disease filings (【5301】), designated institutions (【5302】)
and year-to-date accumulations (【5206】) — docs/gateway.md 1101, 5301, 5302, 5206.

Inputs are built for the three kinds of 就诊凭证 (``mdtrt_cert_type``): 01 the e-voucher token from the decode
service, with the identity it returned; 02 a resident ID number; 03 a social-security card number with its card
identification code (``card_sn``). Answers are read into typed records; parsers raise only GatewayProtocolError.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from adapters.nhsa.errors import GatewayProtocolError
from adapters.nhsa.money import money
from adapters.nhsa.reading import as_object, as_rows, node, text

E_VOUCHER, ID_NUMBER, SS_CARD = "01", "02", "03"
RESIDENT_ID = "01"      # psn_cert_type 居民身份证


def person_info_input(cert_type: str, cert_no: str, *, card_sn: str = "", psn_cert_type: str = RESIDENT_ID,
                      certno: str = "", psn_name: str = "") -> dict[str, Any]:
    """【1101】 input ``data``. For an ID number (02) the number is also ``certno``; for an e-voucher (01)
    ``psn_cert_type``/``certno``/``psn_name`` are the identity the decode service returned."""
    if cert_type == ID_NUMBER:
        certno = certno or cert_no
    return {"data": {"mdtrt_cert_type": cert_type, "mdtrt_cert_no": cert_no, "card_sn": card_sn, "begntime": "",
                     "psn_cert_type": psn_cert_type or RESIDENT_ID, "certno": certno, "psn_name": psn_name}}


@dataclass(frozen=True)
class Insurance:
    """One ``insuinfo`` row. ``balc`` is the personal account balance; None when the answer does not give it."""
    insutype: str
    balc: Decimal | None
    psn_type: str
    psn_insu_stas: str
    insuplc_admdvs: str
    emp_name: str = ""


@dataclass(frozen=True)
class Person:
    psn_no: str
    psn_cert_type: str
    certno: str
    psn_name: str
    gend: str
    brdy: str
    age: str
    insuinfo: tuple[Insurance, ...]
    idetinfo: tuple[dict[str, Any], ...] = ()

    @property
    def insurance(self) -> Insurance | None:
        """The insurance a dual-channel purchase settles under: an active row (psn_insu_stas 1, or unstated) of basic
        medical insurance, employees (310) before residents (390); else any active row; else the first."""
        active = [i for i in self.insuinfo if i.psn_insu_stas in ("1", "")]
        basic = sorted((i for i in active if i.insutype in ("310", "390")), key=lambda i: i.insutype)
        return next(iter(basic or active or self.insuinfo), None)


def parse_person(output: dict[str, Any]) -> Person:
    """【1101】 output ``baseinfo`` (object), ``insuinfo`` (list), ``idetinfo`` (list, often empty or absent)."""
    base = as_object(node(output, "baseinfo"), "baseinfo")
    if not text(base, "psn_no"):
        raise GatewayProtocolError("The person answer has no baseinfo.psn_no.", infno="1101")
    insu = tuple(Insurance(insutype=text(r, "insutype"),
                           balc=money(r["balc"]) if r.get("balc") not in (None, "") else None,
                           psn_type=text(r, "psn_type"), psn_insu_stas=text(r, "psn_insu_stas"),
                           insuplc_admdvs=text(r, "insuplc_admdvs"), emp_name=text(r, "emp_name"))
                 for r in as_rows(node(output, "insuinfo")))
    return Person(psn_no=text(base, "psn_no"), psn_cert_type=text(base, "psn_cert_type"), certno=text(base, "certno"),
                  psn_name=text(base, "psn_name"), gend=text(base, "gend"), brdy=text(base, "brdy")[:10],
                  age=text(base, "age"), insuinfo=insu, idetinfo=tuple(as_rows(node(output, "idetinfo"))))


# -- 5301 人员慢特病备案查询 -------------------------------------------------------------------------------------------
def filing_query_input(psn_no: str) -> dict[str, Any]:
    return {"data": {"psn_no": psn_no}}


@dataclass(frozen=True)
class FilingRecord:
    """A chronic/special-disease filing as the gateway answers it — the four fields it has (no drug, hospital,
    physicians, review state or hospital level: docs/gateway.md "What the gateway does not provide").
    ``enddate`` "" = open-ended."""
    opsp_dise_code: str
    opsp_dise_name: str
    begndate: str
    enddate: str


def parse_filings(output: dict[str, Any]) -> list[FilingRecord]:
    """【5301】 output ``feedetail`` (a list, or one object); empty, ``null`` or absent = no filing."""
    return [FilingRecord(opsp_dise_code=text(r, "opsp_dise_code"), opsp_dise_name=text(r, "opsp_dise_name"),
                         begndate=text(r, "begndate")[:10], enddate=text(r, "enddate")[:10])
            for r in as_rows(node(output, "feedetail"))]


# -- 5302 人员定点信息查询 ---------------------------------------------------------------------------------------------
def registrations_input(psn_no: str, biz_appy_type: str = "03") -> dict[str, Any]:
    return {"data": {"psn_no": psn_no, "biz_appy_type": biz_appy_type}}


@dataclass(frozen=True)
class Registration:
    insutype: str
    fixmedins_code: str
    fixmedins_name: str
    begndate: str
    enddate: str


def parse_registrations(output: dict[str, Any]) -> list[Registration]:
    """【5302】 output ``psnfixmedin``: institutions the person registered with (no physicians, no drugs)."""
    return [Registration(insutype=text(r, "insutype"), fixmedins_code=text(r, "fixmedins_code"),
                         fixmedins_name=text(r, "fixmedins_name"), begndate=text(r, "begndate")[:10],
                         enddate=text(r, "enddate")[:10]) for r in as_rows(node(output, "psnfixmedin"))]


# -- 5206 人员累计信息查询 ---------------------------------------------------------------------------------------------
def accumulations_input(psn_no: str, cum_ym: str = "") -> dict[str, Any]:
    return {"data": {"psn_no": psn_no, "cum_ym": cum_ym}}


@dataclass(frozen=True)
class Accumulation:
    """One year-to-date accumulator: ``cum_type_code`` is the province's code table (mapped in the gateway profile
    to deductible paid, fund paid, …); ``cum`` its amount."""
    insutype: str
    year: str
    cum_ym: str
    cum_type_code: str
    cum: Decimal


def parse_accumulations(output: dict[str, Any]) -> list[Accumulation]:
    """【5206】 output ``cuminfo`` rows."""
    return [Accumulation(insutype=text(r, "insutype"), year=text(r, "year"), cum_ym=text(r, "cum_ym"),
                         cum_type_code=text(r, "cum_type_code"), cum=money(r.get("cum")))
            for r in as_rows(node(output, "cuminfo"))]
