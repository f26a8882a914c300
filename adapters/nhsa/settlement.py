"""【2101】药店预结算, 【2102】药店结算, 【2103】药店结算撤销, 【2601】冲正 (docs/gateway.md 2101–2601).

2101 and 2102 take the same input: a head node (``druginfo`` in the pharmacy transactions; the profile names it)
and the line list ``drugdetail``. Only the fields the interface has are sent: there is no field that marks a line
as self-paid by choice or donated — a line the pharmacist sells wholly self-paid is not part of the insured
purchase at all and is not sent. Money goes out as Decimal (the client writes it as the profile says).

Answers: ``setlinfo`` (the settlement; 2101 has no ``setl_id``), ``setldetail`` (fund by fund) and ``detlcutinfo``
(per line, keyed by ``feedetl_sn``). A 2103 answer names the personal and cash parts ``psn_pay``/``cash_payamt``
in the interface tables but ``psn_part_amt``/``psn_cash_pay`` in captured hospital-side answers; both are read.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from collections.abc import Iterable

from adapters.nhsa.errors import GatewayProtocolError
from adapters.nhsa.money import LINE_MONEY, SETL_MONEY, fen, money, wire
from adapters.nhsa.profile import GatewayProfile
from adapters.nhsa.reading import as_object, as_rows, node, text

#: Names a cancellation answer may give the personal and cash parts, beside the settlement's own names.
_ALIASES = {"psn_part_amt": ("psn_part_amt", "psn_pay"), "psn_cash_pay": ("psn_cash_pay", "cash_payamt")}
_LINE_ALIASES = {"overlmt_selfpay": ("overlmt_selfpay", "overlmt_amt")}


@dataclass(frozen=True)
class DrugLine:
    """One ``drugdetail`` item of an insured purchase."""
    feedetl_sn: str
    med_list_codg: str
    cnt: Decimal
    pric: Decimal
    medins_list_codg: str = ""       # the pharmacy's own item code; the national code when it keeps none
    rxno: str = ""
    rx_circ_flag: str = "0"           # 外购处方标志: 1 = a circulated (external) prescription
    fee_ocur_time: str = ""
    bilg_dr_codg: str = ""
    bilg_dr_name: str = ""

    @property
    def det_item_fee_sumamt(self) -> Decimal:
        return fen(self.pric * self.cnt)

    def to_wire(self) -> dict[str, Any]:
        return {"feedetl_sn": self.feedetl_sn, "rxno": self.rxno, "rx_circ_flag": self.rx_circ_flag,
                "fee_ocur_time": self.fee_ocur_time, "med_list_codg": self.med_list_codg,
                "medins_list_codg": self.medins_list_codg or self.med_list_codg,
                "det_item_fee_sumamt": self.det_item_fee_sumamt, "cnt": self.cnt.normalize() + 0,
                "pric": fen(self.pric), "bilg_dr_codg": self.bilg_dr_codg, "bilg_dr_name": self.bilg_dr_name}


def settle_input(profile: GatewayProfile, *, psn_no: str, mdtrt_cert_type: str, mdtrt_cert_no: str, insutype: str,
                 acct_used: bool, lines: Iterable[DrugLine], begntime: str, dise_codg: str = "", dise_name: str = "",
                 invono: str | None = None) -> dict[str, Any]:
    """Input of 2101 (pre-settlement) and 2102 (settlement, with ``invono`` where the profile sends it)."""
    lines = list(lines)
    head: dict[str, Any] = {
        "psn_no": psn_no, "mdtrt_cert_type": mdtrt_cert_type, "mdtrt_cert_no": mdtrt_cert_no, "begntime": begntime,
        "medfee_sumamt": sum((line.det_item_fee_sumamt for line in lines), Decimal("0.00")), "insutype": insutype,
        "dise_codg": dise_codg, "dise_name": dise_name, "acct_used_flag": "1" if acct_used else "0",
        "med_type": profile.settle.med_type}
    if invono is not None and profile.settle.invoice_on_settle:
        head["invono"] = invono
    return {profile.settle.node: head, profile.settle.lines: [line.to_wire() for line in lines]}


@dataclass(frozen=True)
class SetlInfo:
    """A settlement as the insurer answered it (2101/2102 ``setlinfo``; a 2103 answers its cancellation the same
    way, amounts negative). ``amounts`` holds every field of ``SETL_MONEY`` (absent ones as 0); ``lines`` the
    ``detlcutinfo`` rows keyed by ``feedetl_sn`` with their money as Decimal."""
    setl_id: str
    mdtrt_id: str
    psn_no: str
    amounts: dict[str, Decimal]
    clr_optins: str = ""
    clr_way: str = ""
    clr_type: str = ""
    setl_time: str = ""
    medins_setl_id: str = ""
    insutype: str = ""
    setldetail: tuple[dict[str, Any], ...] = ()
    lines: tuple[dict[str, Any], ...] = ()
    derived: tuple[str, ...] = ()   # amounts the answer did not give, derived from fund + account + cash = total

    def split(self) -> dict[str, str]:
        """The money fields as two-decimal strings (the API's split object, without lines)."""
        return {name: wire(self.amounts[name]) for name in SETL_MONEY}

    def line(self, feedetl_sn: str) -> dict[str, Any] | None:
        return next((d for d in self.lines if d.get("feedetl_sn") == feedetl_sn), None)


def _amount(info: dict[str, Any], name: str) -> Decimal | None:
    for key in _ALIASES.get(name, (name,)):
        if info.get(key) not in (None, ""):
            return money(info[key])
    return None


def _amounts(info: dict[str, Any]) -> tuple[dict[str, Decimal], tuple[str, ...]]:
    """Every SETL_MONEY field; a missing personal or cash part is derived from the settlement's identities
    (total = fund + personal; personal = account + cash), never assumed zero; other missing fields are 0."""
    read = {name: _amount(info, name) for name in SETL_MONEY}
    derived = []
    total, fund, acct = read["medfee_sumamt"], read["fund_pay_sumamt"], read["acct_pay"]
    if read["psn_part_amt"] is None and total is not None and fund is not None:
        read["psn_part_amt"] = total - fund
        derived.append("psn_part_amt")
    if read["psn_cash_pay"] is None and read["psn_part_amt"] is not None and acct is not None:
        read["psn_cash_pay"] = read["psn_part_amt"] - acct
        derived.append("psn_cash_pay")
    return {k: (v if v is not None else Decimal("0")) for k, v in read.items()}, tuple(derived)


def parse_setlinfo(output: dict[str, Any], node_name: str = "setlinfo") -> SetlInfo:
    info = as_object(node(output, node_name), node_name)
    lines = []
    for r in as_rows(node(output, "detlcutinfo")):
        row: dict[str, Any] = {"feedetl_sn": text(r, "feedetl_sn")}
        for name in (*LINE_MONEY, "det_item_fee_sumamt", "pric", "cnt", "pric_uplmt_amt"):
            for key in _LINE_ALIASES.get(name, (name,)):
                if r.get(key) not in (None, ""):
                    row[name] = money(r[key])
                    break
        lines.append(row)
    if not any(info.get(k) not in (None, "") for k in ("medfee_sumamt", "fund_pay_sumamt")):
        raise GatewayProtocolError("The settlement answer's setlinfo has no amounts.")
    amounts, derived = _amounts(info)
    return SetlInfo(
        setl_id=text(info, "setl_id"), mdtrt_id=text(info, "mdtrt_id"), psn_no=text(info, "psn_no"),
        amounts=amounts, derived=derived, clr_optins=text(info, "clr_optins"),
        clr_way=text(info, "clr_way"), clr_type=text(info, "clr_type"), setl_time=text(info, "setl_time"),
        medins_setl_id=text(info, "medins_setl_id"), insutype=text(info, "insutype"),
        setldetail=tuple(as_rows(node(output, "setldetail"))), lines=tuple(lines))


def cancel_input(setl_id: str, mdtrt_id: str, psn_no: str) -> dict[str, Any]:
    """【2103】 input ``data{setl_id, mdtrt_id, psn_no}``."""
    return {"data": {"setl_id": setl_id, "mdtrt_id": mdtrt_id, "psn_no": psn_no}}


def reversal_input(psn_no: str, omsgid: str, oinfno: str) -> dict[str, Any]:
    """【2601】 input ``data{psn_no, omsgid, oinfno}``: the original message's msgid and infno (``oinfno`` may be a
    lettered number such as 2207A). The answer has no output."""
    return {"data": {"psn_no": psn_no, "omsgid": omsgid, "oinfno": oinfno}}
