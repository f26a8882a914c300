"""Typed inputs and outputs per transaction number (docs/gateway.md "Transactions", "Electronic prescription circulation").

Builders return the ``input`` dict of the envelope; parsers take ``Answer.output``. Field names stay exactly as the
insurer spells them so the code can be held against the specification. Money arrives as JSON numbers or strings
and is parsed via ``str()`` into Decimal (a float never touches money). Fields marked *(sandbox)* in docs/gateway.md are
read when present and default otherwise, so a real gateway that lacks them still parses.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any, Iterable

from adapters.nhsa.errors import GatewayProtocolError
from adapters.nhsa.money import SETL_MONEY, count, fen, money, wire

def _node(output: dict[str, Any], *names: str) -> Any:
    """Outputs nest differently between provinces ({"setlinfo": …} vs {"data": {"setlinfo": …}})."""
    for source in (output, output.get("data") if isinstance(output.get("data"), dict) else {}):
        for name in names:
            if name in source and source[name] is not None:
                return source[name]
    return None


def as_rows(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if isinstance(value, dict):
        return [value]
    if not isinstance(value, list):
        raise GatewayProtocolError(f"Expected a list in the insurer's answer, got {type(value).__name__}.")
    return [r for r in value if isinstance(r, dict)]


def _s(d: dict[str, Any], key: str) -> str:
    if not isinstance(d, dict):
        raise GatewayProtocolError(f"Expected an object in the insurer's answer, got {type(d).__name__}.")
    value = d.get(key)
    if isinstance(value, (dict, list)):
        raise GatewayProtocolError(f"Expected text for {key!r} in the insurer's answer.")
    return "" if value is None else str(value)


# -- 9001 签到 -------------------------------------------------------------------------------------------------------
def sign_in_input(opter_no: str, mac: str = "", ip: str = "") -> dict[str, Any]:
    return {"signIn": {"opter_no": opter_no, "mac": mac, "ip": ip}}


@dataclass(frozen=True)
class SignIn:
    sign_no: str
    sign_time: str


def parse_sign_in(output: dict[str, Any]) -> SignIn:
    info = _node(output, "signinoutb") or output
    return SignIn(sign_no=_s(info, "sign_no"), sign_time=_s(info, "sign_time"))


# -- 1101 人员信息获取 -------------------------------------------------------------------------------------------------
def person_info_input(cert_type: str, cert_no: str, card_sn: str = "", psn_name: str = "",
                      begntime: str = "") -> dict[str, Any]:
    """cert_type 01 e-voucher token, 02 ID number (also sent as certno), 03 social-security card (card_sn)."""
    data = {"mdtrt_cert_type": cert_type, "mdtrt_cert_no": cert_no, "card_sn": card_sn, "begntime": begntime,
            "psn_cert_type": "01" if cert_type == "02" else "", "certno": cert_no if cert_type == "02" else "",
            "psn_name": psn_name}
    return {"data": data}


@dataclass(frozen=True)
class Insurance:
    insutype: str
    balc: Decimal
    psn_type: str
    psn_insu_stas: str
    insuplc_admdvs: str


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
        """The active insurance (psn_insu_stas 1), else the first."""
        active = [i for i in self.insuinfo if i.psn_insu_stas in ("1", "")]
        return (active or list(self.insuinfo) or [None])[0]


def parse_person(output: dict[str, Any]) -> Person:
    base = _node(output, "baseinfo")
    if not isinstance(base, dict) or not base.get("psn_no"):
        raise GatewayProtocolError("The person answer has no baseinfo.psn_no.", infno="1101")
    insu = tuple(Insurance(insutype=_s(r, "insutype"), balc=money(r.get("balc")), psn_type=_s(r, "psn_type"),
                           psn_insu_stas=_s(r, "psn_insu_stas"), insuplc_admdvs=_s(r, "insuplc_admdvs"))
                 for r in as_rows(_node(output, "insuinfo")))
    return Person(psn_no=_s(base, "psn_no"), psn_cert_type=_s(base, "psn_cert_type"), certno=_s(base, "certno"),
                  psn_name=_s(base, "psn_name"), gend=_s(base, "gend"), brdy=_s(base, "brdy"), age=_s(base, "age"),
                  insuinfo=insu, idetinfo=tuple(as_rows(_node(output, "idetinfo"))))


# -- 5301 备案查询 (dual-channel fields: sandbox) -----------------------------------------------------------------------
def filing_query_input(psn_no: str) -> dict[str, Any]:
    return {"data": {"psn_no": psn_no}}


@dataclass(frozen=True)
class FilingRecord:
    opsp_dise_code: str
    opsp_dise_name: str
    begndate: str
    enddate: str
    drug_genname: str = ""
    fixmedins_code: str = ""
    fixmedins_name: str = ""
    hosp_lv: str = ""
    dr_codes: tuple[str, ...] = ()
    review_stas: str = "none"
    cross_region_approved: bool = False


def parse_filings(output: dict[str, Any]) -> list[FilingRecord]:
    out = []
    for r in as_rows(_node(output, "feedetail")):
        approved = r.get("cross_region_approved")
        out.append(FilingRecord(
            opsp_dise_code=_s(r, "opsp_dise_code"), opsp_dise_name=_s(r, "opsp_dise_name"),
            begndate=_s(r, "begndate"), enddate=_s(r, "enddate"), drug_genname=_s(r, "drug_genname"),
            fixmedins_code=_s(r, "fixmedins_code"), fixmedins_name=_s(r, "fixmedins_name"),
            hosp_lv=_s(r, "hosp_lv"), dr_codes=tuple(str(c) for c in (r.get("dr_codes") or [])),
            review_stas=_s(r, "review_stas") or "none",
            cross_region_approved=approved in (True, 1, "1", "true")))
    return out


# -- 1312 目录查询 (dual-channel fields: sandbox) -----------------------------------------------------------------------
def catalog_query_input(page_num: int = 1, page_size: int = 100, *, hilist_code: str = "", insu_admdvs: str = "",
                        updt_time: str = "2000-01-01 00:00:00") -> dict[str, Any]:
    return {"data": {"hilist_code": hilist_code, "insu_admdvs": insu_admdvs, "updt_time": updt_time,
                     "page_num": page_num, "page_size": page_size}}


@dataclass(frozen=True)
class CatalogRow:
    hilist_code: str
    hilist_name: str
    drug_genname: str
    spec: str
    dual_channel_category: str
    payment_standard: Decimal
    begndate: str
    enddate: str
    agreement_end: str
    transition_end: str
    trace_prefixes: tuple[str, ...]
    gtins: tuple[str, ...]
    split_units: int | None


@dataclass(frozen=True)
class CatalogPage:
    rows: list[CatalogRow]
    page_num: int
    page_size: int
    record_counts: int


def parse_catalog(output: dict[str, Any]) -> CatalogPage:
    rows = []
    for r in as_rows(output.get("data") if isinstance(output.get("data"), list) else _node(output, "list")):
        rows.append(CatalogRow(
            hilist_code=_s(r, "hilist_code"), hilist_name=_s(r, "hilist_name"), drug_genname=_s(r, "drug_genname"),
            spec=_s(r, "spec"), dual_channel_category=_s(r, "dual_channel_category"),
            payment_standard=money(r.get("payment_standard")), begndate=_s(r, "begndate"),
            enddate=_s(r, "enddate"), agreement_end=_s(r, "agreement_end"), transition_end=_s(r, "transition_end"),
            trace_prefixes=tuple(str(p) for p in r.get("trace_prefixes") or []),
            gtins=tuple(str(g) for g in r.get("gtins") or []),
            split_units=count(r.get("split_units")) or None))
    return CatalogPage(rows=rows, page_num=count(output.get("pageNum"), 1),
                       page_size=count(output.get("pageSize")) or len(rows) or 1,
                       record_counts=count(output.get("recordCounts"), len(rows)))


# -- 2101 / 2102 预结算 / 结算 ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DrugLine:
    """One ``drugdetail`` item. ``fulamt_ownpay_flag``/``donated_flag`` are sandbox fields: the pharmacist
    confirmed the line as wholly self-paid / the pack was donated supply."""
    feedetl_sn: str
    med_list_codg: str
    cnt: Decimal
    pric: Decimal
    rxno: str = ""
    rx_circ_flag: str = "1"
    fee_ocur_time: str = ""
    medins_list_codg: str = ""
    bilg_dr_codg: str = ""
    bilg_dr_name: str = ""
    fulamt_ownpay_flag: bool = False
    donated_flag: bool = False

    @property
    def det_item_fee_sumamt(self) -> Decimal:
        return fen(self.pric * self.cnt)

    def to_wire(self) -> dict[str, Any]:
        return {"feedetl_sn": self.feedetl_sn, "rxno": self.rxno, "rx_circ_flag": self.rx_circ_flag,
                "fee_ocur_time": self.fee_ocur_time, "med_list_codg": self.med_list_codg,
                "medins_list_codg": self.medins_list_codg or self.med_list_codg,
                "det_item_fee_sumamt": wire(self.det_item_fee_sumamt), "cnt": str(self.cnt),
                "pric": wire(self.pric), "bilg_dr_codg": self.bilg_dr_codg, "bilg_dr_name": self.bilg_dr_name,
                "fulamt_ownpay_flag": "1" if self.fulamt_ownpay_flag else "0",
                "donated_flag": "1" if self.donated_flag else "0"}


def settle_input(*, psn_no: str, mdtrt_cert_type: str, mdtrt_cert_no: str, insutype: str, acct_used: bool,
                 lines: Iterable[DrugLine], med_type: str = "41", psn_setlway: str = "01") -> dict[str, Any]:
    """Input of 2101 (pre-settlement) and 2102 (settlement); both take the same shape."""
    lines = list(lines)
    total = sum((line.det_item_fee_sumamt for line in lines), Decimal("0"))
    return {"data": {"psn_no": psn_no, "mdtrt_cert_type": mdtrt_cert_type, "mdtrt_cert_no": mdtrt_cert_no,
                     "insutype": insutype, "med_type": med_type, "medfee_sumamt": wire(total),
                     "acct_used_flag": "1" if acct_used else "0", "psn_setlway": psn_setlway},
            "drugdetail": [line.to_wire() for line in lines]}




@dataclass(frozen=True)
class SetlInfo:
    """A settlement as the insurer answered it (2101/2102 ``setlinfo``; 2103 answers its cancellation the same
    way). ``amounts`` holds every field of ``SETL_MONEY`` as a Decimal (absent fields as 0)."""
    setl_id: str
    mdtrt_id: str
    psn_no: str
    amounts: dict[str, Decimal]
    clr_optins: str = ""
    clr_way: str = ""
    clr_type: str = ""
    setl_time: str = ""
    setldetail: tuple[dict[str, Any], ...] = ()
    lines: tuple[dict[str, Any], ...] = ()

    def split(self) -> dict[str, str]:
        """The money fields as two-decimal strings (the API's split object, without lines)."""
        return {name: wire(self.amounts[name]) for name in SETL_MONEY}


def parse_setlinfo(output: dict[str, Any]) -> SetlInfo:
    info = _node(output, "setlinfo")
    if not isinstance(info, dict):
        raise GatewayProtocolError("The settlement answer has no setlinfo.")
    lines = []
    for r in as_rows(_node(output, "detlcutinfo")):
        row = dict(r)
        for key in ("det_item_fee_sumamt", "fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt",
                    "inscp_scp_amt", "pric", "cnt"):
            if key in row:
                row[key] = money(row[key])
        lines.append(row)
    return SetlInfo(
        setl_id=_s(info, "setl_id"), mdtrt_id=_s(info, "mdtrt_id"), psn_no=_s(info, "psn_no"),
        amounts={name: money(info.get(name)) for name in SETL_MONEY},
        clr_optins=_s(info, "clr_optins"), clr_way=_s(info, "clr_way"), clr_type=_s(info, "clr_type"),
        setl_time=_s(info, "setl_time"), setldetail=tuple(as_rows(_node(output, "setldetail"))), lines=tuple(lines))


# -- 2103 撤销, 2601 冲正 ------------------------------------------------------------------------------------------------
def cancel_input(setl_id: str, mdtrt_id: str, psn_no: str) -> dict[str, Any]:
    return {"data": {"setl_id": setl_id, "mdtrt_id": mdtrt_id, "psn_no": psn_no}}


def reversal_input(psn_no: str, omsgid: str, oinfno: str = "2102") -> dict[str, Any]:
    return {"data": {"psn_no": psn_no, "omsgid": omsgid, "oinfno": oinfno}}


@dataclass(frozen=True)
class Reversal:
    """*(sandbox)* ``found``: the original message had reached the insurer (and is now undone)."""
    omsgid: str
    oinfno: str
    found: bool
    setl_id: str
    dscr: str


def parse_reversal(output: dict[str, Any]) -> Reversal:
    d = _node(output, "data") if isinstance(output.get("data"), dict) else output
    return Reversal(omsgid=_s(d, "omsgid"), oinfno=_s(d, "oinfno"), found=_s(d, "rvs_rslt") == "1",
                    setl_id=_s(d, "setl_id"), dscr=_s(d, "rslt_dscr"))


# -- 3505 / 3506 商品销售 / 退货 -----------------------------------------------------------------------------------------
def sale_upload_input(lines: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """3505: each line carries the docs/gateway.md fields and ``drugtracinfo: [{drug_trac_codg}]`` (one per package)."""
    return {"selinfo": [dict(line) for line in lines]}


def sale_return_input(lines: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """3506: as 3505, each line also carrying ``medins_prod_sel_no`` (the original sale's document number)."""
    return {"selinfo": [dict(line) for line in lines]}


def trace_codes(line: dict[str, Any]) -> list[str]:
    """Codes of one 3505/3506 line, new spec (``drugtracinfo`` list) or old (one ``drug_trac_codg``)."""
    codes = [str(t.get("drug_trac_codg")) for t in as_rows(line.get("drugtracinfo")) if t.get("drug_trac_codg")]
    if not codes and line.get("drug_trac_codg"):
        codes = [str(line["drug_trac_codg"])]
    return codes


# -- 3201 / 3202 对账 --------------------------------------------------------------------------------------------------
def totals_reconciliation_input(*, stmt_begndate: str, stmt_enddate: str, medfee_sumamt: Decimal,
                                fund_pay_sumamt: Decimal, acct_pay: Decimal, fixmedins_setl_cnt: int,
                                insutype: str = "", clr_type: str = "41", setl_optins: str = "") -> dict[str, Any]:
    return {"data": {"insutype": insutype, "clr_type": clr_type, "setl_optins": setl_optins,
                     "stmt_begndate": stmt_begndate, "stmt_enddate": stmt_enddate,
                     "medfee_sumamt": wire(medfee_sumamt), "fund_pay_sumamt": wire(fund_pay_sumamt),
                     "acct_pay": wire(acct_pay), "fixmedins_setl_cnt": fixmedins_setl_cnt}}


def detail_reconciliation_input(*, stmt_begndate: str, stmt_enddate: str, rows: Iterable[dict[str, Any]],
                                setl_optins: str = "", file_qury_no: str = "") -> dict[str, Any]:
    """3202 with the detail rows inline *(sandbox; the real gateway takes them as a 9101 file)*. Each row:
    ``setl_id, mdtrt_id, psn_no, medfee_sumamt, fund_pay_sumamt, acct_pay, refd_setl_flag`` ("1" refunded)."""
    rows = [dict(r) for r in rows]
    live = [r for r in rows if str(r.get("refd_setl_flag", "0")) != "1"]
    total = lambda key: wire(sum((money(r.get(key)) for r in live), Decimal("0")))  # noqa: E731
    cash = sum((money(r.get("medfee_sumamt")) - money(r.get("fund_pay_sumamt")) - money(r.get("acct_pay"))
                for r in live), Decimal("0"))
    return {"data": {"setl_optins": setl_optins, "file_qury_no": file_qury_no, "stmt_begndate": stmt_begndate,
                     "stmt_enddate": stmt_enddate, "medfee_sumamt": total("medfee_sumamt"),
                     "fund_pay_sumamt": total("fund_pay_sumamt"), "cash_payamt": wire(cash),
                     "fixmedins_setl_cnt": len(live)},
            "detail": rows}


@dataclass(frozen=True)
class Reconciliation:
    stmt_rslt: str
    stmt_rslt_dscr: str
    differences: tuple[dict[str, Any], ...] = ()
    totals: dict[str, Any] = field(default_factory=dict)

    @property
    def balanced(self) -> bool:
        return self.stmt_rslt == "0"


def parse_reconciliation(output: dict[str, Any]) -> Reconciliation:
    d = output.get("data") if isinstance(output.get("data"), dict) else output
    return Reconciliation(stmt_rslt=_s(d, "stmt_rslt"), stmt_rslt_dscr=_s(d, "stmt_rslt_dscr"),
                          differences=tuple(as_rows(d.get("differences") or output.get("differences"))),
                          totals=dict(d.get("insurer_totals") or {}))


# -- 7201–7206 电子处方流转 --------------------------------------------------------------------------------------------
def qr_parse_input(epc_qrcd: str, opter: str, optins: str) -> dict[str, Any]:
    return {"data": {"epc_qrcd": epc_qrcd, "opter": opter, "optins": optins}}


@dataclass(frozen=True)
class EVoucher:
    epc_token: str
    cert_type: str
    name: str
    certno: str
    insuplc_admdvs: str


def parse_evoucher(output: dict[str, Any]) -> EVoucher:
    d = output.get("data") if isinstance(output.get("data"), dict) else output
    return EVoucher(**{f.name: _s(d, f.name) for f in fields(EVoucher)})


def rx_query_input(mdtrt_cert_type: str, mdtrt_cert_no: str, card_sn: str = "",
                   insuplc_admdvs: str = "") -> dict[str, Any]:
    return {"data": {"mdtrt_cert_type": mdtrt_cert_type, "mdtrt_cert_no": mdtrt_cert_no, "card_sn": card_sn,
                     "insuplc_admdvs": insuplc_admdvs}}


def parse_rx_list(output: dict[str, Any]) -> list[dict[str, Any]]:
    """7202 answer: one row per circulated prescription (``auth_rxno`` one-time, ``hi_rxno``, status...)."""
    return as_rows(_node(output, "rxlist"))


def rx_download_input(*, hi_rxno: str = "", auth_rxno: str = "", epc_token: str = "") -> dict[str, Any]:
    return {"data": {"hi_rxno": hi_rxno, "auth_rxno": auth_rxno, "epc_token": epc_token}}


@dataclass(frozen=True)
class RxLine:
    med_list_codg: str
    drug_genname: str
    drug_spec: str
    drug_cnt: Decimal
    drug_cnt_unit: str


@dataclass(frozen=True)
class Rx:
    hi_rxno: str
    fixmedins_code: str
    fixmedins_name: str
    prsc_time: str
    valid_days: int
    valid_end_time: str
    rx_stas_codg: str
    psn_no: str
    prsc_dr_code: str
    prsc_dr_name: str
    lines: tuple[RxLine, ...]


def parse_rx(output: dict[str, Any]) -> Rx:
    d = output.get("data") if isinstance(output.get("data"), dict) else output
    info = d.get("mdtrtinfo") or {}
    lines = tuple(RxLine(med_list_codg=_s(r, "med_list_codg"), drug_genname=_s(r, "drug_genname"),
                         drug_spec=_s(r, "drug_spec"), drug_cnt=money(r.get("drug_cnt")),
                         drug_cnt_unit=_s(r, "drug_cnt_unit")) for r in as_rows(d.get("rxdrugdetail")))
    return Rx(hi_rxno=_s(d, "hi_rxno"), fixmedins_code=_s(d, "fixmedins_code"),
              fixmedins_name=_s(d, "fixmedins_name"), prsc_time=_s(d, "prsc_time"),
              valid_days=count(d.get("valid_days")), valid_end_time=_s(d, "valid_end_time"),
              rx_stas_codg=_s(d, "rx_stas_codg"), psn_no=_s(info, "psn_no"),
              prsc_dr_code=_s(info, "prsc_dr_code"), prsc_dr_name=_s(info, "prsc_dr_name"), lines=lines)


def rx_review_input(*, hi_rxno: str, phar_code: str, phar_name: str, rx_chk_stas_codg: str = "1",
                    rx_chk_opnn: str = "", rx_chk_time: str = "") -> dict[str, Any]:
    return {"data": {"hi_rxno": hi_rxno, "phar_code": phar_code, "phar_name": phar_name,
                     "rx_chk_stas_codg": rx_chk_stas_codg, "rx_chk_opnn": rx_chk_opnn, "rx_chk_time": rx_chk_time}}


def dispense_result_input(*, hi_rxno: str, setl_id: str, setl: SetlInfo | None = None, setl_time: str = "",
                          selinfo: Iterable[dict[str, Any]] = (), pay_mode: str = "1",
                          cancel: bool = False) -> dict[str, Any]:
    """7206 dispensing result; ``cancel=True`` (sandbox ``rx_stas_codg: "cancel"``) reopens the prescription after
    a refund (2103) so the patient can buy again."""
    data: dict[str, Any] = {"hi_rxno": hi_rxno, "setl_id": setl_id, "payMode": pay_mode,
                            "setl_time": setl_time or (setl.setl_time if setl else "")}
    if setl is not None:
        for name in ("fund_pay_sumamt", "psn_part_amt", "acct_pay", "psn_cash_pay"):
            data[name] = wire(setl.amounts[name])
    if cancel:
        data["rx_stas_codg"] = "cancel"
    return {"data": data, "selinfo": [dict(s) for s in selinfo]}
