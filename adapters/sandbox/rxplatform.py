"""Sandbox handlers for the electronic-prescription circulation platform, pharmacy side (docs/gateway.md 7201–7206,
the Shenzhen numbering through the gateway envelope).

- 7201 decodes an e-prescription QR value (``epc_qrcd``) into an ``epc_token`` and the patient's identity (flat
  under ``output``).
- 7202 lists, by 就诊凭证 and insured place, the patient's prescriptions that can still be dispensed, each with a
  fresh one-time ``auth_rxno``: one prescription is answered as ``output`` itself, several as ``output.data[]``,
  none as ``output.data`` ``[]``.
- 7203 downloads one by ``auth_rxno`` (single use: a second download is refused) or ``epc_token`` (from 7201, or a
  live e-voucher token: the patient's newest dispensable prescription), never by ``hi_rxno``; the answer holds the
  four sibling nodes ``data``, ``rxdrugdetail[]``, ``mdtrtinfo``, ``diseinfo[]``. A dispensed prescription is refused
  ("处方已核销（已取药）"), a revoked one too ("处方已撤销"); an expired one downloads and shows its
  ``valid_end_time``.
- 7204 records the review; 7206 marks the prescription dispensed (核销). Nothing reopens a dispensed prescription:
  the interface has no such field.
"""
from __future__ import annotations

import secrets
from typing import Any

from adapters.sandbox.books import Books, Person, Processed, RxRecord
from adapters.sandbox.messages import Message, Refusal, handles, need, text
from adapters.sandbox.persons import identify
from adapters.sandbox.prescriptions import DATA, DISE, DRUG, MDTRT, main_diagnosis, valid_end_time

STATUS_ZH = {"dispensed": "已核销（已取药）", "revoked": "已撤销", "expired": "已过期"}
AUTH_USED = "处方授权编号已使用或已失效"


def _admdvs(books: Books) -> str:
    return str(getattr(books.policy, "admdvs", "") or "000000")


@handles("7201")
def parse_qr(books: Books, msg: Message) -> dict[str, Any]:
    qr = text(msg.data, "epc_qrcd")
    rx = next((r for r in books.prescriptions.values() if qr in (r.epc_qrcd, r.hi_rxno)), None)
    if rx is None:
        raise Refusal("电子处方二维码[epc_qrcd]无效，未查询到处方")
    person = books.persons[rx.psn_no]
    token = f"EPC{_admdvs(books)}{secrets.token_hex(16)}"
    books.epc_tokens[token] = rx.hi_rxno
    return {"epc_token": token, "cert_type": person.baseinfo.get("psn_cert_type") or "01", "name": person.psn_name,
            "certno": person.certno, "insuplc_admdvs": person.insuplc_admdvs}


def _check_place(person: Person, admdvs: str) -> None:
    if not person.insured_in(admdvs):
        raise Refusal(f"参保地医保区划[insuplc_admdvs]{admdvs}与参保人信息不符")


def _summary(books: Books, rx: RxRecord) -> dict[str, Any]:
    auth = f"AUTH{_admdvs(books)}{books.now():%Y%m%d}{books.next_serial():06d}"
    books.auth_rxnos[auth] = rx.hi_rxno
    data, info = rx.body["data"], rx.body["mdtrtinfo"]
    return {"auth_rxno": auth, "diag_name": info.get("diag_name") or main_diagnosis(rx.body).get("diag_name"),
            "fixmedins_code": data.get("fixmedins_code"), "fixmedins_name": data.get("fixmedins_name"),
            "prsc_time": data.get("prsc_time"), "dept_name": info.get("prsc_dept_name"),
            "valid_end_time": valid_end_time(rx)}


@handles("7202")
def query(books: Books, msg: Message) -> dict[str, Any]:
    person = identify(books, msg.data)
    _check_place(person, text(msg.data, "insuplc_admdvs"))
    listed = sorted((rx for rx in books.prescriptions.values()
                     if rx.psn_no == person.psn_no and books.rx_status(rx) == "valid"),
                    key=lambda rx: rx.rule.issued_at, reverse=True)
    rows = [_summary(books, rx) for rx in listed]
    return rows[0] if len(rows) == 1 else {"data": rows}


def _find(books: Books, data: dict[str, Any]) -> RxRecord:
    auth, token = text(data, "auth_rxno"), text(data, "epc_token")
    if auth:
        hi_rxno = books.auth_rxnos.pop(auth, "")
        if not hi_rxno:
            raise Refusal(AUTH_USED)
        return books.prescriptions[hi_rxno]
    hi_rxno = books.epc_tokens.get(token, "")
    if hi_rxno:
        return books.prescriptions[hi_rxno]
    person = books.person_by_token(token)
    if person is None:
        raise Refusal("电子处方令牌[epc_token]无效或已失效")
    ready = [rx for rx in books.prescriptions.values() if rx.psn_no == person.psn_no and books.rx_status(rx) == "valid"]
    if not ready:
        raise Refusal("未查询到该参保人可取药的电子处方")
    return max(ready, key=lambda rx: rx.rule.issued_at)


@handles("7203")
def download(books: Books, msg: Message) -> dict[str, Any]:
    rx = _find(books, msg.data)
    _check_place(books.persons[rx.psn_no], text(msg.data, "insuplc_admdvs"))
    status = books.rx_status(rx)
    if status in ("dispensed", "revoked"):
        raise Refusal(f"处方{STATUS_ZH[status]}")
    body = rx.body
    return {"data": {k: body["data"].get(k) for k in DATA},
            "rxdrugdetail": [{k: row.get(k) for k in DRUG} for row in body["rxdrugdetail"]],
            "mdtrtinfo": {k: body["mdtrtinfo"].get(k) for k in MDTRT},
            "diseinfo": [{k: row.get(k) for k in DISE} for row in body["diseinfo"]]}


# -- 7204 / 7206: first-wave behaviour, kept working until their rebuild ---------------------------------------------
@handles("7204")
def review(books: Books, msg: Message) -> dict[str, Any] | None:
    need(msg.data, "hi_rxno", "rx_chk_stas_codg")
    rx = books.prescriptions.get(text(msg.data, "hi_rxno"))
    if rx is None:
        raise Refusal(f"未查询到处方[{text(msg.data, 'hi_rxno')}]")
    books.reviews.append({"msgid": msg.msgid, **{k: text(msg.data, k) for k in
                                                 ("hi_rxno", "phar_name", "phar_prac_cert_no", "rchk_phar_name",
                                                  "rx_chk_stas_codg", "rx_chk_opnn", "rx_chk_time")}})
    books.processed[msg.msgid] = Processed(msg.msgid, "7204", None)
    return None


@handles("7206")
def dispensed(books: Books, msg: Message) -> dict[str, Any] | None:
    need(msg.data, "hi_rxno")
    hi_rxno = text(msg.data, "hi_rxno")
    rx = books.prescriptions.get(hi_rxno)
    if rx is None:
        raise Refusal(f"未查询到处方[{hi_rxno}]")
    status = books.rx_status(rx)
    # the interface has no field that reopens a prescription: a dispensed one stays dispensed (a refund does not
    # reopen it; docs/reconciliation.md says what the pharmacist does)
    if status != "valid":
        raise Refusal(f"处方[{hi_rxno}]{STATUS_ZH.get(status, status)}，不能再次核销")
    setl_id = text(msg.data, "setl_id")
    setl = books.settlements.get(setl_id)
    if setl_id and (setl is None or setl.state != "settled"):
        raise Refusal(f"结算记录[{setl_id}]不存在或已撤销")
    rx.status = "dispensed"
    books.processed[msg.msgid] = Processed(msg.msgid, "7206", None)
    return None
