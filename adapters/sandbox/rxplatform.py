"""Sandbox handlers for the electronic-prescription circulation platform, pharmacy side (docs/gateway.md 7201–7206).

7201 parses an e-voucher QR, 7202 lists a person's circulated prescriptions (each with a one-time ``auth_rxno``),
7203 downloads one, 7204 takes the pharmacist's review, 7206 the dispensing result — which is what marks a
prescription dispensed (a 2102 alone does not). After a refund (2103) the plug-in sends 7206 with the sandbox field
``rx_stas_codg: "cancel"`` to reopen the prescription.
"""
from __future__ import annotations

from typing import Any

from plugin.eligibility import Prescription, last_valid_day

from adapters.sandbox.books import Books, Person, Processed
from adapters.sandbox.messages import Message, Refusal, handles, need, text
from adapters.sandbox.queries import NOT_FOUND, identify

STATUS_ZH = {"dispensed": "已调剂", "revoked": "已撤销", "expired": "已过期"}


@handles("7201")
def parse_qr(books: Books, msg: Message) -> dict[str, Any]:
    need(msg.data, "epc_qrcd")
    qr = text(msg.data, "epc_qrcd")
    person = next((p for p in books.persons.values() if p.ecard_token and p.ecard_token in qr), None)
    if person is None:
        raise Refusal("医保电子凭证二维码无效或已过期")
    return {"data": {"epc_token": person.ecard_token, "cert_type": "01", "name": person.psn_name,
                     "certno": person.certno, "insuplc_admdvs": person.insuplc_admdvs}}


def _auth(books: Books, hi_rxno: str) -> str:
    auth = f"AUTH{books.now().strftime('%Y%m%d%H%M%S')}{books.next_serial():06d}"
    books.auth_rxnos[auth] = hi_rxno
    return auth


def _summary(books: Books, rx: Prescription) -> dict[str, Any]:
    extra = books.rx_extra.get(rx.hi_rxno, {})
    end = last_valid_day(rx)
    return {"hi_rxno": rx.hi_rxno, "diag_name": extra.get("diag_name", ""), "fixmedins_code": rx.institution_code,
            "fixmedins_name": books.institutions.get(rx.institution_code, ""),
            "prsc_time": rx.issued_at.strftime("%Y-%m-%d %H:%M:%S"),
            "valid_end_time": f"{end.isoformat()} 23:59:59", "rx_stas_codg": books.rx_status(rx)}


@handles("7202")
def query(books: Books, msg: Message) -> dict[str, Any]:
    person = identify(books, msg.data)
    rxs = sorted((rx for rx in books.prescriptions.values() if rx.psn_no == person.psn_no),
                 key=lambda rx: rx.issued_at, reverse=True)
    return {"rxlist": [{"auth_rxno": _auth(books, rx.hi_rxno), **_summary(books, rx)} for rx in rxs]}


def _find(books: Books, data: dict[str, Any]) -> Prescription:
    hi_rxno, auth, token = text(data, "hi_rxno"), text(data, "auth_rxno"), text(data, "epc_token")
    if not (hi_rxno or auth or token):
        raise Refusal("处方编号[hi_rxno]、授权编号[auth_rxno]或电子凭证令牌[epc_token]至少填写一项")
    if auth and not hi_rxno:
        hi_rxno = books.auth_rxnos.get(auth, "")
        if not hi_rxno:
            raise Refusal("处方授权编号[auth_rxno]无效")
    if hi_rxno:
        rx = books.prescriptions.get(hi_rxno)
        if rx is None:
            raise Refusal(f"未查询到处方[{hi_rxno}]")
        return rx
    person: Person | None = books.find_person("01", token)
    if person is None:
        raise Refusal(NOT_FOUND)
    valid = [rx for rx in books.prescriptions.values()
             if rx.psn_no == person.psn_no and books.rx_status(rx) == "valid"]
    if not valid:
        raise Refusal("该患者没有待取药的有效处方")
    return max(valid, key=lambda rx: rx.issued_at)


@handles("7203")
def download(books: Books, msg: Message) -> dict[str, Any]:
    rx = _find(books, msg.data)
    extra = books.rx_extra.get(rx.hi_rxno, {})
    lines = []
    for line in rx.lines:
        entry = books.catalog.get(line.med_list_codg)
        lines.append({"med_list_codg": line.med_list_codg, "drug_genname": entry.generic_name if entry else "",
                      "drug_prodname": entry.drug_name if entry else "", "drug_spec": entry.spec if entry else "",
                      "drug_cnt": str(line.qty), "drug_cnt_unit": extra.get("unit", "盒")})
    out = _summary(books, rx)
    out.update({"valid_days": rx.valid_days, "rxdrugdetail": lines,
                "mdtrtinfo": {"psn_no": rx.psn_no, "med_type": "41", "prsc_dr_code": rx.physician_code,
                              "prsc_dr_name": books.physicians.get(rx.physician_code, "")},
                "diseinfo": [{"dise_name": extra.get("diag_name", "")}] if extra.get("diag_name") else []})
    return {"data": out}


@handles("7204")
def review(books: Books, msg: Message) -> dict[str, Any]:
    need(msg.data, "hi_rxno", "rx_chk_stas_codg")
    rx = books.prescriptions.get(text(msg.data, "hi_rxno"))
    if rx is None:
        raise Refusal(f"未查询到处方[{text(msg.data, 'hi_rxno')}]")
    books.reviews.append({"msgid": msg.msgid, **{k: text(msg.data, k) for k in
                                                 ("hi_rxno", "phar_code", "phar_name", "rx_chk_stas_codg",
                                                  "rx_chk_opnn", "rx_chk_time")}})
    output = {"data": {"hi_rxno": rx.hi_rxno, "rslt": "1", "rslt_dscr": "审核结果已接收"}}
    books.processed[msg.msgid] = Processed(msg.msgid, "7204", output)
    return output


@handles("7206")
def dispensed(books: Books, msg: Message) -> dict[str, Any]:
    need(msg.data, "hi_rxno")
    hi_rxno = text(msg.data, "hi_rxno")
    rx = books.prescriptions.get(hi_rxno)
    if rx is None:
        raise Refusal(f"未查询到处方[{hi_rxno}]")
    status = books.rx_status(rx)
    if text(msg.data, "rx_stas_codg") == "cancel":
        if status != "dispensed":
            raise Refusal(f"处方[{hi_rxno}]未调剂，无需撤销调剂")
        books.set_rx_status(hi_rxno, "valid")
        result = "处方已恢复为有效"
    else:
        if status != "valid":
            raise Refusal(f"处方[{hi_rxno}]{STATUS_ZH.get(status, status)}，不能再次调剂")
        need(msg.data, "setl_id")
        setl = books.settlements.get(text(msg.data, "setl_id"))
        if setl is None or setl.state != "settled":
            raise Refusal(f"结算记录[{text(msg.data, 'setl_id')}]不存在或已撤销")
        books.set_rx_status(hi_rxno, "dispensed")
        result = "调剂结果已接收"
    output = {"data": {"hi_rxno": hi_rxno, "rx_stas_codg": books.rx_status(books.prescriptions[hi_rxno]),
                       "rslt_dscr": result}}
    books.processed[msg.msgid] = Processed(msg.msgid, "7206", output)
    return output


