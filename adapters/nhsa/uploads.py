"""What the pharmacy reports after a sale (docs/reconciliation.md, "Uploads"): 【3505】商品销售 (one ``selinfo`` object
per message) or 【3505A】 (a batch in ``selinfoDetail[]``), 【3506】商品销售退货, 【7204】处方审核结果上传 and
【7206】处方核销.

A 3505 item is one sale line's packs of one batch (lot): one ``selinfo`` object whose ``drugtracinfo`` lists one code
per pack (the profile's ``[uploads] trace_form``: ``list``; ``object`` and ``single`` carry one code, so such an
item is one pack). 3506 returns an item as it was reported, pointing at the sale by ``medins_prod_sel_no``.
7204 carries the reviewing and the checking pharmacist; 7206 the dispensing result with one ``selinfo`` row per pack
(its ``drug_trac_codg`` holds one code). Nothing here reopens a prescription after a refund: the interface has no
such field.

Answers: 3505/3505A/3506 may carry ``output.result{retRslt, msgRslt}`` — ``retRslt`` "1" accepted, "0" refused by
the insurer with its reason in ``msgRslt`` (an answer with ``infcode`` 0 can still be a refusal); no ``result`` at
all means accepted. Everything here raises only ``GatewayProtocolError``.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from adapters.nhsa.errors import GatewayProtocolError
from adapters.nhsa.money import fen, money
from adapters.nhsa.profile import GatewayProfile
from adapters.nhsa.reading import as_rows, node, text

#: Fields kept as Decimal on the wire (16,6 prices, 16,4 quantities, 16,2 money); a stored message is revived with
#: them so the client writes them as the profile says (strings or numbers), never through a float.
NUMERIC = frozenset({"finl_trns_pric", "sel_retn_cnt", "sumamt", "fund_pay_sumamt", "psn_part_amt", "acct_pay",
                     "psn_cash_pay"})
#: Fields of a 3505 item that 3506 repeats for the return (the spec page's table, plus the codes).
RETURN_FIELDS = ("med_list_codg", "fixmedins_hilist_id", "fixmedins_hilist_name", "fixmedins_bchno", "setl_id",
                 "psn_no", "psn_cert_type", "certno", "psn_name", "manu_lotnum", "manu_date", "expy_end", "rx_flag",
                 "trdn_flag", "finl_trns_pric", "sel_retn_cnt")


@dataclass(frozen=True)
class Staff:
    """A pharmacist as the uploads name them: ``cert_type`` (01 居民身份证), ID number, name, practising licence."""
    name: str
    certno: str = ""
    cert_type: str = "01"
    prac_cert_no: str = ""


@dataclass(frozen=True)
class Batch:
    """What identifies the batch a pack comes from: lot (生产批号), production date, expiry, and the pharmacy's own
    batch serial (定点医药机构批次流水号; the lot when the pharmacy keeps none)."""
    manu_lotnum: str = ""
    manu_date: str = ""
    expy_end: str = ""
    fixmedins_bchno: str = ""


@dataclass(frozen=True)
class SaleItem:
    """One 3505 ``selinfo`` (docs/reconciliation.md lists each field's source)."""
    med_list_codg: str
    fixmedins_hilist_id: str
    fixmedins_hilist_name: str
    batch: Batch
    sel_retn_cnt: Decimal
    finl_trns_pric: Decimal
    codes: tuple[str, ...]
    trdn_flag: str
    rtal_docno: str                  # the retail document: the sale's id
    mdtrt_sn: str
    sel_retn_time: str
    sel_retn_opter_name: str
    pharmacist: Staff | None
    prsc_dr_name: str = ""
    rxno: str = ""
    rx_flag: str = "1"               # 处方药: every dual-channel drug is a prescription drug
    rx_circ_flag: str = "0"
    setl_id: str = ""
    insured: bool = False            # part of the insurer's settlement: mdtrt_setl_type 1, hi_feesetl_type 1
    psn_no: str = ""
    psn_cert_type: str = "01"
    certno: str = ""
    psn_name: str = ""
    memo: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_wire(self, trace_form: str = "list", *, personal: Iterable[str] = ()) -> dict[str, Any]:
        """The ``selinfo`` object. ``personal``: the patient's ID number and name are sent only where the profile
        requires them (``certno``, ``psn_name``): the insurer knows the patient by ``psn_no``."""
        phar = self.pharmacist or Staff("")
        item: dict[str, Any] = {
            "med_list_codg": self.med_list_codg, "fixmedins_hilist_id": self.fixmedins_hilist_id,
            "fixmedins_hilist_name": self.fixmedins_hilist_name, "fixmedins_bchno": self.batch.fixmedins_bchno,
            "prsc_dr_name": self.prsc_dr_name, "phar_cert_type": phar.cert_type if phar.name else "",
            "phar_certno": phar.certno, "phar_name": phar.name, "phar_prac_cert_no": phar.prac_cert_no,
            "hi_feesetl_type": "1" if self.insured else "0", "setl_id": self.setl_id if self.insured else "",
            "mdtrt_sn": self.mdtrt_sn, "psn_no": self.psn_no, "psn_cert_type": self.psn_cert_type,
            "manu_lotnum": self.batch.manu_lotnum, "manu_date": self.batch.manu_date,
            "expy_end": self.batch.expy_end, "rx_flag": self.rx_flag, "trdn_flag": self.trdn_flag,
            "finl_trns_pric": fen(self.finl_trns_pric),
            "rxno": self.rxno, "rx_circ_flag": self.rx_circ_flag, "rtal_docno": self.rtal_docno,
            "sel_retn_cnt": self.sel_retn_cnt.normalize() + 0, "sel_retn_time": self.sel_retn_time,
            "sel_retn_opter_name": self.sel_retn_opter_name, "memo": self.memo,
            "mdtrt_setl_type": "1" if self.insured else "2", **self.extra}
        wanted = set(personal)
        if "certno" in wanted:
            item["certno"] = self.certno
        if "psn_name" in wanted:
            item["psn_name"] = self.psn_name
        item.update(trace_node(self.codes, trace_form))
        return item


def trace_node(codes: Iterable[str], trace_form: str) -> dict[str, Any]:
    """The codes of one item as the province's interface version takes them: ``drugtracinfo`` list (one element
    per pack), one ``drugtracinfo`` object, or the older line-level ``drug_trac_codg``."""
    codes = list(codes)
    if trace_form == "list":
        return {"drugtracinfo": [{"drug_trac_codg": c} for c in codes]}
    if len(codes) > 1:
        raise ValueError(f"trace_form {trace_form!r} carries one code per item, not {len(codes)}")
    code = codes[0] if codes else ""
    if trace_form == "object":
        return {"drugtracinfo": {"drug_trac_codg": code}}
    return {"drug_trac_codg": code}


def one_code_per_item(trace_form: str) -> bool:
    return trace_form != "list"


def sale_upload_input(profile: GatewayProfile, items: list[dict[str, Any]]) -> dict[str, Any]:
    """3505: exactly one ``selinfo`` object; 3505A (the profile's ``sale_infno``): ``selinfoDetail`` with up to
    ``batch_size`` items."""
    if profile.uploads.sale_infno == "3505A":
        if not 1 <= len(items) <= profile.uploads.batch_size:
            raise ValueError(f"a 3505A batch holds 1..{profile.uploads.batch_size} items, not {len(items)}")
        spec = profile.message("3505A")
        return {spec.node if spec else "selinfoDetail": [dict(i) for i in items]}
    if len(items) != 1:
        raise ValueError(f"a 3505 message carries one selinfo object, not {len(items)}")
    spec = profile.message("3505")
    return {spec.node if spec else "selinfo": dict(items[0])}


def return_item(sold: dict[str, Any], *, sel_retn_time: str, sel_retn_opter_name: str, trace_form: str,
                setl_id: str = "", memo: str = "") -> dict[str, Any]:
    """A 3506 ``selinfo``: the item as 3505 reported it (same lot, count, price and codes), returned at
    ``sel_retn_time``; ``medins_prod_sel_no`` names the original sale document."""
    item = {k: sold[k] for k in RETURN_FIELDS if k in sold}
    item.update(sel_retn_time=sel_retn_time, sel_retn_opter_name=sel_retn_opter_name, memo=memo,
                medins_prod_sel_no=str(sold.get("rtal_docno") or ""))
    if setl_id:
        item["setl_id"] = setl_id
    item.update(trace_node(item_codes(sold), trace_form))
    return item


def sale_return_input(item: dict[str, Any]) -> dict[str, Any]:
    return {"selinfo": dict(item)}


def item_codes(item: dict[str, Any]) -> list[str]:
    """The codes an item carries, whatever its form (``drugtracinfo`` list or object, or ``drug_trac_codg``)."""
    codes = [str(t.get("drug_trac_codg")) for t in as_rows(item.get("drugtracinfo")) if t.get("drug_trac_codg")]
    if not codes and item.get("drug_trac_codg"):
        codes = [str(item["drug_trac_codg"])]
    return codes


def revive(value: Any) -> Any:
    """A message read back from the ledger's JSON with its numeric fields as Decimal again (see ``NUMERIC``)."""
    if isinstance(value, dict):
        return {k: (Decimal(str(v)) if k in NUMERIC and isinstance(v, (str, int)) and str(v).strip() else revive(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [revive(v) for v in value]
    return value


# -- the answer --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class UploadResult:
    """An upload's business result: ``accepted``, and the insurer's words (``msgRslt``) either way."""
    accepted: bool
    message: str = ""


def parse_upload_result(output: dict[str, Any] | None, name: str = "result") -> UploadResult:
    """``output.result{retRslt, msgRslt}`` (keys matched case-insensitively): "1" accepted, "0" refused; no output
    or no ``result`` means accepted (many gateways answer an upload with ``output`` null). A ``result`` list is
    refused when any element is. Any other ``retRslt`` cannot be read: the outcome is unknown (the message is sent
    again under its msgid)."""
    result = node(output or {}, name)
    if result is None or result == "":
        return UploadResult(True)
    rows = as_rows(result)
    if not rows:
        return UploadResult(True)
    refused = []
    for row in rows:
        code = text(row, "retrslt") or text(row, "retRslt")
        message = text(row, "msgrslt") or text(row, "msgRslt")
        if code == "0":
            refused.append(message or "医保中心拒绝（retRslt 0）")
        elif code not in ("1", ""):
            raise GatewayProtocolError(f"The upload result's retRslt {code[:10]!r} is neither 1 nor 0.")
    if refused:
        return UploadResult(False, "；".join(refused)[:500])
    return UploadResult(True, text(rows[0], "msgrslt"))


# -- 7204 / 7206 -------------------------------------------------------------------------------------------------------
def rx_review_input(*, hi_rxno: str, pharmacist: Staff, checker: Staff, rx_chk_time: str,
                    rx_chk_stas_codg: str = "1", rx_chk_opnn: str = "处方审核通过") -> dict[str, Any]:
    """【7204】 the review: the reviewing pharmacist (审方药师) and the checking pharmacist (复核药师)."""
    return {"data": {"hi_rxno": hi_rxno, "phar_cert_type": pharmacist.cert_type if pharmacist.name else "",
                     "phar_certno": pharmacist.certno, "phar_name": pharmacist.name,
                     "phar_prac_cert_no": pharmacist.prac_cert_no, "phar_sign_info": "",
                     "rchk_phar_cert_type": checker.cert_type if checker.name else "",
                     "rchk_phar_certno": checker.certno, "rchk_phar_name": checker.name,
                     "rx_chk_opnn": rx_chk_opnn, "rx_chk_stas_codg": rx_chk_stas_codg, "rx_chk_time": rx_chk_time,
                     "rx_chk_file": ""}}


@dataclass(frozen=True)
class DispensedPack:
    """One 7206 ``selinfo`` row: one pack (its ``drug_trac_codg`` holds one code) with its batch."""
    med_list_codg: str
    fixmedins_hilist_id: str
    fixmedins_hilist_name: str
    drug_genname: str
    drug_prodname: str
    drug_dosform: str
    drug_spec: str
    prdr_name: str
    drug_cnt_unit: str
    batch: Batch
    trdn_flag: str
    finl_trns_pric: Decimal
    sel_retn_cnt: Decimal
    code: str
    rx_flag: str = "1"

    def to_wire(self) -> dict[str, Any]:
        return {"med_list_codg": self.med_list_codg, "fixmedins_hilist_id": self.fixmedins_hilist_id,
                "fixmedins_hilist_name": self.fixmedins_hilist_name, "drug_genname": self.drug_genname,
                "drug_prodname": self.drug_prodname, "drug_dosform": self.drug_dosform,
                "drug_spec": self.drug_spec, "aprvno": "", "manu_lotnum": self.batch.manu_lotnum,
                "prdr_name": self.prdr_name, "manu_date": self.batch.manu_date, "expy_end": self.batch.expy_end,
                "rx_flag": self.rx_flag, "trdn_flag": self.trdn_flag, "finl_trns_pric": fen(self.finl_trns_pric),
                "bchno": self.batch.fixmedins_bchno, "drug_trac_codg": self.code, "drug_prod_barc": "",
                "shelf_posi": "", "sel_retn_cnt": self.sel_retn_cnt.normalize() + 0,
                "drug_cnt_unit": self.drug_cnt_unit, "sumamt": fen(self.finl_trns_pric * self.sel_retn_cnt)}


def dispense_input(*, hi_rxno: str, pharmacist: Staff, checker: Staff, download_ide_code: str, setl_id: str,
                   setl_time: str, sel_retn_time: str, amounts: dict[str, Decimal], packs: Iterable[DispensedPack],
                   insured: bool) -> dict[str, Any]:
    """【7206】 the dispensing result: who dispensed (配药人: the reviewing pharmacist) and who checked and handed
    over (核对发药人: the checking pharmacist), how it was paid, and the packs. ``download_ide_code`` is the
    ``auth_rxno`` (or ``epc_token``) the prescription was downloaded with. ``pro__cert_type`` is spelled as the
    interface's table spells it."""
    if not insured:
        pay_mode = "1"                                        # 自费
    elif amounts.get("psn_cash_pay", Decimal(0)) == 0:
        pay_mode = "2"                                        # 医保
    else:
        pay_mode = "3"                                        # 自费+医保
    data = {"hi_rxno": hi_rxno, "phar_cert_type": pharmacist.cert_type if pharmacist.name else "",
            "phar_certno": pharmacist.certno, "phar_name": pharmacist.name,
            "phar_prac_cert_no": pharmacist.prac_cert_no,
            "dspeer_cert_type": pharmacist.cert_type if pharmacist.name else "", "dspeer_certno": pharmacist.certno,
            "dspeer_name": pharmacist.name, "pro__cert_type": checker.cert_type if checker.name else "",
            "pro_certno": checker.certno, "pro_name": checker.name, "hi_feesetl_type": "1" if insured else "0",
            "setl_id": setl_id, "sel_retn_time": sel_retn_time, "memo": "", "download_ide_code": download_ide_code,
            "payMode": pay_mode, "setl_time": setl_time,
            **{k: fen(amounts.get(k, Decimal(0))) for k in ("fund_pay_sumamt", "psn_part_amt", "acct_pay",
                                                           "psn_cash_pay")}}
    return {"data": data, "selinfo": [p.to_wire() for p in packs]}


def amounts_of(values: dict[str, Any]) -> dict[str, Decimal]:
    """The four 7206 amounts from a kept settlement (strings) as Decimal; absent ones are 0."""
    return {k: money(values.get(k)) for k in ("fund_pay_sumamt", "psn_part_amt", "acct_pay", "psn_cash_pay")}
